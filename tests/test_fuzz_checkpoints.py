"""Fuzz suite, checkpoints and inference inputs: truncated, renamed, mixed, foreign files, wrong neurons.

Each case runs ``nwb-sae inference`` and checks the exit status, no traceback, the diagnosis named by
cause, the inputs unchanged and no output folder written.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from fuzz_helpers import assert_diagnosed, assert_nothing_written, run_cli, run_main, sha256

from nwb_sae.estimator import SAE


def _train(folder, n_neurons, n_latents):
    data = np.random.default_rng(n_neurons).random((n_neurons, 5, 12)).astype(np.float32)
    np.save(folder / f"data{n_neurons}.npy", data)
    sae = SAE(n_latents=n_latents, k=2, epochs=1, progress=False).fit(data)
    return sae.save(folder / f"model{n_latents}")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return folder, _train(folder, 6, 8), _train(folder, 6, 12)


def _copy(weights, folder, stem, weights_bytes=None, meta_bytes=None):
    meta = weights.with_suffix(".json")
    target = folder / f"{stem}.safetensors"
    target.write_bytes(weights.read_bytes() if weights_bytes is None else weights_bytes)
    target.with_suffix(".json").write_bytes(meta.read_bytes() if meta_bytes is None else meta_bytes)
    return target


def _case(name, folder, good, other, data):
    """(checkpoint path, data path, words of the diagnosis) for one fuzz case."""
    raw = good.read_bytes()
    if name == "truncated weights":
        return _copy(good, folder, "cut", weights_bytes=raw[: len(raw) // 2]), data, ("is truncated",)
    if name == "weights cut inside the header":
        return _copy(good, folder, "cut", weights_bytes=raw[:5]), data, ("truncated or corrupt",)
    if name == "truncated settings":
        meta = good.with_suffix(".json").read_bytes()
        return _copy(good, folder, "cut", meta_bytes=meta[:40]), data, ("not valid json",)
    if name == "settings without weights":
        target = _copy(good, folder, "alone")
        target.unlink()
        return target.with_suffix(".json"), data, ("the weights that belong to alone.json",)
    if name == "weights without settings":
        target = _copy(good, folder, "alone")
        target.with_suffix(".json").unlink()
        return target, data, ("settings file", "is missing")
    if name == "weights of another model":
        meta = other.with_suffix(".json").read_bytes()
        return _copy(good, folder, "mixed", meta_bytes=meta), data, ("do not match the saved settings",)
    if name == "a .npy renamed .safetensors":
        return _copy(good, folder, "npy", weights_bytes=data.read_bytes()), data, ("it is a numpy .npy file",)
    if name == "data given as the model":
        return data, data, ("no such checkpoint",)
    if name == "more neurons than the model":
        bigger = folder / "data7.npy"
        np.save(bigger, np.random.default_rng(7).random((7, 5, 12)).astype(np.float32))
        return good, bigger, ("has 7 neurons", "trained on 6")
    raise AssertionError(name)


CASES = ["truncated weights", "weights cut inside the header", "truncated settings", "settings without weights",
         "weights without settings", "weights of another model", "a .npy renamed .safetensors",
         "data given as the model", "more neurons than the model"]


@pytest.mark.parametrize("name", CASES)
def test_inference_refuses_bad_checkpoints_cleanly(models, tmp_path, capsys, name):
    source, good, other = models
    folder = tmp_path / "in"
    folder.mkdir()
    data = shutil.copy(source / "data6.npy", folder / "data6.npy")
    model, data, causes = _case(name, folder, good, other, data)
    before = {p: sha256(p) for p in folder.iterdir()}
    out = tmp_path / "out"
    status, err = run_main(capsys, "inference", "--data_path", data, "--model_path", model, "--output_dir", out,
                           "--quiet")
    assert_diagnosed(status, err, causes)
    assert {p: sha256(p) for p in folder.iterdir()} == before
    assert_nothing_written(out)


def test_truncated_checkpoint_in_a_fresh_process(models, tmp_path):
    source, good, _ = models
    raw = good.read_bytes()
    model = _copy(good, tmp_path, "cut", weights_bytes=raw[: len(raw) // 3])
    done = run_cli("inference", "--data_path", source / "data6.npy", "--model_path", model,
                   "--output_dir", tmp_path / "out", "--quiet")
    assert_diagnosed(done.returncode, done.stderr, ("is truncated",), model)
    assert_nothing_written(tmp_path / "out")
