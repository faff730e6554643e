"""The joint model's latents as tracks: the same Dataset as :func:`nwb_sae.sessions.tracking.track_ensembles`.

A latent of :class:`~nwb_sae.sessions.joint.MultiSessionSAE` is one ensemble in every session by
construction: a track is a latent reported as an ensemble in some session, present where
``presence_`` says so. A drifting ensemble can still be learned as two latents, one for its early
and one for its late form (each initialised from that period's events); two such latents are one
track when they are present in no common session and the decoder of the earlier one in its last
session and that of the later one in its first session have cosine at least :data:`LINK_COSINE`
on the neurons both sessions observed (strongest pairs first, each latent continued once).
Everything else (cosine to the previous session on shared neurons, members gained and lost, the
status against the seed-stability ceiling) is computed by the tracking module's own code on the
joint model's per-session decoders, so the joint model and per-session tracking are judged by one
rule. :func:`session_dictionaries` gives the same decoders as per-session fits, so the benchmark
(:func:`joint_fits`) can also pass them through ``track_ensembles``' matcher like any other method.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from nwb_sae.sessions.dictionaries import SessionDictionary
from nwb_sae.sessions.tracking import _ceilings, _dataset

LINK_COSINE = 0.5
"""Least cosine between the last decoder of one latent and the first of a later one to continue its track
(a drifting ensemble that loses 15 % of its members a day keeps about 0.85 between days, unrelated ones about 0)."""


def joint_tracks(model, *, drift_ratio: float = 0.8, member_fraction: float = 0.5) -> xr.Dataset:
    """Tracks (track, session) of a fitted :class:`~nwb_sae.sessions.joint.MultiSessionSAE`.

    Parameters
    ----------
    model : MultiSessionSAE
        Fitted.
    drift_ratio, member_fraction : float
        As in :func:`nwb_sae.sessions.tracking.track_ensembles`.

    Returns
    -------
    xarray.Dataset
        As :func:`~nwb_sae.sessions.tracking.track_ensembles` returns, with ``latent`` the joint latent
        (the same in every session where the track is present, -1 elsewhere) and ``q_value`` the
        latent's significance q-value in that session; ``attrs["method"]`` is ``"joint"``.
    """
    reported = np.flatnonzero(model.ensembles_)
    present = model.presence_.values[reported]
    dicts = []
    for s, session in enumerate(model.sessions_):
        local_ids = np.asarray(model.neuron_ids_[session])
        cols = model.observed_.values[s]
        atoms = model.decoders_.values[s][reported][:, cols]
        # the decoder's neuron order is the union's; the session's local ids in that order
        order = {g: i for i, g in enumerate(model.registry_.global_ids(session, local_ids).tolist())}
        neurons = local_ids[[order[g] for g in model.global_ids_[cols].tolist()]]
        table = model.latent_table_.loc[session].iloc[reported]
        dicts.append(SessionDictionary(session, reported, atoms, neurons, model.global_ids_[cols],
                                       table["frequency"].to_numpy(float), table["stability"].to_numpy(float)))
    nodes = chain_latents(present, model.decoders_.values[:, reported])
    links = pd.DataFrame(columns=["session_a", "row_a", "session_b", "row_b", "p_value", "q_value"])
    settings = {"drift_ratio": drift_ratio, "member_fraction": member_fraction, "method": "joint",
                "registry_hash": model.registry_hash_, "n_latents": model.n_latents_, "k": model.k_}
    tracks = _dataset(dicts, nodes, links, _ceilings(dicts, None), settings)
    q = np.full(tracks["latent"].shape, np.nan)
    for t, node in enumerate(nodes):
        for s, row in node.items():
            q[t, s] = model.latent_table_.loc[model.sessions_[s]]["q_value"].iloc[reported[row]]
    tracks["q_value"] = (("track", "session"), q)
    return tracks


def chain_latents(present: np.ndarray, decoders: np.ndarray) -> list[dict[int, int]]:
    """Tracks as ``{session: row}`` from presence (rows, sessions) and decoders (sessions, rows, neurons; NaN absent).

    Each row is a track where it is present; a row whose presence ends before another's begins is
    continued by it when the first's decoder in its last session and the second's in its first session
    have cosine >= :data:`LINK_COSINE` on the neurons both sessions observed (strongest first).
    """
    spans = {r: np.flatnonzero(present[r]) for r in range(len(present)) if present[r].any()}

    def cosine(a: int, b: int) -> float:
        x, y = decoders[spans[a][-1], a], decoders[spans[b][0], b]
        both = np.isfinite(x) & np.isfinite(y)
        x, y = x[both], y[both]
        return float(x @ y / max(np.linalg.norm(x) * np.linalg.norm(y), 1e-12))

    pairs = sorted(((cosine(a, b), a, b) for a in spans for b in spans if spans[a][-1] < spans[b][0]),
                   reverse=True)
    after, before = {}, {}
    for value, a, b in pairs:
        if value >= LINK_COSINE and a not in after and b not in before:
            after[a], before[b] = b, a
    tracks = []
    for start in sorted(r for r in spans if r not in before):
        track, row = {}, start
        while row is not None:
            track.update({int(s): row for s in spans[row]})
            row = after.get(row)
        tracks.append(track)
    return tracks


def session_dictionaries(model) -> dict[str, xr.DataArray]:
    """Each session's decoders over its own neurons, as per-session fits: what ``track_ensembles`` takes.

    Returns ``{session: DataArray (latents, neurons)}`` with the session's local neuron ids and the
    coordinates ``significant`` (significant and present in that session), ``activation_frequency`` and
    ``stability``, so the joint model can be scored by the same matcher as per-session fits.
    """
    out = {}
    for s, session in enumerate(model.sessions_):
        local_ids = np.asarray(model.neuron_ids_[session])
        column = {g: i for i, g in enumerate(model.global_ids_.tolist())}
        cols = [column[g] for g in model.registry_.global_ids(session, local_ids).tolist()]
        table = model.latent_table_.loc[session]
        out[session] = xr.DataArray(
            model.decoders_.values[s][:, cols], dims=("latents", "neurons"),
            coords={"latents": np.arange(model.n_latents_), "neurons": local_ids,
                    "significant": ("latents", model.significant_.values[:, s]),
                    "activation_frequency": ("latents", table["frequency"].to_numpy(float)),
                    "stability": ("latents", table["stability"].to_numpy(float))})
    return out


def joint_fits(truth, seed: int, cache=None, **params) -> dict[str, xr.DataArray]:
    """The benchmark's hook (``benchmarks/sessions.py`` ``METHODS``): the joint model fitted to a
    :class:`~nwb_sae.synthetic.sessions.SessionsTruth` with its registry, as :func:`session_dictionaries`.

    ``cache`` is accepted for the hook's signature and not used (the fit is not cached).
    """
    from nwb_sae.sessions.joint import MultiSessionSAE
    from nwb_sae.sessions.registry import Registry

    model = MultiSessionSAE(seed=seed, **params).fit(truth.data, registry=Registry.from_table(truth.registry))
    return session_dictionaries(model)


def joint_method(data: dict, registry, *, seed: int = 0, **params) -> xr.Dataset:
    """Fit :class:`~nwb_sae.sessions.joint.MultiSessionSAE` and return its tracks: the benchmark's hook.

    Parameters
    ----------
    data : dict
        ``{session: DataArray (neurons, time, presentations)}``.
    registry : Registry
        The neuron registry.
    seed : int
        Seed of the fit.
    **params
        Other :class:`~nwb_sae.sessions.joint.MultiSessionSAE` parameters.

    Returns
    -------
    xarray.Dataset
        :func:`joint_tracks` of the fitted model.
    """
    from nwb_sae.sessions.joint import MultiSessionSAE

    return joint_tracks(MultiSessionSAE(seed=seed, **params).fit(data, registry=registry))
