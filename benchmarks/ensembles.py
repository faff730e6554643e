"""Default ensemble finding (selection + significance + stability) on planted assemblies, vs PCA/ICA.

Runs :func:`nwb_sae.ensembles.find_ensembles` with its defaults on the recordings of
``benchmarks/assemblies.py`` (same cases, same scores over the *reported* = significant latents) with
the train / held-out split and z-scoring that ``SAE.fit`` uses, and PCA/ICA on the same recording.

    python benchmarks/ensembles.py --cases classic independent --seed 3
    python benchmarks/ensembles.py --cases classic-60000-bins --no-ica   # the issue's time bar (<= 2 min)
    python benchmarks/ensembles.py --quick
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from assemblies import CASES, make_case, score

from nwb_sae import metrics
from nwb_sae.ensembles import find_ensembles


def split(data, seed: int = 0, val_fraction: float = 0.2):
    """Normalised training / held-out samples by presentation, and the held-out presentation index."""
    x = data.transpose("presentations", "time", "neurons").values.astype(np.float64)
    order = np.random.default_rng(seed).permutation(x.shape[0])
    n_val = max(2, int(round(val_fraction * x.shape[0])))
    val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    xt, xv = x[train].reshape(-1, x.shape[2]), x[val].reshape(-1, x.shape[2])
    mean, std = xt.mean(axis=0), xt.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (xt - mean) / std, (xv - mean) / std, np.repeat(np.arange(n_val), x.shape[1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=["classic", "overlapping", "more-than-neurons",
                                                       "independent"], choices=list(CASES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="one tenth of the duration")
    parser.add_argument("--no-ica", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # a shared 2-core machine: one thread is faster than two contended ones
    print("| case | method | MMCS | found | precision | reported | n_latents | k | seconds |")
    print("|---|---|---|---|---|---|---|---|---|", flush=True)
    for case in args.cases:
        rec = make_case(case, scale=0.1 if args.quick else 1.0, seed=args.seed)
        start = time.perf_counter()
        result = find_ensembles(*split(rec.data, seed=args.seed), seed=args.seed)
        seconds = time.perf_counter() - start
        sig = result.weights["W_dec"][result.significant]
        r = metrics.assembly_report(sig, rec.assemblies)
        bins = rec.data.sizes["time"] * rec.data.sizes["presentations"]
        print(f"| {case} ({rec.data.sizes['neurons']} x {bins}) | find_ensembles | "
              f"{r['hungarian_mean_cosine']:.2f} | {r['found_0.9']:.2f} | {r['precision']:.2f} | "
              f"{r['n_reported']} ({len(rec.assemblies)}) | {result.n_latents} | {result.k:g} | {seconds:.0f} |",
              flush=True)
        if not args.no_ica:
            row = score("ica", rec)
            print(f"| {case} | PCA/ICA | {row['hungarian_mean_cosine']:.2f} | {row['found_0.9']:.2f} | "
                  f"{row['precision']:.2f} | {row['n_reported']} ({row['planted']}) | | | {row['seconds']:.0f} |",
                  flush=True)


if __name__ == "__main__":
    main()
