"""The throughput benchmark in its CI-sized form: it runs the training step and reports a sane table."""

from __future__ import annotations

import pytest
import torch

from nwb_sae.config import TrainConfig


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("throughput")


def test_quick_run_reports_throughput_and_fraction_of_gemm_bound(bench, capsys):
    rows = bench.main(["--quick", "--threads", "1"])
    cpu = [r for r in rows if r["device"] == "cpu"]
    assert [(r["n"], r["m"], r["batch"]) for r in cpu] == [(64, 1024, 256)]
    for row in rows:
        assert row["samples_per_s"] > 0 and row["gemm_bound_samples_per_s"] > 0
        assert row["fraction_of_bound"] > 0
    assert "GEMM bound" in capsys.readouterr().out


def test_default_batch_is_larger_on_a_gpu():
    cfg = TrainConfig()
    assert cfg.resolve_batch_size(10**8, "cpu") == 4096
    assert cfg.resolve_batch_size(10**8, "cuda") == 65536
    assert cfg.resolve_batch_size(3200, "cuda") == cfg.resolve_batch_size(3200, "cpu") == 64


def test_bf16_autocast_trains_on_the_cpu():
    from nwb_sae.estimator import SAE
    from nwb_sae.synthetic import make_recording

    rec = make_recording(n_neurons=12, n_atoms=16, n_time=10, n_presentations=80, seed=2)
    sae = SAE(n_latents=32, activation="topk", k=3, epochs=3, progress=False, device="cpu", precision="bf16",
              threads=1)
    sae.fit(rec.data)
    assert sae.metrics_["fvu"] < 0.9
    assert sae.model_.W_enc.dtype == torch.float32
