"""Ensembles across sessions, with a known answer: per-session fits linked by track_ensembles, scored.

Each seed simulates a pool of neurons over sessions (:func:`nwb_sae.synthetic.make_sessions`: 400
neurons, 5 sessions each recording 60-80% of them, 12 assemblies that are stable, drift, are born in
session 3, die after session 2, or grow their rate), fits each session once per method, and tracks the
reported ensembles under registries with 0, 5 and 15% of ids swapped, and under the shuffled-id null.
Every method goes through the same matcher (:func:`nwb_sae.track_ensembles`); a method is a function
in :data:`METHODS` from (truth, seed) to per-session fits, so the joint multi-session model plugs in
as one more entry. Scores (columns):

- recovery: per session, the fraction of present assemblies whose best matched reported atom has
  cosine >= 0.8 (mean over sessions);
- link precision / recall over (assembly, session pair): two atoms in one track are a link; it is true
  when both were matched to the same planted assembly;
- identity: fraction of assemblies whose matched atoms form exactly one track holding nothing else;
- status: fraction of assemblies whose track (the one holding most of its atoms) has the true status;
- cos r: Pearson correlation of the track's cosine to its previous session with the planted one;
- null links: links found under the shuffled-id null (number of links / matches tested);
- ceiling: median cosine of the matched ensembles of the two halves of one session (split halves) and
  the fits' seed stability, beside the cross-session numbers.

    python benchmarks/sessions.py                      # seeds 11 12, all methods
    python benchmarks/sessions.py --quick --seeds 5    # a smaller pool and shorter sessions: a smoke run
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections import Counter
from itertools import combinations
from pathlib import Path

import numpy as np
import xarray as xr

from nwb_sae.metrics import cosine_matrix
from nwb_sae.sessions.registry import Registry
from nwb_sae.sessions.tracking import track_ensembles
from nwb_sae.synthetic.sessions import make_sessions, shuffled_registry, with_registration_error

ERRORS = (0.0, 0.05, 0.15)
QUICK = dict(n_pool=160, kinds={"stable": 2, "drifting": 2, "born": 1, "dying": 1, "growing": 1}, members=14,
             duration=120.0, n_presentations=24)
FOUND_COSINE = 0.8


def _as_dictionary(components: np.ndarray, data: xr.DataArray, significant=None) -> xr.DataArray:
    coords = {"latents": np.arange(len(components)), "neurons": data["neurons"].values}
    if significant is not None:
        coords["significant"] = ("latents", np.asarray(significant, dtype=bool))
    return xr.DataArray(np.asarray(components, dtype=float), dims=("latents", "neurons"), coords=coords)


def fit_sae(truth, seed: int, cache: Path | None = None) -> dict:
    """nwb-sae's default fit of each session (cached as checkpoints under ``cache``)."""
    from nwb_sae import SAE, load

    fits = {}
    for name, data in truth.data.items():
        path = cache / f"sae-{seed}-{name}" if cache else None
        if path is not None and path.with_suffix(".safetensors").exists():
            fits[name] = load(path)
            continue
        fits[name] = SAE(progress=False).fit(data)
        if path is not None:
            fits[name].save(path)
    return fits


def fit_ica(truth, seed: int, cache=None) -> dict:
    """PCA/ICA assemblies per session (Lopes-dos-Santos 2013; every component is reported)."""
    from nwb_sae.baselines import ICAAssemblies

    return {name: _as_dictionary(ICAAssemblies().fit(data).components_, data) for name, data in truth.data.items()}


def first_session_templates(base: dict, truth) -> dict:
    """The first session's reported atoms used as every later session's dictionary (over the neurons it records)."""
    first = truth.sessions[0]
    reg = Registry.from_table(truth.registry)
    source = base[first]
    if not isinstance(source, xr.DataArray):
        atoms = source.dictionary[source.significant_]
        ids = reg.global_ids(first, source.neuron_coords_["id"])
    else:
        atoms = source.values[source["significant"].values] if "significant" in source.coords else source.values
        ids = reg.global_ids(first, source["neurons"].values)
    column = {g: i for i, g in enumerate(ids)}
    out = {}
    for name, data in truth.data.items():
        local = reg.global_ids(name, data["neurons"].values)
        weights = np.zeros((len(atoms), len(local)))
        for j, g in enumerate(local):
            if g in column:
                weights[:, j] = atoms[:, column[g]]
        out[name] = _as_dictionary(weights, data)
    return out


METHODS = {
    "nwb-sae per session": fit_sae,
    "PCA/ICA per session": fit_ica,
    "first-session templates (SAE)": None,  # built from the SAE fits in run()
}
"""Method name -> fits(truth, seed, cache) -> {session: fit}. The joint model adds its entry here."""


def planted_labels(truth, fits_dicts) -> list[dict]:
    """Per session: {atom row: planted assembly} for atoms matched (Hungarian) at cosine >= FOUND_COSINE."""
    labels = []
    for s, d in enumerate(fits_dicts):
        data = truth.data[d.session]
        pool = np.asarray(data["pool_index"].values)
        order = {n: i for i, n in enumerate(np.asarray(data["neurons"].values).tolist())}
        cols = np.array([order[n] for n in np.asarray(d.neurons).tolist()])
        planted = truth.atoms[:, s, :][:, pool[cols]]
        present = np.flatnonzero(truth.rates[:, s] > 0)
        out = {}
        if len(d.atoms) and len(present):
            from scipy.optimize import linear_sum_assignment

            sim = cosine_matrix(planted[present], np.abs(d.atoms))  # (reported, planted)
            rows, cols_ = linear_sum_assignment(-sim)
            out = {int(r): int(present[c]) for r, c in zip(rows, cols_, strict=True) if sim[r, c] >= FOUND_COSINE}
        labels.append(out)
    return labels


