"""Would another seed find the same ensemble? One-to-one matching of dictionaries fitted with several seeds.

Each latent of the reference fit is matched to one distinct atom of every other fit (Hungarian
algorithm on cosine, :func:`nwb_sae.metrics.match_dictionaries`). Its stability is the mean
matched cosine over the other fits, and its consensus atom the mean of the matched atoms,
renormalised. A latent that is a real ensemble is found again; one that fitted noise or an arbitrary
fragment is not.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nwb_sae.metrics import match_dictionaries


class StabilityResult(NamedTuple):
    """Outcome of :func:`seed_stability`."""

    stability: np.ndarray
    """Per reference latent: mean one-to-one cosine with its match in every other seed (0 if unmatched)."""
    matched_fraction: np.ndarray
    """Per reference latent: fraction of the other seeds whose match has cosine >= ``threshold``."""
    consensus: np.ndarray
    """Consensus dictionary (latents, neurons): mean of the matched atoms, unit-norm rows."""
    matched_cosine: np.ndarray
    """(other seeds, latents): cosine of each reference latent's match in each other seed."""


def _normalise(atoms: np.ndarray) -> np.ndarray:
    atoms = np.asarray(atoms, dtype=np.float64)
    return atoms / np.maximum(np.linalg.norm(atoms, axis=1, keepdims=True), 1e-12)


def seed_stability(reference: np.ndarray, others: list[np.ndarray], threshold: float = 0.9
                   ) -> StabilityResult:
    """Match the reference dictionary to dictionaries fitted with other seeds.

    Parameters
    ----------
    reference : numpy.ndarray
        Atoms (latents, neurons) of the reference fit.
    others : list of numpy.ndarray
        Atoms of the other fits; they may hold a different number of latents.
    threshold : float
        Cosine at or above which a match counts as the same ensemble.

    Returns
    -------
    StabilityResult

    Examples
    --------
    >>> a = np.eye(3)
    >>> b = np.eye(3)[[2, 0, 1]]               # the same atoms, in another order
    >>> seed_stability(a, [b]).stability.tolist()
    [1.0, 1.0, 1.0]
    """
    ref = _normalise(reference)
    n = ref.shape[0]
    cosines = np.zeros((len(others), n))
    total = ref.copy()
    for s, other in enumerate(others):
        other = _normalise(other)
        match = match_dictionaries(other, ref)  # signed cosine: codes are non-negative
        cosines[s, match.true_index] = np.clip(match.cosine, 0.0, None)
        total[match.true_index] += other[match.learned_index]
    consensus = _normalise(total)
    stability = cosines.mean(axis=0) if len(others) else np.ones(n)
    matched = (cosines >= threshold).mean(axis=0) if len(others) else np.ones(n)
    return StabilityResult(stability, matched, consensus, cosines)


def same_ensembles(a: np.ndarray, b: np.ndarray, threshold: float = 0.9) -> float:
    """Fraction of the atoms of ``a`` matched one-to-one to an atom of ``b`` with |cosine| >= threshold.

    Symmetric use: ``min(same_ensembles(a, b), same_ensembles(b, a))`` compares two sets of reported
    ensembles (e.g. the significant latents of two seeds).
    """
    if len(a) == 0:
        return 1.0 if len(b) == 0 else 0.0
    if len(b) == 0:
        return 0.0
    return float((match_dictionaries(b, a).cosine >= threshold).sum() / len(a))
