"""Ensembles tracked across sessions: which ensemble of Monday is which ensemble of Friday.

Each session is fitted on its own (``SAE().fit`` or ``batch``); tracking links the reported ensembles
(the latents that passed the fit's own null) through the neuron registry:

1. every pair of sessions is matched (Hungarian, on the neurons both registered, atoms renormalised
   there; :mod:`nwb_sae.sessions.matching`), each match with a p-value from permuting global ids among
   the shared neurons;
2. Benjamini-Hochberg over all matches of all pairs; a match is a link when ``q <= alpha`` and its
   cosine is at least ``min_cosine``;
3. links are clustered into tracks, strongest first, never putting two latents of one session in a
   track. All pairs are linked, not only neighbours, so a session where an ensemble was missed (or
   badly fitted) does not cut its track in two;
4. each track gets a status from where it is present and how far its atom moved, judged against a
   ceiling: how similar the same session's ensembles are across seeds (or split halves), so fit
   instability is not read as drift.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
import xarray as xr

from nwb_sae.errors import InputDataError
from nwb_sae.sessions.dictionaries import SessionDictionary, session_dictionary
from nwb_sae.sessions.matching import match_pair, on_shared, shared_positions

STATUSES = ("persistent", "drifting", "new", "vanished")
"""Track statuses: present in every session with a stable atom / with an atom that moved beyond the
ceiling; first present after the first session; present from the first session, absent at the end."""


def track_ensembles(fits: dict, registry, *, sessions=None, alpha: float = 0.05, min_shared: int = 10,
                    min_cosine: float = 0.3, n_permutations: int = 199, drift_ratio: float = 0.8,
                    ceiling=None, member_fraction: float = 0.5, seed: int = 0) -> xr.Dataset:
    """Link each session's reported ensembles into tracks across sessions.

    Parameters
    ----------
    fits : dict {session: fit}
        Per session, in session order: a fitted :class:`nwb_sae.SAE`, an NWB file ``batch`` wrote (path or
        :func:`nwb_sae.read_results`), or a dictionary DataArray (latents, neurons) with an optional
        ``significant`` coordinate. Only the latents the fit reports as ensembles are tracked.
    registry : nwb_sae.Registry
        Which local neuron of which session is which global neuron.
    sessions : list of str, optional
        The session order (default: the order of ``fits``); "previous", "new" and "vanished" follow it.
    alpha : float
        False discovery rate of the links (Benjamini-Hochberg over all matches of all session pairs).
    min_shared : int
        Fewest registered neurons two sessions must share to be compared.
    min_cosine : float
        Smallest cosine (on shared neurons) of a link, beside its q-value.
    n_permutations : int
        Permutations of global ids per session pair (p-values no smaller than ``1 / (n + 1)``).
    drift_ratio : float
        A track present from the first to the last session is "drifting" when the cosine between its
        first and last atoms is below ``drift_ratio * ceiling``, else "persistent".
    ceiling : float or dict {session: float}, optional
        The similarity a session's ensembles reach with themselves (split halves or seeds;
        :func:`nwb_sae.sessions.projection.split_half_ceiling`). Default: the median seed stability the
        fits report for their ensembles (1.0 where no fit measured it).
    member_fraction : float
        A neuron is a member of an atom when its weight is at least this fraction of the largest.
    seed : int
        Seed of the permutations.

    Returns
    -------
    xarray.Dataset
        Dims (track, session). ``latent`` (int; -1 absent), ``cosine`` / ``p_value`` / ``q_value`` /
        ``n_shared`` (to the track's previous present session; NaN / 0 at its first), ``rate`` (activation
        frequency), ``gained`` / ``lost`` (members gained and lost since the previous present session, among
        neurons both sessions observed; -1 absent), ``members`` (global ids joined by ';'); per track
        ``status``, ``n_sessions``, ``cosine_first_last``; per session ``ceiling``. ``attrs`` record the
        settings and ``registry_hash``.

    Examples
    --------
    >>> tracks = track_ensembles({"mon": fit_mon, "fri": fit_fri}, registry=reg)      # doctest: +SKIP
    >>> tracks["status"].to_series().value_counts()                                     # doctest: +SKIP
    """
    order = [str(s) for s in (sessions if sessions is not None else fits)]
    missing = [s for s in order if s not in {str(k) for k in fits}]
    if missing or not order:
        raise InputDataError(f"track_ensembles: no fit for session(s) {missing or '(none given)'}; "
                             f"fits has {list(fits)}.")
    fits = {str(k): v for k, v in fits.items()}
    dicts = [session_dictionary(fits[s], s, registry) for s in order]
    _refuse_unregistered(dicts, registry, min_shared)
    rng = np.random.default_rng(seed)
    links = link_sessions(dicts, min_shared=min_shared, n_permutations=n_permutations, rng=rng)
    kept = links[(links["q_value"] <= alpha) & (links["cosine"] >= min_cosine)] if len(links) else links
    nodes = cluster_links(dicts, kept)
    ceilings = _ceilings(dicts, ceiling)
    settings = {"alpha": alpha, "min_shared": min_shared, "min_cosine": min_cosine,
                "n_permutations": n_permutations, "drift_ratio": drift_ratio, "member_fraction": member_fraction,
                "seed": seed, "registry_hash": registry.hash, "n_tests": len(links), "n_links": len(kept)}
    return _dataset(dicts, nodes, links, ceilings, settings)


def link_sessions(dicts: list[SessionDictionary], *, min_shared: int = 10, n_permutations: int = 199,
                  rng: np.random.Generator | None = None) -> pd.DataFrame:
    """All matches of all session pairs: one row per match with its cosine, p and BH q over all rows."""
    rows = []
    for (i, a), (j, b) in combinations(enumerate(dicts), 2):
        m = match_pair(a.atoms, a.global_ids, b.atoms, b.global_ids, min_shared=min_shared,
                       n_permutations=n_permutations, rng=rng)
        if m is None:
            continue
        for ra, rb, c, p in zip(m.index_a, m.index_b, m.cosine, m.p_value, strict=True):
            rows.append((i, int(ra), j, int(rb), float(c), float(p), m.n_shared))
    table = pd.DataFrame(rows, columns=["session_a", "row_a", "session_b", "row_b", "cosine", "p_value",
                                        "n_shared"])
    from nwb_sae.stats.significance import benjamini_hochberg

    table["q_value"] = benjamini_hochberg(table["p_value"].to_numpy()) if len(table) else []
    return table


def cluster_links(dicts: list[SessionDictionary], links: pd.DataFrame) -> list[dict[int, int]]:
    """Tracks as {session index: atom row}: links merged strongest first, one atom per session per track."""
    parent: dict = {}
    members: dict = {}
    for s, d in enumerate(dicts):
        for r in range(len(d.atoms)):
            parent[(s, r)] = (s, r)
            members[(s, r)] = {s: r}

    def root(node):
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for link in links.sort_values("cosine", ascending=False, kind="stable").itertuples(index=False):
        ra, rb = root((link.session_a, link.row_a)), root((link.session_b, link.row_b))
        if ra == rb or set(members[ra]) & set(members[rb]):
            continue
        parent[rb] = ra
        members[ra] = {**members[ra], **members.pop(rb)}
    tracks = [members[n] for n in parent if root(n) == n]
    return sorted(tracks, key=lambda t: (min(t), t[min(t)]))


def _refuse_unregistered(dicts, registry, min_shared: int) -> None:
    """Refuse when no two sessions share enough registered neurons: identity cannot be established."""
    if len(dicts) < 2:
        return
    counts = {(a.session, b.session): len(shared_positions(a.global_ids, b.global_ids)[0])
              for a, b in combinations(dicts, 2)}
    if max(counts.values()) < min_shared:
        raise InputDataError(
            f"no two sessions share {min_shared} registered neurons (shared counts {counts}; registry "
            f"{registry!r} lists sessions {list(registry.sessions)}), so no ensemble can be identified across "
            "sessions. Check that the registry's session names and local neuron ids match the fits' "
            "(session names are the dict keys, ids the `neurons` coordinate), or lower min_shared.")


def _ceilings(dicts, ceiling) -> np.ndarray:
    if ceiling is None:
        values = [np.nanmedian(d.stability) if np.isfinite(d.stability).any() else np.nan for d in dicts]
    elif isinstance(ceiling, dict):
        values = [float(ceiling.get(d.session, np.nan)) for d in dicts]
    else:
        values = [float(ceiling)] * len(dicts)
    return np.asarray(values, dtype=float)


def _members(d: SessionDictionary, row: int, fraction: float) -> set:
    atom = on_shared(d.atoms[row:row + 1], np.arange(d.atoms.shape[1]))[0]
    return set(d.global_ids[atom >= fraction * atom.max()]) if atom.max() > 0 else set()


def _node_cosine(a: SessionDictionary, ra: int, b: SessionDictionary, rb: int) -> tuple[float, int]:
    ia, ib = shared_positions(a.global_ids, b.global_ids)
    if len(ia) == 0:
        return np.nan, 0
    return float(on_shared(a.atoms[ra:ra + 1], ia)[0] @ on_shared(b.atoms[rb:rb + 1], ib)[0]), len(ia)


def _dataset(dicts, nodes, links, ceilings, settings) -> xr.Dataset:
    n_tracks, n_sessions = len(nodes), len(dicts)
    shape = (n_tracks, n_sessions)
    latent = np.full(shape, -1, dtype=np.int64)
    cosine, p_value, q_value, rate = (np.full(shape, np.nan) for _ in range(4))
    n_shared, gained, lost = (np.full(shape, -1, dtype=np.int64) for _ in range(3))
    members = np.full(shape, "", dtype=object)
    status = np.empty(n_tracks, dtype=object)
    first_last = np.full(n_tracks, np.nan)
    by_pair = {(r.session_a, r.row_a, r.session_b, r.row_b): r for r in links.itertuples(index=False)}
    finite = ceilings[np.isfinite(ceilings)]
    overall = float(np.median(finite)) if finite.size else 1.0
    fraction = settings["member_fraction"]
    for t, track in enumerate(nodes):
        present = sorted(track)
        previous = None
        for s in present:
            d, row = dicts[s], track[s]
            latent[t, s], rate[t, s] = d.latents[row], d.rate[row]
            mine = _members(d, row, fraction)
            members[t, s] = ";".join(sorted(mine))
            if previous is None:
                n_shared[t, s] = gained[t, s] = lost[t, s] = 0
            else:
                before, pd_ = dicts[previous], track[previous]
                cosine[t, s], n_shared[t, s] = _node_cosine(before, pd_, d, row)
                link = by_pair.get((previous, pd_, s, row))
                if link is not None:
                    p_value[t, s], q_value[t, s] = link.p_value, link.q_value
                theirs = _members(before, pd_, fraction)
                gained[t, s] = len((mine - theirs) & set(before.global_ids))
                lost[t, s] = len((theirs - mine) & set(d.global_ids))
            previous = s
        if len(present) > 1:
            first_last[t] = _node_cosine(dicts[present[0]], track[present[0]],
                                         dicts[present[-1]], track[present[-1]])[0]
        status[t] = _status(present, n_sessions, first_last[t], settings["drift_ratio"] * overall)
    return xr.Dataset(
        {"latent": (("track", "session"), latent), "cosine": (("track", "session"), cosine),
         "p_value": (("track", "session"), p_value), "q_value": (("track", "session"), q_value),
         "n_shared": (("track", "session"), n_shared), "rate": (("track", "session"), rate),
         "gained": (("track", "session"), gained), "lost": (("track", "session"), lost),
         "members": (("track", "session"), members.astype(str)),
         "status": ("track", status.astype(str)), "n_sessions": ("track", (latent >= 0).sum(axis=1)),
         "cosine_first_last": ("track", first_last), "ceiling": ("session", ceilings)},
        coords={"track": np.arange(n_tracks), "session": [d.session for d in dicts]},
        attrs={**settings, "ceiling": overall, "ceiling_measured": bool(finite.size),
               "statuses": list(STATUSES)},
    )


def _status(present: list[int], n_sessions: int, first_last: float, drift_below: float) -> str:
    if present[0] > 0:
        return "new"
    if present[-1] < n_sessions - 1:
        return "vanished"
    if len(present) > 1 and np.isfinite(first_last) and first_last < drift_below:
        return "drifting"
    return "persistent"
