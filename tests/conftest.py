"""Shared fixtures: the real-file corpus and small synthetic recordings."""

from __future__ import annotations

import os
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
