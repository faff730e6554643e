"""Does an ensemble prefer a stimulus? Effect size and permutation test over presentation labels.

For one categorical presentation column (trial type, stimulus category, ...), each latent's response to
a presentation is its mean activation over that presentation's time bins. The effect size is
eta-squared, the fraction of the response variance across presentations explained by the labels
(0: no preference, 1: the label determines the response). Its null distribution comes from permuting
the labels across presentations, which keeps every response and every group size; p-values are
``(1 + #{null >= observed}) / (1 + n_permutations)`` and are Benjamini-Hochberg corrected across latents.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nwb_sae.stats.significance import benjamini_hochberg


class SelectivityResult(NamedTuple):
    """Per-latent selectivity for one presentation column."""

    eta_squared: np.ndarray
    """Fraction of response variance explained by the labels, per latent."""
    p_value: np.ndarray
    """Permutation p-value per latent."""
    q_value: np.ndarray
    """Benjamini-Hochberg q-value across the tested latents."""
    preferred: np.ndarray
    """Label with the highest mean response, per latent."""


def eta_squared(responses: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Between-label variance over total variance of each row of ``responses`` (latents, presentations)."""
    responses = np.asarray(responses, dtype=np.float64)
    _, codes = np.unique(np.asarray(labels), return_inverse=True)
    onehot = np.eye(codes.max() + 1)[codes]  # (presentations, labels)
    return _eta_squared(responses - responses.mean(axis=1, keepdims=True), onehot)


def _eta_squared(centred: np.ndarray, onehot: np.ndarray) -> np.ndarray:
    sums = centred @ onehot  # per latent and label: sum of centred responses
    between = (sums**2 / np.maximum(onehot.sum(axis=0), 1)).sum(axis=1)
    total = (centred**2).sum(axis=1)
    return np.where(total > 0, between / np.where(total > 0, total, 1.0), 0.0)


def selectivity_test(responses: np.ndarray, labels, *, n_permutations: int = 1000,
                     seed: int = 0) -> SelectivityResult:
    """Permutation test of each latent's response against a presentation label.

    Parameters
    ----------
    responses : numpy.ndarray
        (latents, presentations): e.g. each latent's mean activation in each presentation.
    labels : array-like
        (presentations,) categorical labels; missing labels (None/NaN) drop those presentations.
    n_permutations : int
        Label permutations of the null distribution.
    seed : int
        Seed of the permutations.

    Returns
    -------
    SelectivityResult

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat(["face", "house"], 40)
    >>> tuned = rng.normal(size=80) + 2.0 * (labels == "face")
    >>> result = selectivity_test(np.stack([tuned, rng.normal(size=80)]), labels, n_permutations=200)
    >>> result.preferred[0], bool(result.q_value[0] < 0.01), bool(result.q_value[1] < 0.05)
    ('face', True, False)
    """
    responses = np.atleast_2d(np.asarray(responses, dtype=np.float64))
    labels = np.asarray(labels, dtype=object)
    present = np.array([v is not None and not (isinstance(v, float) and np.isnan(v)) for v in labels])
    responses, labels = responses[:, present], labels[present].astype(str)
    names, codes = np.unique(labels, return_inverse=True)
    n_lat = responses.shape[0]
    if len(names) < 2 or n_lat == 0:
        ones = np.ones(n_lat)
        return SelectivityResult(np.zeros(n_lat), ones, ones, np.full(n_lat, names[0] if len(names) else "",
                                                                        dtype=object))
    onehot = np.eye(len(names))[codes]
    centred = responses - responses.mean(axis=1, keepdims=True)
    observed = _eta_squared(centred, onehot)
    rng = np.random.default_rng(seed)
    exceed = np.zeros(n_lat)
    for _ in range(n_permutations):
        exceed += _eta_squared(centred, onehot[rng.permutation(len(codes))]) >= observed - 1e-12
    p = (1.0 + exceed) / (1.0 + n_permutations)
    means = (responses @ onehot) / onehot.sum(axis=0)
    preferred = names[means.argmax(axis=1)].astype(object)
    return SelectivityResult(observed, p, benjamini_hochberg(p), preferred)