def score(truth, fits: dict, registry_table, *, seed: int = 0) -> dict:
    """Track ``fits`` under a registry and score the tracks against the planted assemblies."""
    from nwb_sae.sessions.dictionaries import session_dictionary

    reg = Registry.from_table(registry_table)
    tracks = track_ensembles(fits, reg, seed=seed)
    dicts = [session_dictionary(fits[s], s, reg) for s in truth.sessions]
    labels = planted_labels(truth, dicts)
    n_sessions = len(truth.sessions)
    row_of = [{int(lat): r for r, lat in enumerate(d.latents)} for d in dicts]
    node_label = np.full(tracks["latent"].shape, -1)
    latent = tracks["latent"].values
    for t in range(latent.shape[0]):
        for s in range(n_sessions):
            if latent[t, s] >= 0:
                node_label[t, s] = labels[s].get(row_of[s][int(latent[t, s])], -1)
    present = truth.rates > 0
    true_links = {(a, i, j) for a in range(len(present)) for i, j in combinations(range(n_sessions), 2)
                  if present[a, i] and present[a, j]}
    predicted, correct = 0, 0
    for t in range(latent.shape[0]):
        on = np.flatnonzero(latent[t] >= 0)
        for i, j in combinations(on, 2):
            predicted += 1
            correct += node_label[t, i] == node_label[t, j] >= 0
    status_ok, identity_ok = [], []
    for a in range(len(present)):
        holds = Counter(int(t) for t, s in zip(*np.nonzero(node_label == a), strict=True))
        if not holds:
            status_ok.append(False)
            identity_ok.append(False)
            continue
        best = holds.most_common(1)[0][0]
        status_ok.append(str(tracks["status"].values[best]) == truth.assemblies["status"][a])
        identity_ok.append(len(holds) == 1 and holds[best] == present[a].sum()
                           and (latent[best] >= 0).sum() == holds[best])
    est, true = [], []
    for t in range(latent.shape[0]):
        on = np.flatnonzero(latent[t] >= 0)
        for prev, s in zip(on[:-1], on[1:], strict=True):
            a = node_label[t, s]
            if a >= 0 and node_label[t, prev] == a:
                both = truth.observed[prev] & truth.observed[s]
                x, y = truth.atoms[a, prev, both], truth.atoms[a, s, both]
                true.append(float(x @ y / max(np.linalg.norm(x) * np.linalg.norm(y), 1e-12)))
                est.append(float(tracks["cosine"].values[t, s]))
    recovery = [len(lab) / max(1, present[:, s].sum()) for s, lab in enumerate(labels)]
    return {"recovery": float(np.mean(recovery)), "precision": correct / predicted if predicted else float("nan"),
            "recall": correct / len(true_links), "identity": float(np.mean(identity_ok)),
            "status": float(np.mean(status_ok)),
            "cos_r": float(np.corrcoef(est, true)[0, 1]) if len(est) > 2 and np.std(true) > 0 else float("nan"),
            "seed_ceiling": float(tracks.attrs["ceiling"]) if tracks.attrs["ceiling_measured"] else float("nan"),
            "tracks": tracks}


def run(seeds, methods=None, *, quick: bool = False, cache: Path | None = None, halves: bool = True,
        out=sys.stdout) -> list[dict]:
    """Every method, seed and registration error scored; a markdown table printed row by row."""
    methods = list(methods or METHODS)
    settings = QUICK if quick else {}
    print("| method | seed | reg. error | recovery | link precision | link recall | identity | status | cos r "
          "| null links | ceiling (halves / seeds) |", file=out)
    print("|---|---|---|---|---|---|---|---|---|---|---|", file=out, flush=True)
    rows = []
    for seed in seeds:
        truth = make_sessions(seed=seed, **settings)
        ceiling = _halves_ceiling(truth) if halves else float("nan")
        fitted = {}
        for method in methods:
            builder = METHODS[method]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fits = (first_session_templates(fitted["nwb-sae per session"], truth) if builder is None
                        else builder(truth, seed, cache))
            fitted[method] = fits
            null = track_ensembles(fits, Registry.from_table(shuffled_registry(truth.registry, seed)), seed=seed)
            null_links = f"{null.attrs['n_links']} / {null.attrs['n_tests']}"
            for error in ERRORS:
                table = with_registration_error(truth.registry, error, seed)
                row = {"method": method, "seed": seed, "error": error, **score(truth, fits, table, seed=seed),
                       "null_links": null_links, "ceiling": ceiling}
                rows.append(row)
                print(f"| {method} | {seed} | {error:.0%} | {row['recovery']:.2f} | {row['precision']:.2f} | "
                      f"{row['recall']:.2f} | {row['identity']:.2f} | {row['status']:.2f} | {row['cos_r']:.2f} | "
                      f"{null_links} | {ceiling:.2f} / {row['seed_ceiling']:.2f} |", file=out, flush=True)
    return rows


def _halves_ceiling(truth) -> float:
    from nwb_sae.sessions.projection import split_half_ceiling

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cosines = split_half_ceiling(truth.data[truth.sessions[0]])
    return float(np.median(cosines)) if len(cosines) else float("nan")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller pool, shorter sessions: a smoke run")
    parser.add_argument("--seeds", nargs="*", type=int, default=[11, 12])
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--cache", type=Path, default=None, help="folder for the SAE checkpoints (reruns reuse them)")
    parser.add_argument("--no-halves", action="store_true", help="skip the split-half ceiling (two more fits)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: every core; 1 on a machine shared with other work)")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
    run(args.seeds, args.methods, quick=args.quick, cache=args.cache, halves=not args.no_halves)


if __name__ == "__main__":
    main()
