"""Under torchrun the default (batchtopk) ensemble fit refuses with a message that says what to run instead.

It runs in one process (selection, seeds, statistics) and is not data-parallel; topk / relu train one model
data-parallel under torchrun (tests/test_torchrun.py).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nwb_sae.errors import InputDataError, NwbSaeError
from nwb_sae.estimator import SAE

ROOT = Path(__file__).resolve().parents[1]


def _recording(path: Path) -> Path:
    np.save(path, np.random.default_rng(0).random((6, 5, 20), dtype=np.float32))
    return path


def test_fit_refuses_the_ensemble_fit_under_torchrun(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")  # what torchrun sets; the check comes before any process group
    data = np.random.default_rng(0).random((6, 5, 20), dtype=np.float32)
    with pytest.raises(InputDataError, match="not data-parallel") as err:
        SAE(progress=False, device="cpu").fit(data)
    assert isinstance(err.value, NwbSaeError)
    assert "--activation topk" in str(err.value) and "without torchrun" in str(err.value)


def test_torchrun_train_with_the_default_fit_exits_with_the_message(tmp_path):
    data = _recording(tmp_path / "tiny.npy")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             "-m", "nwb_sae", "train", "--data_path", str(data), "--output_dir", str(out),
                             "--embedding_dim", "8", "--k", "2", "--epochs", "1", "--device", "cpu", "--quiet"],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 1, result.stderr[-3000:]  # torchrun's status when a worker fails
    assert re.search(r"exitcode\s*:\s*2", result.stderr)  # each worker: the CLI's status for an NwbSaeError
    message = f"nwb-sae train: error: {data}: the default ensemble fit"
    assert message in result.stderr, result.stderr[-3000:]
    assert "not data-parallel" in result.stderr and "--activation topk" in result.stderr
    assert str(ROOT / "nwb_sae") not in result.stderr  # no traceback from the package (torchrun prints its own)
    assert not (out / "checkpoints" / "best_model.safetensors").exists()
