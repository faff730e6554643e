"""Round trips on real files: read -> train briefly -> write -> validate -> read back; the source never changes."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest

import nwb_sae
from nwb_sae.io.recording.nwb import open_activity
from nwb_sae.io.results.read import read_results
from nwb_sae.io.results.validation import SERIOUS, validate_file
from nwb_sae.io.results.write import write_nwb
from nwb_sae.preprocess import apply_to_recording

pytestmark = [pytest.mark.corpus, pytest.mark.filterwarnings("ignore::UserWarning")]

CASES = {
    "roiextractors": ("ophys/roiextractors-segmentation__nwb_test.nwb", {}, None),
    "suite2p": ("ophys/suite2p-export__2022_08_08.nwb", {}, None),
    "dandi000009": ("ecephys/dandi000009-guo2017__sub-anm00239123_ses-20170627T093549_ecephys+ogen.nwb",
                    {"presentations": "trials", "window": (-0.5, 1.0), "bin_size": 0.05}, "units"),
    "rutishauser": ("ecephys/rutishauser-cb__sub-4_ses-4_ecephys+image.nwb",
                    {"presentations": "encoding_table", "window": (0.0, 1.5), "bin_size": 0.05}, "units"),
}


def sha256(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def published_sha256(corpus_dir, relative: str) -> str:
    for line in (corpus_dir / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        if name.strip() == relative:
            return digest
    raise KeyError(relative)


def train(path, options):
    data = nwb_sae.read_nwb(path, **options)
    moving = (data.std(("time", "presentations")) > 0).values
    data = data.isel(neurons=moving)  # suite2p has silent ROIs; the writer then encodes only the model's neurons
    return data, nwb_sae.SAE(n_latents=16, k=4, epochs=1, progress=False, device="cpu", seed=0).fit(data)


@pytest.mark.parametrize("case", list(CASES))
def test_corpus_round_trip(corpus_dir, tmp_path, case):
    relative, options, kind = CASES[case]
    source = corpus_dir / relative
    assert sha256(source) == published_sha256(corpus_dir, relative)
    data, sae = train(source, options)
    out = write_nwb(sae, source, tmp_path / "out.nwb")
    assert sha256(source) == published_sha256(corpus_dir, relative)  # the default run never touches the input

    res = read_results(out, lazy=False)
    with open_activity(source, activity=data.attrs["activity"], bin_size=options.get("bin_size")) as act:
        keep = np.isin(act.neuron_coords["id"], data["neurons"].values)
        # the codes are the model's encoding of its front end's output (ophys: deconvolved) over the recording
        expected = sae.encode_samples(apply_to_recording(act.read(0, act.n_samples)[:, keep], sae.preprocessing_))
        times = act.sample_times()
        rows = None if act.neuron_table_rows is None else np.asarray(act.neuron_table_rows)[keep]
    np.testing.assert_array_equal(res.codes.values, expected)
    np.testing.assert_allclose(res.codes["time"].values, times, rtol=1e-12, atol=1e-9)
    assert list(res.dictionary["neurons"].values) == list(data["neurons"].values)
    np.testing.assert_array_equal(res.dictionary.values, sae.dictionary.astype(np.float32))
    if rows is not None:
        np.testing.assert_array_equal(res.dictionary["source_row"].values, rows)
    assert res.source["activity"] == data.attrs["activity"]
    assert res.provenance["settings"]["n_latents"] == 16
    if kind == "units":
        assert res.source["kind"] == "units" and res.source["bin_size"] == 0.05

    report = validate_file(out)
    assert report.issues(under="processing/sae", importances=SERIOUS) == []


def test_corpus_in_place_on_a_copy(corpus_dir, tmp_path):
    relative = CASES["roiextractors"][0]
    copy = tmp_path / "copy.nwb"
    shutil.copyfile(corpus_dir / relative, copy)
    _, sae = train(copy, {})
    write_nwb(sae, copy, in_place=True)
    assert read_results(copy, lazy=False).codes.shape[1] == 16
    assert sha256(corpus_dir / relative) == published_sha256(corpus_dir, relative)
    assert [p.name for p in tmp_path.iterdir()] == ["copy.nwb"]
