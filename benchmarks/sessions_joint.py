"""The joint multi-session model vs per-session fits + tracking, per assembly kind, on planted sessions.

For each seed, :func:`nwb_sae.synthetic.make_sessions` plants stable, drifting, born, dying and growing
assemblies in a neuron pool recorded over sessions, under registries with 0, 5 and 15% of ids swapped
(``--errors``). Three answers are scored:

- ``per-session``: nwb-sae's default fit of each session, linked by :func:`nwb_sae.track_ensembles`;
- ``joint``: :class:`nwb_sae.MultiSessionSAE`, its latents read as tracks (:func:`joint_tracks`);
- ``joint + matcher``: the joint model's per-session decoders linked by ``track_ensembles`` like any
  per-session fit (:func:`session_dictionaries`), the entry ``benchmarks/sessions.py`` can use.

Per kind: ``status`` (the track holding most of an assembly's matched atoms has the true status),
``identity`` (its matched atoms are exactly one track holding nothing else), ``found`` (sessions where
the assembly is present and matched at cosine >= 0.8, over the sessions it is present). Atoms are
matched to planted assemblies as in ``benchmarks/sessions.py`` (:func:`planted_labels`).

    python benchmarks/sessions_joint.py --quick --seeds 11 12
    python benchmarks/sessions_joint.py --quick --seeds 101 102 103 104 105 106 107 108 109 110 --cache CACHE
    python benchmarks/sessions_joint.py --seeds 11            # the full 400-neuron, 5-session pool
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sessions import QUICK, fit_sae, planted_labels  # noqa: E402  (the sessions benchmark's own matcher)

from nwb_sae.sessions.joint import MultiSessionSAE  # noqa: E402
from nwb_sae.sessions.joint_tracks import joint_tracks, session_dictionaries  # noqa: E402
from nwb_sae.sessions.registry import Registry  # noqa: E402
from nwb_sae.sessions.tracking import track_ensembles  # noqa: E402
from nwb_sae.synthetic.sessions import make_sessions, with_registration_error  # noqa: E402


class Atoms(NamedTuple):
    session: str
    latents: np.ndarray
    atoms: np.ndarray
    neurons: np.ndarray


def per_kind(truth, tracks, atoms: list[Atoms]) -> dict:
    """Per assembly kind: mean status, identity and found over its assemblies."""
    labels = planted_labels(truth, atoms)
    latent = tracks["latent"].values
    node = np.full(latent.shape, -1)
    for s, d in enumerate(atoms):
        row_of = {int(lat): r for r, lat in enumerate(d.latents)}
        for t in range(latent.shape[0]):
            if latent[t, s] >= 0 and int(latent[t, s]) in row_of:
                node[t, s] = labels[s].get(row_of[int(latent[t, s])], -1)
    present = truth.rates > 0
    out = {}
    for a, kind in enumerate(truth.assemblies["kind"]):
        holds = Counter(int(t) for t, _ in zip(*np.nonzero(node == a), strict=True))
        found = sum(a in lab.values() for lab in labels) / present[a].sum()
        if holds:
            best = holds.most_common(1)[0][0]
            status = str(tracks["status"].values[best]) == truth.assemblies["status"][a]
            identity = len(holds) == 1 and holds[best] == present[a].sum() and (latent[best] >= 0).sum() == holds[best]
        else:
            status = identity = False
        out.setdefault(kind, []).append((status, identity, found))
    return {k: np.mean(v, axis=0) for k, v in out.items()}


def session_atoms(fits: dict, registry) -> list[Atoms]:
    from nwb_sae.sessions.dictionaries import session_dictionary

    return [Atoms(*session_dictionary(f, s, registry)[:4]) for s, f in fits.items()]


def joint_atoms(model) -> list[Atoms]:
    """Per session, the joint latents reported there (ensembles present in that session)."""
    out = []
    for s, (session, fit) in enumerate(session_dictionaries(model).items()):
        keep = np.flatnonzero(model.ensembles_ & model.presence_.values[:, s])
        out.append(Atoms(session, keep, fit.values[keep], fit["neurons"].values))
    return out


def run(seeds, quick: bool, errors=(0.0,), cache: Path | None = None) -> list[dict]:
    """Every seed and registration error: per-session fits (fitted once per seed, tracked under each
    registry) against the joint model (fitted under each registry); rows printed as they come, then
    the mean and the worst seed per method, error and kind."""
    print("| method | seed | reg. error | kind | status | identity | found | seconds |")
    print("|---|---|---|---|---|---|---|---|", flush=True)
    rows = []
    for seed in seeds:
        truth = make_sessions(seed=seed, **(QUICK if quick else {}))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            fits = fit_sae(truth, seed, cache)
            fit_seconds = time.perf_counter() - start
            for error in errors:
                reg = Registry.from_table(with_registration_error(truth.registry, error, seed))
                per_session = (track_ensembles(fits, reg, seed=seed), session_atoms(fits, reg), fit_seconds)
                start = time.perf_counter()
                model = MultiSessionSAE(seed=seed).fit(truth.data, registry=reg)
                seconds = time.perf_counter() - start
                joint = (joint_tracks(model), joint_atoms(model), seconds)
                dicts = session_dictionaries(model)
                matcher = (track_ensembles(dicts, reg, seed=seed), session_atoms(dicts, reg), seconds)
                for name, (tracks, atoms, secs) in (("per-session", per_session), ("joint", joint),
                                                    ("joint + matcher", matcher)):
                    for kind, (status, identity, found) in per_kind(truth, tracks, atoms).items():
                        rows.append({"method": name, "seed": seed, "error": error, "kind": kind, "status": status,
                                     "identity": identity, "found": found, "seconds": secs})
                        print(f"| {name} | {seed} | {error:.0%} | {kind} | {status:.2f} | {identity:.2f} | "
                              f"{found:.2f} | {secs:.0f} |", flush=True)
    summarise(rows)
    return rows


def summarise(rows: list[dict]) -> None:
    """Mean (worst seed) of status, identity and found per method, registration error and kind."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    n_seeds = frame["seed"].nunique()
    print(f"\nmean (worst of {n_seeds} seeds) per method, registration error and assembly kind:\n")
    print("| method | reg. error | kind | status | identity | found | seconds |")
    print("|---|---|---|---|---|---|---|")
    for (method, error, kind), group in frame.groupby(["method", "error", "kind"], sort=False):
        cells = [f"{group[c].mean():.2f} ({group[c].min():.2f})" for c in ("status", "identity", "found")]
        print(f"| {method} | {error:.0%} | {kind} | {' | '.join(cells)} | {group['seconds'].mean():.0f} |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the sessions benchmark's smaller pool")
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12])
    parser.add_argument("--errors", type=float, nargs="+", default=[0.0, 0.05, 0.15],
                        help="registration errors (fraction of ids swapped); the joint model is refitted under each")
    parser.add_argument("--cache", type=Path, default=None,
                        help="folder of the per-session SAE checkpoints (shared with benchmarks/sessions.py)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: every core; 1 on a machine shared with other work)")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
    run(args.seeds, args.quick, args.errors, args.cache)


if __name__ == "__main__":
    main()
