"""Fuzz suite, array inputs (.npy, .npz, .nc, plain HDF5): wrong formats, dtypes, shapes, sizes.

Each case runs ``nwb-sae train`` (it fails while reading, before any training) and checks the exit
status, no traceback, the diagnosis named by cause, the input unchanged, nothing written.
"""

from __future__ import annotations

import struct

import h5py
import numpy as np
import pytest
import xarray as xr
from fuzz_helpers import (
    TRUNCATION_FRACTIONS,
    assert_diagnosed,
    assert_nothing_written,
    cut,
    run_cli,
    run_main,
    sha256,
)

GOOD = np.random.default_rng(0).random((5, 20, 3)).astype(np.float32)


def _declared_huge_npy(path):
    """A .npy whose header declares 40 TB of float32 but which holds 64 bytes (never allocated)."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000, 1000), }"
    header = header.ljust(117) + "\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + bytes(64))


def _h5(path, array):
    with h5py.File(path, "w") as f:
        f["d"] = array


def _save(path, array):
    with open(path, "wb") as f:  # np.save would add '.npy' to a name without it
        np.save(f, array, allow_pickle=True)


CASES = {
    # name: (file name, writer, words of the diagnosis)
    "text named .npy": ("rec.npy", lambda p: p.write_text("1 2 3\n4 5 6\n"), ("is not a .npy array",)),
    "complex .npy": ("rec.npy", lambda p: _save(p, GOOD + 1j * GOOD), ("complex numbers (complex64)",)),
    "object .npy": ("rec.npy", lambda p: _save(p, np.array([{"a": 1}, None], dtype=object)),
                    ("python objects", "never unpickles")),
    "text .npy": ("rec.npy", lambda p: _save(p, np.array([["a", "b"]])), ("holds text",)),
    "records .npy": ("rec.npy", lambda p: _save(p, np.zeros(3, dtype=[("dff", "f4"), ("t", "f8")])),
                     ("records with the fields ['dff', 't']",)),
    "dates .npy": ("rec.npy", lambda p: _save(p, np.array(["2020-01-01"], dtype="M8[D]")), ("dates",)),
    "declared-huge .npy": ("rec.npy", _declared_huge_npy, ("truncated", "(100000, 100000, 1000)")),
    "1-D .npy": ("rec.npy", lambda p: _save(p, np.zeros(7)), ("1 dimension",)),
    "4-D .npy": ("rec.npy", lambda p: _save(p, np.zeros((2, 3, 4, 5))), ("4 dimension",)),
    "empty axis .npy": ("rec.npy", lambda p: _save(p, np.zeros((0, 5, 3))), ("empty axis",)),
    "empty .npy": ("rec.npy", lambda p: p.write_bytes(b""), ("is empty",)),
    ".npy named .npz": ("rec.npz", lambda p: _save(p, GOOD), ("is not a .npz file", "numpy .npy file")),
    "complex .npz": ("rec.npz", lambda p: np.savez(p, data=GOOD + 1j * GOOD), ("array 'data' holds complex",)),
    "object .npz": ("rec.npz", lambda p: np.savez(p, data=np.array([None], dtype=object)), ("python objects",)),
    "two arrays .npz": ("rec.npz", lambda p: np.savez(p, a=GOOD, b=GOOD), ("holds arrays ['a', 'b']",)),
    "text named .nc": ("rec.nc", lambda p: p.write_text("hello"), ("is not a netcdf file",)),
    "text .nc": ("rec.nc", lambda p: xr.DataArray(np.array([["a", "b"]]), dims=("neurons", "time")).to_netcdf(p),
                 ("holds text",)),
    "complex .h5": ("rec.h5", lambda p: _h5(p, GOOD + 1j * GOOD),
                    ("complex numbers",)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_array_file(tmp_path, capsys, case):
    name, write, causes = CASES[case]
    path = tmp_path / name
    write(path)
    before = sha256(path)
    out = tmp_path / "run"
    extra = ["--dataset", "d"] if name.endswith(".h5") else []
    status, err = run_main(capsys, "train", "--data_path", path, "--output_dir", out, *extra)
    assert_diagnosed(status, err, tuple(c.lower() for c in causes), path)
    assert sha256(path) == before
    assert_nothing_written(out)


def test_declared_huge_hdf5_dataset_is_refused_before_allocating(tmp_path, capsys):
    path = tmp_path / "huge.h5"
    with h5py.File(path, "w") as f:  # chunked and never written: the file stays small
        f.create_dataset("d", shape=(10**6, 10**6), dtype="f4", chunks=(100, 100))
    status, err = run_main(capsys, "train", "--data_path", path, "--output_dir", tmp_path / "run", "--dataset", "d")
    assert_diagnosed(status, err, ("more than this machine's memory",), path)


@pytest.fixture(scope="module")
def array_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("arrays")
    np.save(folder / "rec.npy", GOOD)
    np.savez(folder / "rec.npz", data=GOOD)
    np.savez_compressed(folder / "packed.npz", data=GOOD)
    xr.DataArray(GOOD, dims=("neurons", "time", "presentations")).to_netcdf(folder / "rec.nc")
    xr.DataArray(GOOD, dims=("neurons", "time", "presentations")).to_netcdf(folder / "classic.nc",
                                                                            format="NETCDF3_64BIT")
    return folder


@pytest.mark.parametrize("name", ["rec.npy", "rec.npz", "packed.npz", "rec.nc", "classic.nc"])
@pytest.mark.parametrize("fraction", TRUNCATION_FRACTIONS)
def test_truncated_array_file(array_files, tmp_path, capsys, name, fraction):
    path = cut(array_files / name, tmp_path / name, fraction)
    status, err = run_main(capsys, "train", "--data_path", path, "--output_dir", tmp_path / "run")
    assert_diagnosed(status, err, ("truncated",), path)
    assert_nothing_written(tmp_path / "run")


@pytest.mark.parametrize("name", ["rec.npz", "packed.npz"])
def test_flipped_byte_in_npz_data(array_files, tmp_path, capsys, name):
    data = bytearray((array_files / name).read_bytes())
    data[len(data) // 3] ^= 0xFF
    path = tmp_path / name
    path.write_bytes(bytes(data))
    status, err = run_main(capsys, "train", "--data_path", path, "--output_dir", tmp_path / "run")
    assert_diagnosed(status, err, ("damaged",), path)


def test_text_named_npy_in_a_fresh_process(tmp_path):
    """Not called a pickle: numpy's own message would say 'pickled data'."""
    path = tmp_path / "rec.npy"
    path.write_text("0.1 0.2 0.3\n")
    done = run_cli("train", "--data_path", path, "--output_dir", tmp_path / "run")
    assert_diagnosed(done.returncode, done.stderr, ("is not a .npy array",), path, forbidden=("pickle",))


def test_complex_dataarray_in_memory_is_refused_by_name():
    from nwb_sae.errors import InputDataError
    from nwb_sae.io import to_dataarray

    with pytest.raises(InputDataError, match=r"complex numbers \(complex128\)"):
        to_dataarray(np.ones((3, 4, 2)) * (1 + 2j))
