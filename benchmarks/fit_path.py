"""The default fit as a user runs it (``SAE().fit``), timed beside PCA/ICA, on dense planted dictionaries.

Two rows of issue 16's timing table that ``benchmarks/ensembles.py`` does not cover:

- ``demo``: the data of ``nwb-sae demo`` (48 neurons, 96 planted ensembles, 3-8 active in every
  bin, 600 trials of 40 bins), fitted with the defaults (``preprocess="none"``: the traces are not
  calcium-convolved).
- ``original-command``: the original design's ``nwb-sae train --embedding_dim 384 --epochs 30`` on
  48 neurons x 40,000 samples of a planted continuous dictionary (64 atoms, 2-5 active per sample).

Scores: MMCS and the fraction of planted atoms above cosine 0.9, for the whole dictionary
(``dictionary``) and for the reported (significant) latents (``reported``), and the precision of the
reported ones.

    cd benchmarks && PYTHONPATH=.. python fit_path.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch
from assemblies import reported_patterns

from nwb_sae import metrics
from nwb_sae.baselines import make_method
from nwb_sae.estimator import SAE
from nwb_sae.synthetic import make_recording

CASES = {
    "demo": (dict(n_neurons=48, n_atoms=96, n_time=40, n_presentations=600), {}),
    "original-command": (dict(n_neurons=48, n_atoms=64, n_time=40, n_presentations=1000, active=(2, 5)),
                         dict(n_latents=384, epochs=30)),
}


def run(case: str, seed: int) -> list[dict]:
    """Fit one recording of ``case`` with the defaults (and the case's settings) and with PCA/ICA."""
    rec_kwargs, sae_kwargs = CASES[case]
    rec = make_recording(**rec_kwargs, seed=seed)
    start = time.perf_counter()
    sae = SAE(**sae_kwargs, seed=seed, preprocess="none", progress=False).fit(rec.data)
    seconds = time.perf_counter() - start
    whole = metrics.recovery_report(sae.dictionary, rec.dictionary)
    patterns = reported_patterns(sae, rec.data)
    reported = metrics.assembly_report(patterns, rec.dictionary)
    rows = [dict(case=case, seed=seed, method="nwb-sae default", seconds=seconds, mmcs=whole["mmcs"],
                 found=whole["recovered_0.9"], reported_mmcs=reported["hungarian_mean_cosine"],
                 reported_found=reported["found_0.9"], precision=reported["precision"],
                 reported=len(patterns), n_latents=sae.model_.n_latents, k=sae.model_.config.k)]
    ica_model = make_method("ica")
    start = time.perf_counter()
    ica_model.fit(rec.data)
    seconds = time.perf_counter() - start
    patterns = reported_patterns(ica_model, rec.data)
    ica = metrics.assembly_report(patterns, rec.dictionary)
    rows.append(dict(case=case, seed=seed, method="PCA/ICA", seconds=seconds, mmcs=np.nan, found=np.nan,
                     reported_mmcs=ica["hungarian_mean_cosine"], reported_found=ica["found_0.9"],
                     precision=ica["precision"], reported=len(patterns)))
    for row in rows:
        print(f"| {case} | {seed} | {row['method']} | {row['mmcs']:.3f} | {row['found']:.2f} | "
              f"{row['reported_mmcs']:.3f} | {row['reported_found']:.2f} | {row['precision']:.2f} | "
              f"{row['reported']} ({len(rec.dictionary)}) | {row.get('n_latents', '')} | {row.get('k', '')} | "
              f"{row['seconds']:.1f} |", flush=True)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--seeds", nargs="*", type=int, default=[0])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (1 when the machine is shared)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print("| case | seed | method | MMCS (dictionary) | found (dictionary) | MMCS (reported) | found (reported) | "
          "precision | reported (planted) | n_latents | k | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|", flush=True)
    rows = [row for case in args.cases for seed in args.seeds for row in run(case, seed)]
    if len(args.seeds) > 1:
        frame = pd.DataFrame(rows)
        print("\n| case | method | seeds | found (reported) mean (worst) | precision mean (worst) | seconds mean (max) |")
        print("|---|---|---|---|---|---|")
        for (case, method), g in frame.groupby(["case", "method"], sort=False):
            print(f"| {case} | {method} | {len(g)} | {g['reported_found'].mean():.2f} ({g['reported_found'].min():.2f}) | "
                  f"{g['precision'].mean():.2f} ({g['precision'].min():.2f}) | "
                  f"{g['seconds'].mean():.1f} ({g['seconds'].max():.1f}) |")


if __name__ == "__main__":
    main()
