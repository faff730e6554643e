"""Default ensemble finding (selection + significance + stability) on planted assemblies, vs PCA/ICA.

Runs :func:`nwb_sae.ensembles.find_ensembles` with its defaults on the recordings of
``benchmarks/assemblies.py`` (same cases, same scores over the *reported* = significant latents) with
the train / held-out split and z-scoring that ``SAE.fit`` uses, and PCA/ICA on the same recording.

    python benchmarks/ensembles.py --cases classic independent --seeds 3
    python benchmarks/ensembles.py --cases classic-60000-bins --seeds 7 8   # the 10 s time bar
    python benchmarks/ensembles.py --seeds 0 1 2 3 4 5 6 7 8 9             # every case, mean and worst seed
    python benchmarks/ensembles.py --quick
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch
from assemblies import CASES, make_case, score

from nwb_sae import metrics
from nwb_sae.ensembles import find_ensembles
from nwb_sae.preprocess import preprocess


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


def run_case(case: str, seed: int, scale: float = 1.0, ica: bool = True) -> list[dict]:
    """Scores of the default fit (and PCA/ICA) on one recording of ``case``; prints a row for each."""
    rec = make_case(case, scale=scale, seed=seed)
    start = time.perf_counter()
    data, _ = preprocess(rec.data)  # SAE.fit's front end: deconvolves the calcium case, leaves spike counts
    result = find_ensembles(*split(data, seed=seed), seed=seed)
    seconds = time.perf_counter() - start
    r = metrics.assembly_report(result.weights["W_dec"][result.significant], rec.assemblies)
    bins = rec.data.sizes["time"] * rec.data.sizes["presentations"]
    rows = [dict(case=case, seed=seed, method="find_ensembles", seconds=seconds, planted=len(rec.assemblies),
                 n_latents=result.n_latents, k=result.k, **r)]
    if ica:
        rows.append(dict(case=case, seed=seed, method="PCA/ICA", **score("ica", rec)))
    for row in rows:
        print(f"| {case} ({rec.data.sizes['neurons']} x {bins}) | {seed} | {row['method']} | "
              f"{row['hungarian_mean_cosine']:.2f} | {row['found_0.9']:.2f} | {row['precision']:.2f} | "
              f"{row['n_reported']} ({row['planted']}) | {row.get('n_latents', '')} | {row.get('k', '')} | "
              f"{row['seconds']:.1f} |", flush=True)
    return rows


def summarise(rows: list[dict]) -> None:
    """Mean and worst seed of every (case, method): MMCS, found, precision, seconds."""
    print("\n| case | method | seeds | MMCS mean (worst) | found mean (worst) | precision mean (worst) | "
          "seconds mean (max) |")
    print("|---|---|---|---|---|---|---|")
    frame = pd.DataFrame(rows)
    for (case, method), group in frame.groupby(["case", "method"], sort=False):
        cells = []
        for name in ("hungarian_mean_cosine", "found_0.9", "precision"):
            values = group[name].astype(float)
            cells.append(f"{values.mean():.2f} ({values.min():.2f})" if values.notna().any() else "-")
        print(f"| {case} | {method} | {len(group)} | {' | '.join(cells)} | "
              f"{group['seconds'].mean():.1f} ({group['seconds'].max():.1f}) |", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=["classic", "overlapping", "more-than-neurons",
                                                       "independent"], choices=list(CASES))
    parser.add_argument("--seeds", nargs="*", type=int, default=[0],
                        help="recordings (and fit seeds) to run; the summary gives the mean and the worst")
    parser.add_argument("--quick", action="store_true", help="one tenth of the duration")
    parser.add_argument("--no-ica", action="store_true")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's, every core; 1 on a machine shared with other work)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print("| case | seed | method | MMCS | found | precision | reported | n_latents | k | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|", flush=True)
    rows = []
    for case in args.cases:
        for seed in args.seeds:
            rows += run_case(case, seed, scale=0.1 if args.quick else 1.0, ica=not args.no_ica)
    if len(args.seeds) > 1:
        summarise(rows)


if __name__ == "__main__":
    main()
