"""``torchrun --nproc_per_node=2 -m nwb_sae train`` (gloo, CPU) learns what one process learns, and resumes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nwb_sae import metrics
from nwb_sae.estimator import load
from nwb_sae.synthetic import make_recording

# topk: both runs train one model with train_model (the batchtopk ensemble fit is one process only)
FLAGS = ["--activation", "topk", "--n_latents", "32", "--k", "3", "--batch_size", "64", "--seed", "0", "--threads", "1",
         "--device", "cpu", "--patience", "10", "--no_figures", "--quiet"]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    rec = make_recording(n_neurons=12, n_atoms=16, n_time=10, n_presentations=100, seed=4)
    path = tmp_path_factory.mktemp("torchrun") / "rec.npy"
    np.save(path, rec.data.values)
    return rec, path


def _train(data: Path, out: Path, epochs: int, nproc: int, *extra: str) -> None:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"] \
        if nproc > 1 else [sys.executable]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "OMP_NUM_THREADS": "1"}
    result = subprocess.run([*launcher, "-m", "nwb_sae", "train", "--data_path", str(data), "--output_dir",
                             str(out), "--epochs", str(epochs), *FLAGS, *extra],
                            capture_output=True, text=True, env=env, cwd=out.parent)
    assert result.returncode == 0, result.stderr[-3000:]


def test_two_processes_learn_the_one_process_dictionary_and_resume(recording, tmp_path):
    rec, data = recording
    _train(data, tmp_path / "one", 4, nproc=1)
    _train(data, tmp_path / "two", 3, nproc=2)
    last = json.loads((tmp_path / "two" / "checkpoints" / "last.json").read_text())
    assert last["world_size"] == 2 and last["training_state"]["epoch"] == 3
    _train(data, tmp_path / "two", 4, 2, "--resume")  # one more epoch from the checkpoint

    one = load(tmp_path / "one" / "checkpoints" / "best_model")
    two = load(tmp_path / "two" / "checkpoints" / "best_model")
    assert json.loads((tmp_path / "two" / "checkpoints" / "best_model.json").read_text())["world_size"] == 2
    assert two.provenance()["world_size"] == 2 and one.provenance()["world_size"] == 1
    assert len(two.history_["epoch"]) == 4
    mmcs_one = metrics.mmcs(one.dictionary, rec.dictionary)
    mmcs_two = metrics.mmcs(two.dictionary, rec.dictionary)
    assert mmcs_two == pytest.approx(mmcs_one, abs=0.02)
    # the same steps on the same global batches: the same atoms, up to float summation order
    cosines = np.sum(one.dictionary * two.dictionary, axis=1)
    assert np.median(cosines) > 0.99
