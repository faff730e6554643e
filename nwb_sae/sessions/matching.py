"""Matching the ensembles of two sessions on the neurons both sessions registered, with a null.

Two sessions observe different neurons, so atoms are compared only on the global ids both sessions
hold, renormalised there (a neuron absent from a session is unknown, not silent). A pair of sessions
sharing fewer than ``min_shared`` neurons is not compared at all: it says nothing either way.

The null permutes the global ids among the shared neurons (the registry scrambled, the atoms' weights
kept), and asks how often the best match of the first session's atom among all of the second
session's permuted atoms is at least as good as the observed one. Taking the best over the second
session's atoms puts the Hungarian selection inside the null, so a p-value is valid for a matched pair
even when the second session has many atoms.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from nwb_sae.metrics import orient


class PairMatch(NamedTuple):
    """The one-to-one matches of two sessions' atoms."""

    index_a: np.ndarray
    """Row (atom) of the first session of each match."""
    index_b: np.ndarray
    """Row of the second session."""
    cosine: np.ndarray
    """Cosine of the matched atoms on the shared neurons (each atom renormalised there)."""
    p_value: np.ndarray
    """Permutation p-value of each match (global ids permuted among the shared neurons)."""
    n_shared: int
    """Number of neurons registered in both sessions and present in both fits."""


def shared_positions(ids_a: np.ndarray, ids_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions in ``ids_a`` and ``ids_b`` of the global ids both hold (in sorted id order)."""
    common, ia, ib = np.intersect1d(np.asarray(ids_a, dtype=str), np.asarray(ids_b, dtype=str),
                                    assume_unique=False, return_indices=True)
    return ia, ib


def on_shared(atoms: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Atoms restricted to ``positions`` and renormalised there, signed so their largest weight is positive.

    An atom with no weight on the shared neurons stays all zero (cosine 0 with everything).
    """
    sub = np.asarray(atoms, dtype=float)[:, positions]
    norms = np.linalg.norm(sub, axis=1)
    out = np.zeros_like(sub)
    nonzero = norms > 1e-12
    if nonzero.any():
        out[nonzero] = orient(sub[nonzero])
    return out


def match_pair(atoms_a: np.ndarray, ids_a: np.ndarray, atoms_b: np.ndarray, ids_b: np.ndarray, *,
               min_shared: int = 10, n_permutations: int = 199,
               rng: np.random.Generator | None = None) -> PairMatch | None:
    """Hungarian matching of two sessions' atoms on their shared neurons, each match with a permutation p-value.

    Parameters
    ----------
    atoms_a, atoms_b : ndarray (k_a, n_a), (k_b, n_b)
        The atoms of each session over its own neurons.
    ids_a, ids_b : ndarray of str
        The global id of each neuron (column) of each session.
    min_shared : int
        Fewest shared neurons for a comparison; below it the pair is not compared (None).
    n_permutations : int
        Permutations of the global ids among the shared neurons; the smallest p-value is
        ``1 / (n_permutations + 1)``.
    rng : numpy.random.Generator, optional

    Returns
    -------
    PairMatch or None
        None when the sessions share fewer than ``min_shared`` neurons or one has no atom.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    ia, ib = shared_positions(ids_a, ids_b)
    if len(ia) < min_shared or len(atoms_a) == 0 or len(atoms_b) == 0:
        return None
    a, b = on_shared(atoms_a, ia), on_shared(atoms_b, ib)
    sim = a @ b.T
    rows, cols = linear_sum_assignment(-sim)
    observed = sim[rows, cols]
    exceed = np.zeros(len(rows))
    for _ in range(n_permutations):
        permuted = b[:, rng.permutation(b.shape[1])]
        best = (a[rows] @ permuted.T).max(axis=1)
        exceed += best >= observed - 1e-12
    p_value = (1.0 + exceed) / (1.0 + n_permutations)
    return PairMatch(rows, cols, observed, p_value, len(ia))
