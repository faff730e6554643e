"""How good a sparse code is: reconstruction, sparsity, latent health, and recovery of a known dictionary.

All functions take numpy arrays with samples on the first axis: ``x`` (samples, neurons),
``codes`` (samples, latents); dictionaries are (atoms, neurons).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment


def fvu(x: np.ndarray, x_hat: np.ndarray) -> float:
    """Fraction of variance unexplained.

    FVU = sum of squared error / sum of squared deviation of ``x`` from its mean over samples,
    i.e. ``sum((x - x_hat)**2) / sum((x - x.mean(axis=0))**2)``. 0 is perfect; 1 is no better than
    predicting every sample by the mean.

    Parameters
    ----------
    x, x_hat : numpy.ndarray
        Data and reconstruction, shaped (samples, neurons).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0.0], [2.0]])
    >>> fvu(x, np.array([[1.0], [1.0]]))
    1.0
    """
    x = np.asarray(x, dtype=np.float64)
    err = np.sum((x - np.asarray(x_hat, dtype=np.float64)) ** 2)
    total = np.sum((x - x.mean(axis=0, keepdims=True)) ** 2)
    return float(err / total) if total > 0 else float("nan")


def l0(codes: np.ndarray) -> float:
    """Mean number of non-zero latents per sample."""
    return float(np.count_nonzero(codes, axis=1).mean())


def activation_frequency(codes: np.ndarray) -> np.ndarray:
    """Fraction of samples in which each latent is non-zero, shaped (latents,)."""
    return np.count_nonzero(codes, axis=0) / max(codes.shape[0], 1)


def dead_fraction(codes: np.ndarray) -> float:
    """Fraction of latents that are zero on every sample."""
    return float(np.mean(activation_frequency(codes) == 0))


def dense_fraction(codes: np.ndarray, threshold: float = 0.1) -> float:
    """Fraction of latents active on more than ``threshold`` of the samples (default 10%)."""
    return float(np.mean(activation_frequency(codes) > threshold))


def code_report(x: np.ndarray, x_hat: np.ndarray, codes: np.ndarray) -> dict:
    """FVU of the reconstruction, L0, dead and dense fractions of the codes, as a dict of floats."""
    return {"fvu": fvu(x, x_hat), "l0": l0(codes), "dead_fraction": dead_fraction(codes),
            "dense_fraction": dense_fraction(codes)}


def cosine_matrix(learned: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Cosine similarity between every true atom (rows) and every learned atom (columns)."""
    a = np.asarray(true, dtype=np.float64)
    b = np.asarray(learned, dtype=np.float64)
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return a @ b.T


def mmcs(learned: np.ndarray, true: np.ndarray) -> float:
    """Mean max cosine similarity: for each true atom the best signed cosine to any learned atom, averaged."""
    return float(cosine_matrix(learned, true).max(axis=1).mean())


def fraction_recovered(learned: np.ndarray, true: np.ndarray, threshold: float = 0.9) -> float:
    """Fraction of true atoms whose best learned match has cosine above ``threshold``."""
    return float(np.mean(cosine_matrix(learned, true).max(axis=1) > threshold))


class Matching(NamedTuple):
    """One-to-one assignment of learned atoms to true atoms (Hungarian algorithm)."""

    true_index: np.ndarray
    """Index of each matched true atom."""
    learned_index: np.ndarray
    """Index of the learned atom assigned to it."""
    cosine: np.ndarray
    """Cosine of each matched pair."""
    mean_cosine: float
    """Mean cosine over all true atoms (unmatched atoms count as 0)."""


def match_dictionaries(learned: np.ndarray, true: np.ndarray) -> Matching:
    """Match each true atom to a distinct learned atom, maximising the total cosine similarity."""
    sim = cosine_matrix(learned, true)
    rows, cols = linear_sum_assignment(-sim)
    cos = sim[rows, cols]
    return Matching(rows, cols, cos, float(cos.sum() / sim.shape[0]))


def recovery_report(learned: np.ndarray, true: np.ndarray) -> dict:
    """MMCS, fraction recovered above 0.9 and one-to-one mean cosine, as a dict of floats."""
    return {
        "mmcs": mmcs(learned, true),
        "recovered_0.9": fraction_recovered(learned, true, 0.9),
        "hungarian_mean_cosine": match_dictionaries(learned, true).mean_cosine,
    }


# Assembly recovery: how many returned patterns are real, and how many planted ones were found.
# Patterns of PCA/ICA-type methods have an arbitrary sign, so these scores use |cosine|.

def _patterns(*arrays: np.ndarray) -> list[np.ndarray]:
    """Each array as (patterns, neurons) float64; an empty one has no rows."""
    return [np.atleast_2d(np.asarray(a, dtype=np.float64)).reshape(-1, np.shape(a)[-1]) for a in arrays]


def orient(patterns: np.ndarray) -> np.ndarray:
    """Unit-norm rows, each signed so that its largest-magnitude weight is positive.

    Examples
    --------
    >>> orient(np.array([[0.0, -3.0, 4.0], [0.0, -4.0, 3.0]]))
    array([[ 0. , -0.6,  0.8],
           [-0. ,  0.8, -0.6]])
    """
    (p,) = _patterns(patterns)
    p = p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12)
    largest = p[np.arange(len(p)), np.argmax(np.abs(p), axis=1)] if len(p) else np.zeros(0)
    return p * np.where(largest < 0, -1.0, 1.0)[:, None]

