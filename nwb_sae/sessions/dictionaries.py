"""One session's reported ensembles as atoms over global neuron ids: what tracking compares.

Tracking takes whatever a user has for each session: a fitted :class:`~nwb_sae.SAE`, the results
``batch`` wrote into an NWB file (a path or :class:`~nwb_sae.io.results.read.SaeResults`), or a bare
dictionary DataArray (latents, neurons) such as a baseline's components. Each becomes one
:class:`SessionDictionary` holding only the latents the fit reports as ensembles (``significant``), so
latents that failed the fit's own null are never tracked.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import xarray as xr

from nwb_sae.errors import InputDataError


class SessionDictionary(NamedTuple):
    """The reported ensembles of one session."""

    session: str
    latents: np.ndarray
    """(k,) int: the latent index of each atom in the session's own fit."""
    atoms: np.ndarray
    """(k, n) float: the atoms over the session's neurons (rows as the fit gives them)."""
    neurons: np.ndarray
    """(n,) the local neuron ids (the fit's ``neurons`` coordinate)."""
    global_ids: np.ndarray
    """(n,) str: each neuron's global id under the registry."""
    rate: np.ndarray
    """(k,) activation frequency of each latent in its session (NaN: not known)."""
    stability: np.ndarray
    """(k,) the fit's seed stability of each latent (cosine to its match in other seeds; NaN: not measured)."""


def session_dictionary(fit, session: str, registry) -> SessionDictionary:
    """The reported ensembles of ``fit`` (SAE, SaeResults, NWB path or DataArray) as a :class:`SessionDictionary`."""
    if isinstance(fit, str | Path):
        from nwb_sae.io.results.read import read_results

        with read_results(fit, lazy=True) as res:
            return session_dictionary(res, session, registry)
    if hasattr(fit, "latent_table_") and hasattr(fit, "dictionary"):  # a fitted SAE
        atoms = np.asarray(fit.dictionary, dtype=float)
        table = fit.latent_table_
        neurons = np.asarray(fit.neuron_coords_["id"])
        keep = _kept(table["significant"].to_numpy(dtype=bool) if table is not None and "significant" in table
                     else None, len(atoms))
        rate = _column(table, "frequency", len(atoms))
        stability = _column(table, "stability", len(atoms))
        latents = np.arange(len(atoms))
    elif hasattr(fit, "latent_stats") and hasattr(fit, "dictionary"):  # SaeResults
        stats = fit.latent_stats
        atoms = np.asarray(fit.dictionary.values, dtype=float)
        neurons = np.asarray(fit.dictionary["neurons"].values)
        keep = _kept(np.asarray(stats["significant"].values, dtype=bool) if "significant" in stats else None,
                     len(atoms))
        rate = _stat(stats, "activation_frequency", len(atoms))
        stability = _stat(stats, "stability", len(atoms))
        latents = np.asarray(fit.dictionary["latents"].values, dtype=int)
    elif isinstance(fit, xr.DataArray) and set(fit.dims) == {"latents", "neurons"}:
        fit = fit.transpose("latents", "neurons")
        atoms = np.asarray(fit.values, dtype=float)
        neurons = np.asarray(fit["neurons"].values)
        keep = _kept(np.asarray(fit["significant"].values, dtype=bool) if "significant" in fit.coords else None,
                     len(atoms))
        rate = _stat(fit.coords, "activation_frequency", len(atoms))
        stability = _stat(fit.coords, "stability", len(atoms))
        latents = (np.asarray(fit["latents"].values, dtype=int) if "latents" in fit.coords
                   else np.arange(len(atoms)))
    else:
        raise InputDataError(f"session {session!r}: cannot track {type(fit).__name__}; give a fitted nwb_sae.SAE, "
                             "an NWB file batch wrote (or read_results of it), or a DataArray (latents, neurons).")
    return SessionDictionary(str(session), latents[keep], atoms[keep], neurons,
                             registry.global_ids(session, neurons), rate[keep], stability[keep])


def _kept(significant, n: int) -> np.ndarray:
    return np.ones(n, dtype=bool) if significant is None else np.asarray(significant, dtype=bool)


def _column(table, name: str, n: int) -> np.ndarray:
    if table is None or name not in table:
        return np.full(n, np.nan)
    return table[name].to_numpy(dtype=float)


def _stat(stats, name: str, n: int) -> np.ndarray:
    return np.asarray(stats[name].values, dtype=float) if name in stats else np.full(n, np.nan)
