"""Planted cell assemblies: nwb-sae with its defaults vs PCA/ICA and NMF, same recordings, one run.

Each case is a recording from :func:`nwb_sae.synthetic.make_assemblies` (Poisson spike counts, or
calcium-like traces) with a known answer. Each method is fitted with its default settings and scored
on the patterns it *reports*: the SAE's significant latents when it marks them (``significant_``), else
every latent that fires on the data; every component of PCA/ICA and NMF (their count is already a
null test: the Marchenko-Pastur bound, or circular shifts of each neuron, which unlike the bound
allows for the slow autocorrelation of calcium traces). Columns:

- MMCS: mean cosine of a Hungarian (one-to-one) matching of planted to reported patterns;
- found: fraction of planted assemblies whose best |cosine| with a reported pattern is above 0.9;
- precision: mean over reported patterns of the best |cosine| with a planted one;
- BestMatch: mean best Jaccard index of member sets, patterns binarised at half their largest weight
  (Mölter, Avitan & Goodhill 2018);
- reported: number of reported patterns (planted count in brackets); seconds: fit wall time.

    python benchmarks/assemblies.py               # the full family (about 100 neurons, 10-50 ms bins)
    python benchmarks/assemblies.py --quick       # the same family, one tenth of the duration
    python benchmarks/assemblies.py --cases classic overlapping --methods ica nmf
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np

from nwb_sae import metrics
from nwb_sae.baselines import make_method
from nwb_sae.samples import population_vectors
from nwb_sae.synthetic import lopes_dos_santos_toy, make_assemblies

#: name -> (generator, its settings). Durations are those of the full run; --quick divides them by 10.
CASES = {
    "classic": (make_assemblies, dict(n_neurons=100, n_assemblies=8, members=10, overlap=0.0)),
    "overlapping": (make_assemblies, dict(n_neurons=100, n_assemblies=16, members=10, overlap=1.7)),
    "more-than-neurons": (make_assemblies, dict(n_neurons=50, n_assemblies=64, members=10, overlap=None)),
    "independent": (make_assemblies, dict(n_neurons=100, n_assemblies=0)),
    "calcium": (make_assemblies, dict(n_neurons=100, n_assemblies=8, members=10, kind="calcium")),
    "lopes-dos-santos-toy": (lopes_dos_santos_toy, dict(duration=250.0)),
    "bins-10ms": (make_assemblies, dict(n_neurons=100, n_assemblies=8, members=10, bin_size=0.010)),
    "bins-50ms": (make_assemblies, dict(n_neurons=100, n_assemblies=8, members=10, bin_size=0.050)),
    "classic-60000-bins": (make_assemblies, dict(n_neurons=100, n_assemblies=8, members=10, duration=1500.0)),
}
#: row name -> (label, make_method name, settings): the package's defaults, except where a row says
METHODS = {
    "sae": ("nwb-sae defaults", "sae", dict(progress=False)),
    "ica": ("PCA/ICA (MP count)", "ica", {}),
    "ica-shift": ("PCA/ICA (shift null)", "ica", dict(null="shift")),
    "nmf": ("NMF (negatives clipped)", "nmf", dict(clip_negative=True)),
}
DEFAULT_DURATION = 600.0


def make_case(name: str, *, scale: float = 1.0, seed: int = 0):
    """The recording of case ``name``, its duration multiplied by ``scale``."""
    factory, settings = CASES[name]
    settings = dict(settings, duration=settings.get("duration", DEFAULT_DURATION) * scale, seed=seed)
    return factory(**settings)


def reported_patterns(model, data) -> np.ndarray:
    """The patterns a method shows a user: significant ones if it marks them, else every latent that fires."""
    dictionary = np.asarray(model.dictionary)
    significant = getattr(model, "significant_", None)
    if significant is not None:
        return dictionary[np.asarray(significant, dtype=bool)]
    codes = model.encode_samples(population_vectors(data))
    return dictionary[np.count_nonzero(codes, axis=0) > 0]


def score(method: str, recording, **settings) -> dict:
    """Fit row ``method`` of METHODS on the recording and score what it reports against the planted ones."""
    _, name, defaults = METHODS[method]
    model = make_method(name, **{**defaults, **settings})
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter of FastICA/NMF; the scores tell the story
        model.fit(recording.data)
    seconds = time.perf_counter() - start
    report = metrics.assembly_report(reported_patterns(model, recording.data), recording.assemblies)
    return {**report, "planted": len(recording.assemblies), "seconds": seconds}


def run(cases, methods, *, scale: float = 1.0, seed: int = 0, sae_settings=None, out=sys.stdout) -> list[dict]:
    """Score every method on every case; print a markdown table row by row; return the rows."""
    print("| case | method | MMCS | found | precision | BestMatch | reported | seconds |", file=out)
    print("|---|---|---|---|---|---|---|---|", file=out, flush=True)
    rows = []
    for case in cases:
        recording = make_case(case, scale=scale, seed=seed)
        for method in methods:
            settings = (sae_settings or {}) if method == "sae" else {}
            row = {"case": case, "method": method, **score(method, recording, **settings)}
            rows.append(row)
            print(f"| {case} | {METHODS[method][0]} | {row['hungarian_mean_cosine']:.2f} | "
                  f"{row['found_0.9']:.2f} | {row['precision']:.2f} | {row['best_match']:.2f} | "
                  f"{row['n_reported']} ({row['planted']}) | {row['seconds']:.1f} |", file=out, flush=True)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one tenth of the duration: a smoke run")
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if "sae" in args.methods:
        from nwb_sae import SAE

        print(f"nwb-sae defaults: {SAE()!r}\n")
    run(args.cases, args.methods, scale=0.1 if args.quick else 1.0, seed=args.seed)


if __name__ == "__main__":
    main()
