"""``nwb-sae validate FILE``: pynwb.validate + nwbinspector (DANDI config), short report, exit status."""

from __future__ import annotations

import datetime

import numpy as np
import pytest

from nwb_sae.cli import main
from nwb_sae.io.results.schema import WRITER
from nwb_sae.io.results.write import ResultsToWrite, write_results
from nwb_sae.io.results.write_codes import CodeStream
from nwb_sae.io.results.write_tables import time_base

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def write_recording(path, subject: bool = True):
    """A small NWB file with a 2-D TimeSeries (time, channels); with or without a Subject."""
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.file import Subject

    nwbfile = NWBFile(
        session_description="validate test", identifier=f"validate-{subject}",
        session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
        subject=Subject(subject_id="m1", species="Mus musculus", sex="F", age="P60D") if subject else None)
    data = np.random.default_rng(0).normal(size=(400, 6)).astype("f4")
    nwbfile.add_acquisition(TimeSeries(name="lfp_like", data=data, unit="V", rate=100.0,
                                       description="six channels"))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


def add_results(path, out):
    """Array-level write of results over the 6 channels (no model needed)."""
    rng = np.random.default_rng(1)
    codes = np.maximum(rng.normal(size=(400, 12)), 0).astype("f4")
    atoms = rng.normal(size=(12, 6))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    results = ResultsToWrite(
        codes=CodeStream(lambda a, b: codes[a:b], 400, 12), time_base=time_base(400, rate=100.0),
        dictionary=atoms, neuron_ids=np.arange(6), neuron_labels={}, neuron_table=None, neuron_rows=None,
        provenance={"model": {"settings": {"n_latents": 12}}, "source": {"activity": "acquisition/lfp_like"},
                    "write": {"writer": WRITER}},
        description="nwb-sae test results")
    return write_results(path, results, out, activity_path="acquisition/lfp_like")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("validate")
    good = add_results(write_recording(folder / "good.nwb"), folder / "good_sae.nwb")
    bare = add_results(write_recording(folder / "bare.nwb", subject=False), folder / "bare_sae.nwb")
    return good, bare


def test_clean_file_passes(files, capsys):
    assert main(["validate", str(files[0])]) == 0
    out = capsys.readouterr().out
    assert "0 pynwb validation, 0 critical" in out
    assert "about the nwb-sae results (processing/sae):\n    none" in out
    assert "OK: no schema error" in out


def test_problems_elsewhere_are_listed_apart(files, capsys):
    assert main(["validate", str(files[1]), "--limit", "3"]) == 1
    out = capsys.readouterr().out
    results_part, rest = out.split("about the rest of the file:")
    assert "none" in results_part
    assert "CRITICAL" in rest and "check_subject_exists" in rest
    assert "NOT OK" in out


def test_schema_only(files, capsys):
    assert main(["validate", str(files[1]), "--no-inspector"]) == 0  # the schema itself is fine
    out = capsys.readouterr().out
    assert "0 pynwb validation, 0 critical, 0 best practice violation" in out


def test_unreadable_files_get_a_clear_error(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "absent.nwb")]) == 2
    assert "no such file" in capsys.readouterr().err
    text = tmp_path / "notes.nwb"
    text.write_text("not an NWB file")
    assert main(["validate", str(text)]) == 2
    err = capsys.readouterr().err
    assert "not an HDF5 file" in err and "Traceback" not in err


def test_file_without_results(files, tmp_path, capsys):
    plain = write_recording(tmp_path / "plain.nwb")
    assert main(["validate", str(plain), "--no_inspector"]) == 0
    out = capsys.readouterr().out
    assert "nwb-sae results" not in out and "OK" in out
