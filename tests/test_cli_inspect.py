"""``nwb-sae inspect FILE``: the listing of activity sources and interval tables."""

import datetime
import json

import h5py
import numpy as np
import pytest
from pynwb import NWBHDF5IO, NWBFile, TimeSeries

from nwb_sae.cli import main
from nwb_sae.synthetic import make_recording, write_nwb_recording


@pytest.fixture(scope="module")
def synthetic_nwb(tmp_path_factory):
    rec = make_recording(n_neurons=12, n_atoms=24, n_time=10, n_presentations=8)
    return write_nwb_recording(tmp_path_factory.mktemp("inspect") / "rec.nwb", rec)


def test_listing_names_sources_and_tables(synthetic_nwb, capsys):
    assert main(["inspect", str(synthetic_nwb)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    source = next(line for line in lines if "processing/ophys/DfOverF/RoiResponseSeries" in line)
    assert source.split()[:6] == ["*", "processing/ophys/DfOverF/RoiResponseSeries", "RoiResponseSeries", "12",
                                  "80", "20"]
    table = next(line for line in lines if line.strip().startswith("trials"))
    assert "intervals/trials" in table and " 8 " in table and "condition" in table
    assert "0.1 to 4 s" in table  # first onset at 2 bins of 50 ms; the last trial ends at 80 bins
    assert "NWB 2." in out


def test_json_listing(synthetic_nwb, capsys):
    assert main(["inspect", str(synthetic_nwb), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "nwb" and info["default_activity"] == "processing/ophys/DfOverF/RoiResponseSeries"
    (activity,) = info["activity"]
    assert (activity["neurons"], activity["samples"], activity["sampling"]) == (12, 80, "20 Hz")
    assert activity["duration_s"] == pytest.approx(4.0)
    (trials,) = info["intervals"]
    assert trials["rows"] == 8 and trials["columns"] == ["start_time", "stop_time", "condition"]


def test_ambiguous_file_says_there_is_no_automatic_choice(tmp_path, capsys):
    nwbfile = NWBFile(session_description="two series", identifier="two",
                      session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    for name in ("left", "right"):
        nwbfile.add_acquisition(TimeSeries(name=name, data=np.zeros((30, 3)), unit="V", rate=100.0))
    path = tmp_path / "two.nwb"
    with NWBHDF5IO(str(path), mode="w") as io:
        io.write(nwbfile)
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "no automatic choice" in out and "acquisition/left" in out and "acquisition/right" in out
    assert "none: the recording is cut into consecutive windows" in out


def test_plain_hdf5_lists_datasets(tmp_path, capsys):
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as f:
        f["traces"] = np.zeros((100, 5), dtype=np.float32)
        f["traces"].attrs["dims"] = ["time", "neurons"]
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "plain HDF5" in out and "/traces" in out and "100x5" in out and "time,neurons" in out


def test_unreadable_file_is_a_clean_error(tmp_path, capsys):
    path = tmp_path / "broken.nwb"
    path.write_text("not HDF5")
    assert main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nwb-sae inspect: error:") and "not an HDF5 file" in err
    assert "Traceback" not in err
