"""Training throughput (samples/s) and its fraction of the one-GEMM bound, on the CPU and CUDA when present.

A training step of the TopK autoencoder cannot be faster than its dense encoder product (batch x
neurons times neurons x latents). The bound is that one GEMM timed alone at the same shape and
precision; the fraction says how much of a step is spent elsewhere (top-k, sparse backward, Adam,
decoder renormalisation). Steps run through the training loop's own step function
(:func:`nwb_sae.training.loop._step`) with the default batch size of the device.

    python benchmarks/throughput.py            # n in {64, 512}, m in {1024, 16384}
    python benchmarks/throughput.py --quick    # one small shape, a few steps (CI)
"""

from __future__ import annotations

import argparse
import time

import torch

from nwb_sae.config import ModelConfig, TrainConfig
from nwb_sae.model import SparseAutoencoder
from nwb_sae.training.loop import _step

SHAPES = [(64, 1024), (64, 16384), (512, 1024), (512, 16384)]
"""(neurons n, latents m) of the full run."""


def _timed(fn, device: torch.device, repeats: int) -> float:
    """Seconds per call of ``fn`` (after one warm-up call), waiting for the device."""
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - started) / repeats


def measure(n: int, m: int, device: torch.device, precision: str = "fp32", steps: int = 20,
            batch_size: int | None = None, k: int = 6) -> dict:
    """samples/s of training steps, and of the encoder GEMM alone, at one shape."""
    cfg = TrainConfig(precision=precision, batch_size=batch_size, device=str(device))
    batch = cfg.resolve_batch_size(10**9, device.type)
    generator = torch.Generator().manual_seed(0)
    model = SparseAutoencoder(n, ModelConfig(n_latents=m, activation="topk", k=k)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, n, generator=generator).to(device)
    dead = torch.zeros(m, dtype=torch.bool, device=device)
    step_seconds = _timed(lambda: _step(model, optimizer, x, dead, cfg), device, steps)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    xg, wg = x.to(dtype), model.W_enc.detach().to(dtype)
    gemm_seconds = _timed(lambda: xg @ wg.T, device, steps)
    flops = 2 * batch * n * m
    return {"device": device.type, "precision": precision, "n": n, "m": m, "batch": batch,
            "samples_per_s": batch / step_seconds, "gemm_bound_samples_per_s": batch / gemm_seconds,
            "fraction_of_bound": gemm_seconds / step_seconds, "gemm_tflops": flops / gemm_seconds / 1e12}


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one small shape, batch 256, 3 steps (CI)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    shapes, steps, batch = ([(64, 1024)], 3, 256) if args.quick else (SHAPES, args.steps, None)
    rows = []
    print(f"{'device':>6} {'prec':>5} {'n':>4} {'m':>6} {'batch':>6} {'samples/s':>11} {'GEMM bound':>11} "
          f"{'fraction':>8}")
    for device in devices:
        for precision in ("fp32", "bf16") if device.type == "cuda" else ("fp32",):
            for n, m in shapes:
                row = measure(n, m, device, precision, steps, batch)
                rows.append(row)
                print(f"{row['device']:>6} {precision:>5} {n:>4} {m:>6} {row['batch']:>6} "
                      f"{row['samples_per_s']:>11,.0f} {row['gemm_bound_samples_per_s']:>11,.0f} "
                      f"{row['fraction_of_bound']:>8.1%}", flush=True)
    return rows


if __name__ == "__main__":
    main()
