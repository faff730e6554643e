"""read_hdf5 and the .h5 path of load_data: plain HDF5 datasets into the same DataArray."""

import h5py
import numpy as np
import pytest

from nwb_sae.errors import InputDataError, ObjectNotFoundError, UnsupportedFileError
from nwb_sae.io import load_data
from nwb_sae.io.recording.arrays import read_hdf5


def coded(shape) -> np.ndarray:
    """Element value = its flat index, so any transposition shows."""
    return np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)


def test_dims_given_by_the_user(tmp_path):
    path = tmp_path / "rec.h5"
    with h5py.File(path, "w") as f:
        f["session/dff"] = coded((50, 4))  # (time, cells)
    da = read_hdf5(path, "session/dff", dims=("frames", "cells"))
    assert da.dims == ("neurons", "time", "presentations")
    assert da.shape == (4, 50, 1)
    np.testing.assert_array_equal(da.values[:, :, 0], coded((50, 4)).T)
    assert da.attrs["dataset"] == "/session/dff" and da.attrs["dims_origin"] == "given"


def test_dims_from_attributes_and_dimension_scales(tmp_path):
    path = tmp_path / "rec.h5"
    with h5py.File(path, "w") as f:
        dset = f.create_dataset("data", data=coded((6, 3, 5)))  # (trials, neurons, time)
        dset.attrs["dims"] = ["trials", "neurons", "time"]
        f["t"] = np.linspace(-0.2, 0.2, 5)
        f["t"].make_scale("time")
        dset.dims[2].attach_scale(f["t"])
    da = read_hdf5(path, "data")
    assert da.shape == (3, 5, 6)
    np.testing.assert_array_equal(da.values, coded((6, 3, 5)).transpose(1, 2, 0))
    np.testing.assert_allclose(da.time.values, np.linspace(-0.2, 0.2, 5))
    assert da.attrs["dims_origin"] == "stored with the dataset"


def test_hdf5_dimension_labels(tmp_path):
    path = tmp_path / "rec.h5"
    with h5py.File(path, "w") as f:
        dset = f.create_dataset("x", data=coded((7, 2)))
        dset.dims[0].label = "time"
        dset.dims[1].label = "neurons"
    assert read_hdf5(path, "x").shape == (2, 7, 1)


def test_default_order_matches_npy(tmp_path):
    path = tmp_path / "rec.hdf5"
    with h5py.File(path, "w") as f:
        f["activity"] = coded((3, 4, 5))
    da = load_data(path)  # the only numeric dataset, taken as (neurons, time, presentations)
    np.testing.assert_array_equal(da.values, coded((3, 4, 5)))
    assert da.attrs["dims_origin"].startswith("assumed")
    assert load_data(path, dataset="activity").shape == (3, 4, 5)


def test_bad_names_and_dims(tmp_path):
    path = tmp_path / "rec.h5"
    with h5py.File(path, "w") as f:
        f["a"] = coded((3, 4))
        f["b"] = coded((3, 4))
        f["labels"] = np.array([b"x", b"y"])
    with pytest.raises(ObjectNotFoundError, match=r"/a \(3, 4\), /b \(3, 4\)"):
        read_hdf5(path, "c")
    with pytest.raises(ObjectNotFoundError, match="name the dataset"):
        load_data(path)
    with pytest.raises(InputDataError, match="must name each axis once"):
        read_hdf5(path, "a", dims=("time", "time"))
    with pytest.raises(InputDataError, match="not numbers"):
        read_hdf5(path, "labels")
    with pytest.raises(InputDataError, match="apply to NWB files"):
        load_data(path, presentations="trials")


def test_not_hdf5(tmp_path):
    path = tmp_path / "rec.h5"
    path.write_bytes(b"\x00" * 100)
    with pytest.raises(UnsupportedFileError, match="not an HDF5 file"):
        read_hdf5(path, "a")
