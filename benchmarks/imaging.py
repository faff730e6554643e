"""Ensembles from calcium imaging: nwb-sae's default fit vs PCA/ICA on raw and on deconvolved traces.

Each row is a recording from :func:`nwb_sae.synthetic.make_imaging` (Poisson spikes with planted
assemblies through a double-exponential indicator kernel with per-neuron decay 0.25-1.8 s, gain,
noise in units of one spike's peak, slow drift, optional saturation). Methods, on the same recording:

- ``nwb-sae``: ``SAE().fit(data)`` with every default (the front end deconvolves: ``preprocess="auto"``);
- ``PCA/ICA raw``: :class:`nwb_sae.baselines.ICAAssemblies` on the fluorescence as it is;
- ``PCA/ICA deconv``: the same on the front end's output (:func:`nwb_sae.preprocess.preprocess`).

Scores (:func:`nwb_sae.metrics.assembly_report`) on the patterns each reports: found = fraction of
planted assemblies matched above cosine 0.9, precision = mean best cosine of the reported patterns,
MMCS = Hungarian mean cosine; seconds include the front end. The "Done when" bar concerns the rows with
noise <= 0.5 and no saturation; the others are reported.

    python benchmarks/imaging.py                          # every row, seeds 0 1 2
    python benchmarks/imaging.py --rows 30Hz 2Hz --seeds 10 11
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch
from ensembles import summarise

from nwb_sae import SAE, metrics
from nwb_sae.baselines import ICAAssemblies
from nwb_sae.preprocess import preprocess
from nwb_sae.synthetic import make_imaging

#: row name -> make_imaging settings (100-500 neurons, 2-30 Hz, 300-3600 s; sizes kept modest)
ROWS = {
    "30Hz": dict(frame_rate=30.0, n_neurons=100, duration=300.0, noise=0.3),
    "15Hz-noise0.5": dict(frame_rate=15.0, n_neurons=100, duration=300.0, noise=0.5),
    "7.5Hz-noise0.1": dict(frame_rate=7.5, n_neurons=100, duration=600.0, noise=0.1),
    "2Hz": dict(frame_rate=2.0, n_neurons=100, duration=1800.0, noise=0.3),
    "7.5Hz-500-neurons": dict(frame_rate=7.5, n_neurons=500, n_assemblies=20, duration=300.0, noise=0.3),
    "30Hz-noise1.0": dict(frame_rate=30.0, n_neurons=100, duration=300.0, noise=1.0),
    "30Hz-saturation": dict(frame_rate=30.0, n_neurons=100, duration=300.0, noise=0.3, saturation=2.0),
}
REQUIRED = ("30Hz", "15Hz-noise0.5", "7.5Hz-noise0.1", "2Hz", "7.5Hz-500-neurons")
"""Rows with noise <= 0.5 and no saturation: the ones the bar applies to."""


def run_row(row: str, seed: int) -> list[dict]:
    """The three methods on one recording of ``row``; prints one line each."""
    rec = make_imaging(**ROWS[row], seed=seed)
    out = []

    start = time.perf_counter()
    sae = SAE(progress=False, device="cpu").fit(rec.data)
    out.append(("nwb-sae", sae.dictionary[sae.significant_], time.perf_counter() - start))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FastICA's convergence chatter; the scores tell the story
        start = time.perf_counter()
        ica = ICAAssemblies().fit(rec.data)
        out.append(("PCA/ICA raw", ica.dictionary, time.perf_counter() - start))
        start = time.perf_counter()
        deconvolved, _ = preprocess(rec.data)
        ica = ICAAssemblies().fit(deconvolved)
        out.append(("PCA/ICA deconv", ica.dictionary, time.perf_counter() - start))

    rows = []
    shape = f"{rec.data.sizes['neurons']} x {rec.data.sizes['time'] * rec.data.sizes['presentations']}"
    for method, patterns, seconds in out:
        r = metrics.assembly_report(patterns, rec.assemblies)
        label = row if row in REQUIRED else f"{row} (reported)"
        rows.append(dict(case=label, seed=seed, method=method, seconds=seconds, planted=len(rec.assemblies), **r))
        print(f"| {row} ({shape}) | {seed} | {method} | {r['hungarian_mean_cosine']:.2f} | {r['found_0.9']:.2f} | "
              f"{r['precision']:.2f} | {r['n_reported']} ({len(rec.assemblies)}) | {seconds:.1f} |", flush=True)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="*", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (1 on a shared machine)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print("| row | seed | method | MMCS | found | precision | reported (planted) | seconds |")
    print("|---|---|---|---|---|---|---|---|", flush=True)
    rows = []
    for row in args.rows:
        for seed in args.seeds:
            rows += run_row(row, seed)
    if len(args.seeds) > 1:
        summarise(rows)  # the same table as benchmarks/ensembles.py: mean and worst seed


if __name__ == "__main__":
    main()
