"""Fuzz suite, NWB / HDF5 inputs: truncations, byte flips, files held by a writer.

Each case runs the command line and checks the exit status, that no traceback is printed, that the
diagnosis names the cause (a truncated file is never called locked), that the input is unchanged and
that nothing is written to the output folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import pytest
from fuzz_helpers import (
    TRUNCATION_FRACTIONS,
    assert_diagnosed,
    assert_nothing_written,
    cut,
    flip,
    run_cli,
    run_main,
    sha256,
)

from nwb_sae.synthetic import make_recording, write_nwb_recording

DAMAGE_WORDS = ("damaged", "truncated")
CORPUS_FILE = "ophys/roiextractors-segmentation__nwb_test.nwb"


@pytest.fixture(scope="module")
def nwb_file(tmp_path_factory) -> Path:
    rec = make_recording(n_neurons=8, n_atoms=16, n_time=10, n_presentations=6)
    return write_nwb_recording(tmp_path_factory.mktemp("fuzz") / "rec.nwb", rec)


@pytest.fixture(scope="module")
def object_addresses(nwb_file) -> dict[str, int]:
    """File offsets of the object headers of the NWB file, and of its activity's raw data."""
    found = {}
    with h5py.File(nwb_file, "r") as h5:
        found["/"] = h5py.h5o.get_info(h5.id).addr
        for name in ("processing", "processing/ophys/DfOverF/RoiResponseSeries",
                     "processing/ophys/DfOverF/RoiResponseSeries/data", "intervals/trials"):
            found[name] = h5py.h5o.get_info(h5[name].id).addr
        data = h5["processing/ophys/DfOverF/RoiResponseSeries/data"]
        found["data"] = data.id.get_offset()
        found["data_size"] = data.id.get_storage_size()
    return found


@pytest.mark.parametrize("fraction", TRUNCATION_FRACTIONS)
def test_truncated_nwb_is_reported_truncated_never_locked(nwb_file, tmp_path, capsys, fraction):
    path = cut(nwb_file, tmp_path / "cut.nwb", fraction)
    before = sha256(path)
    status, err = run_main(capsys, "inspect", path)
    assert_diagnosed(status, err, ("truncated",), path)
    if fraction >= 0.01:  # the superblock is there: both sizes are said
        assert f"{path.stat().st_size:,} bytes" in err and f"{nwb_file.stat().st_size:,}" in err
    out = tmp_path / "run"
    status, err = run_main(capsys, "train", "--data_path", path, "--output_dir", out, "--epochs", "1")
    assert_diagnosed(status, err, ("truncated",), path)
    assert_nothing_written(out)
    assert sha256(path) == before


@pytest.mark.corpus
@pytest.mark.parametrize("fraction", TRUNCATION_FRACTIONS)
def test_truncated_corpus_file(corpus_dir, tmp_path, capsys, fraction):
    path = cut(corpus_dir / CORPUS_FILE, tmp_path / "cut.nwb", fraction)
    status, err = run_main(capsys, "inspect", path)
    assert_diagnosed(status, err, ("truncated",), path)


@pytest.mark.corpus
def test_truncated_corpus_file_in_a_fresh_process(corpus_dir, tmp_path):
    """What a user sees on the terminal: one line, no traceback, truncated and not locked."""
    path = cut(corpus_dir / CORPUS_FILE, tmp_path / "cut.nwb", 0.5)
    done = run_cli("inspect", path)
    assert_diagnosed(done.returncode, done.stderr, ("truncated",), path)
    assert "50.0 %" in done.stderr


@pytest.mark.parametrize("offset", [0, 4, 8, 13, 20, 24, 40, 48, 56, 64, 72, 80, 90])
def test_superblock_byte_flip(nwb_file, tmp_path, capsys, offset):
    path = flip(nwb_file, tmp_path / "flip.nwb", offset)
    before = sha256(path)
    status, err = run_main(capsys, "inspect", path)
    if status != 0:  # some superblock bytes are unused or redundant
        causes = ("not an hdf5 file",) if offset < 8 else DAMAGE_WORDS
        assert_diagnosed(status, err, causes, path)
    assert sha256(path) == before


