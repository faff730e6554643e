"""Shared checks of the fuzz suite: run a command, assert a clean diagnosis, the input unchanged."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from nwb_sae.cli import main

TRUNCATION_FRACTIONS = (0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95, 0.999)
"""Where files are cut, as a fraction of their length (0.1 % ... 99.9 %)."""


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def cut(source: Path, target: Path, fraction: float) -> Path:
    """``target``: the first ``fraction`` of ``source``'s bytes (at least one byte)."""
    data = source.read_bytes()
    target.write_bytes(data[: max(1, int(len(data) * fraction))])
    return target


def flip(source: Path, target: Path, offset: int) -> Path:
    """``target``: ``source`` with the byte at ``offset`` inverted."""
    data = bytearray(source.read_bytes())
    data[offset] ^= 0xFF
    target.write_bytes(bytes(data))
    return target


def run_main(capsys, *argv) -> tuple[int, str]:
    """Run the command line in this process; returns (exit status, stderr). Any escaping exception fails."""
    status = main([str(a) for a in argv])
    return status, capsys.readouterr().err


def run_cli(*argv) -> subprocess.CompletedProcess:
    """Run ``python -m nwb_sae ARGV`` in a fresh process (what a user sees, tracebacks included)."""
    return subprocess.run([sys.executable, "-m", "nwb_sae", *map(str, argv)], capture_output=True, text=True,
                          timeout=300)


def assert_diagnosed(status: int, err: str, causes, path=None, forbidden=("locked",)) -> None:
    """Exit status 2, one clean error line naming the file and one of ``causes``; no ``forbidden`` word."""
    assert status == 2, err
    assert "Traceback" not in err, err
    assert err.startswith("nwb-sae ") and ": error: " in err, err
    low = err.lower()
    assert any(cause in low for cause in causes), f"expected one of {causes}: {err}"
    for word in forbidden:
        assert word not in low, err
    if path is not None:
        assert str(path) in err, err


def assert_nothing_written(folder: Path) -> None:
    """The output folder was not created, or holds nothing."""
    assert not folder.exists() or not any(folder.rglob("*")), sorted(folder.rglob("*"))
