"""The shared io helpers: atomic writing, JSON and netCDF of numpy-laden values, text from HDF5."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from nwb_sae.io.jsonable import plain, write_json
from nwb_sae.io.netcdf import write_netcdf
from nwb_sae.io.safe_write import atomic_write
from nwb_sae.io.text import as_str, first_str


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "sub" / "a.txt"
    atomic_write(target, lambda p: open(p, "w").write("first"))
    assert target.read_text() == "first"

    def half(p):
        open(p, "w").write("half")
        raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        atomic_write(target, half)
    assert target.read_text() == "first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.txt"]


def test_json_of_numpy_values(tmp_path):
    value = {"w": np.arange(3, dtype=np.int16), "lr": np.float32(0.5), "window": (-0.5, 1.0), "path": tmp_path,
             "ok": np.bool_(True)}
    written = json.loads(write_json(tmp_path / "m.json", value).read_text())
    assert written == {"w": [0, 1, 2], "lr": 0.5, "window": [-0.5, 1.0], "path": str(tmp_path), "ok": True}
    assert plain(value)["w"] == [0, 1, 2]


def test_netcdf_round_trip_with_awkward_attrs_and_coords(tmp_path):
    arr = xr.DataArray(np.zeros((2, 3), np.float32), dims=("latents", "time"),
                       coords={"latents": [0, 1], "iscell": ("latents", [True, False]),
                               "label": ("latents", np.array(["a", 2], dtype=object))},
                       attrs={"window": (-0.5, 1.0), "settings": {"k": 4}, "flag": True, "none": None})
    back = xr.open_dataarray(write_netcdf(arr, tmp_path / "codes.nc"))
    try:
        assert back.attrs["window"].tolist() == [-0.5, 1.0] and back.attrs["flag"] == 1
        assert json.loads(back.attrs["settings"]) == {"k": 4} and "none" not in back.attrs
        assert back.iscell.values.tolist() == [1, 0] and back.label.values.tolist() == ["a", "2"]
    finally:
        back.close()


def test_text_from_hdf5_values():
    assert as_str(b"caf\xc3\xa9") == "café" and as_str(np.bytes_(b"x")) == "x" and as_str(3) == "3"
    assert first_str(np.array([b"2.7.0"])) == "2.7.0" and first_str(np.array([])) is None
