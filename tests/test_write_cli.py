"""``nwb-sae inference --nwb_out / --in_place / --overwrite / --module``: the command-line path of the writer."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest

import nwb_sae
from nwb_sae import synthetic
from nwb_sae.cli import main
from nwb_sae.io.results.read import read_results

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def sha256(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("write_cli")
    rec = synthetic.make_recording(n_neurons=12, n_atoms=16, n_time=10, n_presentations=30, seed=7)
    path = synthetic.write_nwb_recording(folder / "rec.nwb", rec, kind="ophys")
    data = nwb_sae.read_nwb(path, presentations="trials", window=(-0.1, 0.4))
    sae = nwb_sae.SAE(n_latents=16, k=3, epochs=1, progress=False, device="cpu").fit(data)
    sae.save(folder / "model")
    return folder, path, folder / "model.safetensors", sae


def inference(path, model, folder, *extra):
    return main(["inference", "--data_path", str(path), "--model_path", str(model), "--output_dir",
                 str(folder / "inference"), "--presentations", "trials", "--window=-0.1,0.4", "--num_samples", "1",
                 *extra])


def test_inference_writes_nwb_and_refuses_to_clobber(trained, capsys):
    folder, path, model, sae = trained
    before = sha256(path)
    out = folder / "rec_sae.nwb"
    assert inference(path, model, folder, "--nwb_out", str(out)) == 0
    assert str(out) in capsys.readouterr().out
    assert sha256(path) == before
    res = read_results(out, lazy=False)
    assert res.codes.shape == (300, 16)
    np.testing.assert_array_equal(res.dictionary.values, sae.dictionary.astype(np.float32))
    assert inference(path, model, folder, "--nwb_out", str(out)) == 2
    err = capsys.readouterr().err
    assert "--overwrite" in err and "Traceback" not in err


def test_inference_in_place_then_refuses_a_second_result(trained, capsys):
    folder, path, model, _ = trained
    copy = folder / "copy.nwb"
    shutil.copyfile(path, copy)
    assert inference(copy, model, folder, "--in_place") == 0
    assert inference(copy, model, folder, "--in_place") == 2
    assert "--module sae2" in capsys.readouterr().err
    assert read_results(copy, lazy=False).codes.shape == (300, 16)
