"""The joint multi-session model vs per-session fits + tracking, per assembly kind, on planted sessions.

For each seed, :func:`nwb_sae.synthetic.make_sessions` plants stable, drifting, born, dying and growing
assemblies in a neuron pool recorded over sessions (registration error 0). Three answers are scored:

- ``per-session``: nwb-sae's default fit of each session, linked by :func:`nwb_sae.track_ensembles`;
- ``joint``: :class:`nwb_sae.MultiSessionSAE`, its latents read as tracks (:func:`joint_tracks`);
- ``joint + matcher``: the joint model's per-session decoders linked by ``track_ensembles`` like any
  per-session fit (:func:`session_dictionaries`), the entry ``benchmarks/sessions.py`` can use.

Per kind: ``status`` (the track holding most of an assembly's matched atoms has the true status),
``identity`` (its matched atoms are exactly one track holding nothing else), ``found`` (sessions where
the assembly is present and matched at cosine >= 0.8, over the sessions it is present). Atoms are
matched to planted assemblies as in ``benchmarks/sessions.py`` (:func:`planted_labels`).

    python benchmarks/sessions_joint.py --quick --seeds 11 12
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
from nwb_sae.synthetic_sessions import make_sessions  # noqa: E402


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


def run(seeds, quick: bool) -> None:
    print("| method | seed | kind | status | identity | found | seconds |")
    print("|---|---|---|---|---|---|---|", flush=True)
    for seed in seeds:
        truth = make_sessions(seed=seed, **(QUICK if quick else {}))
        reg = Registry.from_table(truth.registry)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            fits = fit_sae(truth, seed)
            per_session = (track_ensembles(fits, reg, seed=seed), session_atoms(fits, reg), time.perf_counter() - start)
            start = time.perf_counter()
            model = MultiSessionSAE(seed=seed).fit(truth.data, registry=reg)
            seconds = time.perf_counter() - start
        joint = (joint_tracks(model), joint_atoms(model), seconds)
        dicts = session_dictionaries(model)
        matcher = (track_ensembles(dicts, reg, seed=seed), session_atoms(dicts, reg), seconds)
        for name, (tracks, atoms, secs) in (("per-session", per_session), ("joint", joint),
                                            ("joint + matcher", matcher)):
            for kind, (status, identity, found) in per_kind(truth, tracks, atoms).items():
                print(f"| {name} | {seed} | {kind} | {status:.2f} | {identity:.2f} | {found:.2f} | {secs:.0f} |",
                      flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the sessions benchmark's smaller pool")
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12])
    args = parser.parse_args(argv)
    run(args.seeds, args.quick)


if __name__ == "__main__":
    main()
