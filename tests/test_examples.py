"""Every gallery example (examples/plot_*.py) runs to the end, on the built-in demo data and on the corpus.

Each runs in a fresh interpreter, as a user would run it, in its small form (NWB_SAE_EXAMPLE_QUICK=1),
with matplotlib's Agg backend; the napari example opens its viewer hidden and closes it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))


def run_example(script: Path, corpus: Path | None, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg", "NWB_SAE_EXAMPLE_QUICK": "1", "TMPDIR": str(tmp_path),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("NWB_SAE_CORPUS", None)
    if corpus is not None:
        env["NWB_SAE_CORPUS"] = str(corpus)
    return subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)


def _check(done: subprocess.CompletedProcess, script: Path, where: str) -> None:
    assert done.returncode == 0, f"{script.name} ({where}) failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"


def test_there_are_examples():
    names = {p.name for p in EXAMPLES}
    assert {"plot_two_photon.py", "plot_units_trials.py", "plot_read_results.py", "plot_napari.py",
            "plot_baselines.py", "plot_pynapple.py", "plot_batch.py"} <= names


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs_on_demo_data(script, tmp_path, request):
    if script.name == "plot_napari.py":
        request.getfixturevalue("qt_can_start")
    _check(run_example(script, None, tmp_path), script, "built-in demo data")
    left = [p.name for p in tmp_path.glob("nwb_sae_example_*")]
    assert not left, f"{script.name} left its scratch folder behind: {left}"


@pytest.mark.slow
@pytest.mark.corpus
@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs_on_corpus(script, corpus_dir, tmp_path, request):
    if script.name == "plot_napari.py":
        request.getfixturevalue("qt_can_start")
    _check(run_example(script, corpus_dir, tmp_path), script, f"NWB_SAE_CORPUS={corpus_dir}")