def precision(learned: np.ndarray, true: np.ndarray) -> float:
    """Mean over the returned patterns of the best absolute cosine with any planted one.

    1 means every returned pattern is a planted one; spurious patterns pull it towards 0.

    Parameters
    ----------
    learned : numpy.ndarray
        The reported patterns, (patterns, neurons) (e.g. only the significant latents).
    true : numpy.ndarray
        The planted patterns, (atoms, neurons).

    Returns
    -------
    float
        nan when nothing is reported (nothing to score); 0.0 when patterns are reported but none is planted.

    Examples
    --------
    >>> import numpy as np
    >>> true = np.eye(3)
    >>> precision(np.array([[1.0, 0, 0], [0, 0, -2.0], [1.0, 1.0, 0]]), true)  # 1, 1, 1/sqrt(2)
    0.9023689270621825
    """
    learned, true = _patterns(learned, true)
    if not len(learned):
        return float("nan")
    if not len(true):
        return 0.0
    return float(np.abs(cosine_matrix(true, learned)).max(axis=1).mean())


def fraction_found(learned: np.ndarray, true: np.ndarray, threshold: float = 0.9) -> float:
    """Fraction of planted patterns whose best absolute cosine with a returned pattern exceeds ``threshold``.

    Returns nan when nothing was planted and 0.0 when nothing was returned.

    Examples
    --------
    >>> import numpy as np
    >>> fraction_found(np.array([[1.0, 0.1, 0]]), np.eye(3))
    0.3333333333333333
    """
    learned, true = _patterns(learned, true)
    if not len(true):
        return float("nan")
    if not len(learned):
        return 0.0
    return float(np.mean(np.abs(cosine_matrix(learned, true)).max(axis=1) > threshold))


def binarise(patterns: np.ndarray) -> np.ndarray:
    """Member sets of patterns: weights above half the pattern's largest weight.

    Each pattern is first oriented by :func:`orient` (the sign of a PCA/ICA pattern is arbitrary); its members are the neurons whose weight exceeds half that weight.
    Half the maximum (rather than mean + 2 SD, which fails for small populations where a few equal
    member weights set the SD) keeps every member of an equal-weight planted assembly.

    Parameters
    ----------
    patterns : numpy.ndarray
        (patterns, neurons).

    Returns
    -------
    numpy.ndarray of bool, (patterns, neurons)
    """
    oriented = orient(patterns)
    return oriented > 0.5 * oriented.max(axis=1, keepdims=True, initial=0.0)


def best_match(learned: np.ndarray, true: np.ndarray) -> float:
    """BestMatch score (Mölter, Avitan & Goodhill 2018) on binarised patterns.

    Both dictionaries are turned into member sets by :func:`binarise` (weights above half the
    pattern's largest weight); each planted assembly is scored by its best Jaccard index
    ``|A & B| / |A | B|`` with any returned assembly, and the scores are averaged over the planted ones.
    1 means every planted assembly's members were returned exactly.

    Returns nan when nothing was planted and 0.0 when nothing was returned.

    Examples
    --------
    >>> import numpy as np
    >>> true = np.array([[1.0, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]])
    >>> best_match(np.array([[0.9, 1.0, 0.8, 0.1, 0, 0]]), true)  # first exact, second missed
    0.5
    """
    learned, true = _patterns(learned, true)
    if not len(true):
        return float("nan")
    if not len(learned):
        return 0.0
    a = binarise(true).astype(np.float64)
    b = binarise(learned).astype(np.float64)
    both = a @ b.T
    either = a.sum(1)[:, None] + b.sum(1)[None, :] - both
    return float((both / np.maximum(either, 1.0)).max(axis=1).mean())


def assembly_report(learned: np.ndarray, true: np.ndarray) -> dict:
    """Hungarian-matched mean cosine, fraction found above 0.9, precision, BestMatch and the count reported."""
    learned, true = _patterns(learned, true)
    n_reported = len(learned)
    if len(true) == 0:
        matched = float("nan")
    else:
        matched = match_dictionaries(learned, true).mean_cosine if n_reported else 0.0
    return {
        "hungarian_mean_cosine": matched,
        "found_0.9": fraction_found(learned, true),
        "precision": precision(learned, true),
        "best_match": best_match(learned, true),
        "n_reported": n_reported,
    }


MEMBER_FRACTION = 0.5
"""A neuron is a member of an ensemble when its weight is at least this fraction of the atom's largest."""


def member_mask(atoms: np.ndarray, fraction: float = MEMBER_FRACTION) -> np.ndarray:
    """(latents, neurons) bool: the members of each atom, neurons whose weight is at least ``fraction``
    of its largest (none for an atom without a positive weight).

    Examples
    --------
    >>> member_mask(np.array([[1., 0.6, 0.1], [0., 0., 0.]])).tolist()
    [[True, True, False], [False, False, False]]
    """
    d = np.atleast_2d(np.asarray(atoms, dtype=float))
    top = d.max(axis=1, initial=0.0)[:, None]
    return (d >= fraction * top) & (top > 0)


def ensemble_sizes(atoms: np.ndarray, fraction: float = MEMBER_FRACTION) -> np.ndarray:
    """Number of members of each atom (:func:`member_mask`).

    Examples
    --------
    >>> ensemble_sizes(np.array([[1., 0.6, 0.1], [0., 0., 0.]])).tolist()
    [2, 0]
    """
    return member_mask(atoms, fraction).sum(axis=1)
