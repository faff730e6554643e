"""Shared fixtures: the real-file corpus and small synthetic recordings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The NWB corpus, found through NWB_SAE_CORPUS (CI sets it; skip locally when unset)."""
    value = os.environ.get("NWB_SAE_CORPUS")
    if not value:
        pytest.skip("NWB_SAE_CORPUS is not set")
    path = Path(value)
    if not path.is_dir():
        pytest.fail(f"NWB_SAE_CORPUS={value} is not a folder")
    return path


@pytest.fixture(scope="session")
def qt_can_start():
    """Fail napari tests with the reason, instead of letting Qt abort the whole pytest process."""
    done = subprocess.run([sys.executable, "-c", "from qtpy.QtWidgets import QApplication; QApplication([])"],
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        pytest.fail("Qt cannot start here (needs an X server: pytest-xvfb + Xvfb, and Qt's xcb libraries, "
                    "e.g. apt-get install xvfb libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1):\n"
                    + done.stderr[-2000:], pytrace=False)


@pytest.fixture(scope="session")
def load_benchmark():
    """Import a script of ``benchmarks/`` (they are scripts, not a package) as a module, by name."""
    import importlib.util

    def load(name: str):
        path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
