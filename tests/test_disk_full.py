"""Every writer on a full file system (issue 12, item 5): a real 2 MB tmpfs, no mocks.

For each writer: a clear NwbSaeError "not enough space in DIR (needs ~X, Y free)", a non-zero exit
status from the command line, no partial or temporary file left, and the input unchanged. Mounting
needs root (CI runs as root); elsewhere these tests skip and say why.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from nwb_sae import SAE
from nwb_sae.cli import main
from nwb_sae.errors import DiskFullError
from nwb_sae.io.jsonable import write_json
from nwb_sae.io.netcdf import netcdf_safe, write_netcdf
from nwb_sae.io.results.write import write_nwb
from nwb_sae.io.safe_write import atomic_write
from nwb_sae.synthetic import make_recording, write_nwb_recording
from nwb_sae.viz.report import save_training_figures

SPACE = re.compile(r"not enough space in (?P<dir>\S+) \(needs (~|more than )[\d.]+ [kMG]?B, [\d.]+ [kMG]?B free\)")
FAST = dict(epochs=2, k=2, progress=False, device="cpu")


@pytest.fixture
def small_fs(tmp_path):
    """A 2 MB tmpfs mounted at tmp_path/full, unmounted afterwards."""
    mount = tmp_path / "full"
    mount.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root and mount(8) (CI runs as root)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def _fill(folder, leave: int) -> None:
    """Fill ``folder``'s file system up to ``leave`` free bytes (a file named filler)."""
    free = shutil.disk_usage(folder).free
    with open(folder / "filler", "wb") as f:
        f.write(b"\0" * max(free - leave, 0))


def _leftovers(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != "filler")


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _says_space(message: str, folder) -> None:
    match = SPACE.search(message)
    assert match, message
    assert match["dir"] == str(folder), message
    assert "Traceback" not in message


@pytest.fixture(scope="module")
def wide_model(tmp_path_factory):
    """A model whose codes (256 latents) of a small recording take ~4 MB as netCDF, and that recording."""
    folder = tmp_path_factory.mktemp("wide")
    rec = make_recording(n_neurons=8, n_atoms=8, n_time=100, n_presentations=40, seed=0)
    np.save(folder / "rec.npy", rec.data.values)
    sae = SAE(n_latents=256, **FAST).fit(rec.data)
    sae.save(folder / "model")
    return folder


def test_inference_cli_into_a_full_disk(small_fs, wide_model, capsys):
    data = wide_model / "rec.npy"
    before = _digest(data)
    out = small_fs / "inference"
    status = main(["inference", "--data_path", str(data), "--model_path", str(wide_model / "model.safetensors"),
                   "--output_dir", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert status != 0
    assert "codes.nc" in err
    _says_space(err, out)
    assert _leftovers(small_fs) == []  # no codes.nc, no temporary file
    assert _digest(data) == before


def test_netcdf_hdf_error_during_the_write_is_reported_as_a_full_disk(small_fs):
    """netCDF hides ENOSPC behind ``RuntimeError: NetCDF: HDF error``; without a size estimate the
    write starts, fails, and is still reported by space."""
    codes = make_recording(n_neurons=64, n_atoms=8, n_time=100, n_presentations=100).data  # ~2.6 MB
    with pytest.raises(DiskFullError) as caught:
        atomic_write(small_fs / "codes.nc", netcdf_safe(codes).to_netcdf)  # no expected size: fails mid-write
    _says_space(str(caught.value), small_fs)
    assert "ran out of space" in str(caught.value)
    assert _leftovers(small_fs) == []
    with pytest.raises(DiskFullError):  # and with the estimate, before a byte is written
        write_netcdf(codes, small_fs / "codes.nc")


def test_train_cli_checkpoint_into_a_full_disk(small_fs, tmp_path, capsys):
    rec = make_recording(n_neurons=64, n_atoms=8, n_time=10, n_presentations=20, seed=1)
    np.save(tmp_path / "rec.npy", rec.data.values)
    before = _digest(tmp_path / "rec.npy")
    out = small_fs / "run"
    status = main(["train", "--data_path", str(tmp_path / "rec.npy"), "--output_dir", str(out), "--n_latents",
                   "4096", "--k", "2", "--epochs", "1", "--no-progress"])  # weights ~2.1 MB: do not fit
    err = capsys.readouterr().err
    assert status != 0 and "best_model.safetensors" in err
    _says_space(err, out / "checkpoints")
    assert _leftovers(small_fs) == []
    assert _digest(tmp_path / "rec.npy") == before


def test_json_and_figures_on_a_full_disk(small_fs):
    rec = make_recording(n_neurons=8, n_atoms=8, n_time=10, n_presentations=10, seed=2)
    sae = SAE(n_latents=16, **FAST).fit(rec.data)
    _fill(small_fs, leave=8192)
    with pytest.raises(DiskFullError) as caught:
        write_json(small_fs / "history.json", {"loss": list(np.linspace(0, 1, 5000))})
    _says_space(str(caught.value), small_fs)
    with pytest.raises(DiskFullError) as caught:
        save_training_figures(sae, rec.data, small_fs / "figures")
    _says_space(str(caught.value), small_fs / "figures")
    assert _leftovers(small_fs) == []


def test_write_nwb_into_a_full_disk(small_fs, tmp_path):
    rec = make_recording(n_neurons=8, n_atoms=8, n_time=20, n_presentations=10, seed=3)
    source = write_nwb_recording(tmp_path / "rec.nwb", rec)
    before = _digest(source)
    sae = SAE(n_latents=16, **FAST).fit(rec.data)
    _fill(small_fs, leave=16384)  # less than the copy of the source
    with pytest.raises(DiskFullError) as caught:
        write_nwb(sae, source, small_fs / "rec_sae.nwb", progress=False)
    _says_space(str(caught.value), small_fs)
    assert _leftovers(small_fs) == []
    assert _digest(source) == before