@pytest.mark.parametrize("obj", ["/", "processing", "processing/ophys/DfOverF/RoiResponseSeries",
                                 "processing/ophys/DfOverF/RoiResponseSeries/data", "intervals/trials"])
@pytest.mark.parametrize("delta", [0, 8, 24])
def test_object_header_byte_flip(nwb_file, object_addresses, tmp_path, capsys, obj, delta):
    path = flip(nwb_file, tmp_path / "flip.nwb", object_addresses[obj] + delta)
    out = tmp_path / "run"
    status, err = run_main(capsys, "train", "--data_path", path, "--output_dir", out, "--epochs", "1",
                           "--no_figures", "--quiet")
    assert_diagnosed(status, err, DAMAGE_WORDS, path)
    if obj != "/":
        assert "damaged" in err and f"'/{obj}'" in err  # names the object that cannot be read
    assert_nothing_written(out)


@pytest.mark.parametrize("where", [0.0, 0.5, 0.99])
def test_data_byte_flip_is_read_or_refused_cleanly(nwb_file, object_addresses, tmp_path, capsys, where):
    """A flipped data byte changes a value; NWB data carry no checksum, so reading it is all one can do."""
    offset = object_addresses["data"] + int(object_addresses["data_size"] * where)
    path = flip(nwb_file, tmp_path / "flip.nwb", offset)
    status, err = run_main(capsys, "inspect", path)
    assert status == 0 and "Traceback" not in err


@pytest.mark.parametrize("content", [b"", b"\x89HD", b"hello, not HDF5\n", b"PK\x03\x04" + bytes(40)])
def test_empty_and_foreign_files(tmp_path, capsys, content):
    path = tmp_path / "rec.nwb"
    path.write_bytes(content)
    status, err = run_main(capsys, "inspect", path)
    causes = {b"": ("empty",), b"\x89HD": ("truncated",)}.get(content, ("not an hdf5 file",))
    assert_diagnosed(status, err, causes, path)


def test_folder(tmp_path, capsys):
    path = tmp_path / "rec.nwb"
    path.mkdir()
    status, err = run_main(capsys, "inspect", path)
    assert_diagnosed(status, err, ("is a folder",), path)


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True,
                    reason="root reads any file: permission denied cannot happen")
def test_permission_denied(nwb_file, tmp_path, capsys):
    path = tmp_path / "rec.nwb"
    shutil.copy(nwb_file, path)
    path.chmod(0)
    status, err = run_main(capsys, "inspect", path)
    assert_diagnosed(status, err, ("permission denied",), path)


WRITER = """
import sys, h5py, numpy as np
h5 = h5py.File(sys.argv[1], "w", libver="latest")
h5.create_dataset("x", data=np.arange(10.0), maxshape=(None,))
if sys.argv[2] == "swmr":
    h5.swmr_mode = True
h5.flush()
print("ready", flush=True)
if sys.argv[2] == "crash":
    import os
    os._exit(0)
sys.stdin.read()
"""


@pytest.mark.parametrize("mode", ["lock", "swmr", "crash"])
def test_file_held_by_a_writer(tmp_path, capsys, mode):
    """A writer holding the file (HDF5 lock), writing in SWMR mode, or gone without closing it."""
    path = tmp_path / "live.h5"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), mode], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"  # waits on the writer's signal, not on time
        if mode == "crash":
            writer.wait(timeout=60)  # gone: its lock is released, its "open for writing" mark stays
        status, err = run_main(capsys, "inspect", path)
    finally:
        writer.stdin.close()
        writer.wait(timeout=60)
    expected = {"lock": "locked by another program", "swmr": "being written (in swmr mode)",
                "crash": "being written"}[mode]
    assert_diagnosed(status, err, (expected,), path, forbidden=() if mode == "lock" else ("locked",))
