"""The activity's rows made readable: per-neuron normalisation and an order that puts ensembles together.

Raw fluorescence has one baseline per ROI (suite2p's range over four orders of magnitude), so one
contrast for all rows shows the baselines, not the transients. Each neuron is shown z-scored (or as
dF/F) with statistics from a sample of presentations spread over the recording. Rows are ordered
with the selected ensemble's members on top (largest weight first), then the other neurons in a
similarity order (neurons that fire together sit together, as in rastermap's view). Nothing here
imports Qt or napari.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nwb_sae.metrics import MEMBER_FRACTION, member_mask

NORMALISATIONS = ("z-score", "dF/F", "raw")
"""What the activity rows can show: z-scored per neuron (default), (F - F0) / F0, or the file's values."""
BASELINE_PERCENTILE = 20.0
"""F0 of dF/F: this percentile of each neuron's values."""


@dataclass
class NeuronStats:
    """Per-neuron statistics of the activity, from a sample of presentations (source channel order).

    Attributes
    ----------
    mean, std, baseline : numpy.ndarray
        Mean, standard deviation and :data:`BASELINE_PERCENTILE` percentile (F0) of each neuron.
    sample : numpy.ndarray
        (neurons, samples) z-scored values the similarity order is computed from.
    """

    mean: np.ndarray
    std: np.ndarray
    baseline: np.ndarray
    sample: np.ndarray


def neuron_stats(values: np.ndarray) -> NeuronStats:
    """:class:`NeuronStats` of ``values`` shaped (presentations, neurons, time) (NaN ignored).

    Examples
    --------
    >>> s = neuron_stats(np.array([[[1., 3.], [10., 10.]]]))
    >>> s.mean.tolist(), s.std.tolist()
    ([2.0, 10.0], [1.0, 0.0])
    """
    x = np.moveaxis(np.asarray(values, dtype=np.float64), 1, 0).reshape(np.shape(values)[1], -1)
    x = x[:, np.all(np.isfinite(x), axis=0)] if x.size else x
    if x.shape[1] == 0:
        n = x.shape[0]
        return NeuronStats(np.zeros(n), np.zeros(n), np.zeros(n), np.zeros((n, 0)))
    mean, std = x.mean(axis=1), x.std(axis=1)
    baseline = np.percentile(x, BASELINE_PERCENTILE, axis=1)
    sample = (x - mean[:, None]) / np.where(std > 0, std, 1.0)[:, None]
    return NeuronStats(mean, std, baseline, sample)


def sample_presentations(n_presentations: int, n_time: int, max_samples: int = 20_000) -> np.ndarray:
    """Presentations spread evenly over the recording, about ``max_samples`` time bins in all.

    Examples
    --------
    >>> sample_presentations(10, 5, max_samples=20).tolist()
    [0, 3, 6, 9]
    """
    n = int(min(n_presentations, max(1, max_samples // max(n_time, 1))))
    return np.unique(np.linspace(0, n_presentations - 1, n).round().astype(np.int64))


def normalisation(stats: NeuronStats, how: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(offset, scale)`` per neuron so that ``(x - offset) * scale`` is the chosen view (None: raw).

    z-score: (x - mean) / std. dF/F: (x - F0) / |F0|, F0 the low percentile (a neuron whose F0 is about
    zero, e.g. deconvolved or spike counts, is divided by its std instead). A constant neuron stays 0.

    Examples
    --------
    >>> s = NeuronStats(np.array([2.0, 5.0]), np.array([1.0, 0.0]), np.array([1.0, 5.0]), np.zeros((2, 0)))
    >>> [a.tolist() for a in normalisation(s, "z-score")]
    [[2.0, 5.0], [1.0, 0.0]]
    >>> [a.tolist() for a in normalisation(s, "dF/F")]
    [[1.0, 5.0], [1.0, 0.2]]
    """
    if how == "raw":
        return None, None
    if how not in NORMALISATIONS:
        raise ValueError(f"normalisation must be one of {NORMALISATIONS}, not {how!r}")
    std = np.where(stats.std > 0, stats.std, np.inf)
    if how == "z-score":
        return stats.mean, 1.0 / std
    f0 = np.abs(stats.baseline)
    tiny = f0 <= 1e-6 * np.maximum(np.abs(stats.mean), 1e-12)
    return stats.baseline, np.where(tiny, 1.0 / std, 1.0 / np.where(tiny, 1.0, f0))


def similarity_order(sample: np.ndarray) -> np.ndarray:
    """Neurons ordered so that correlated ones sit together: by angle on the first two principal axes.

    A one-dimensional embedding in the spirit of rastermap's sort, in one SVD: neurons that fire
    together have nearby loadings on the leading components.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(2, 500))
    >>> x = np.stack([a, b, a, b, a]) + 0.1 * rng.normal(size=(5, 500))
    >>> order = similarity_order(x).tolist()
    >>> sorted(order[:3]) in ([0, 2, 4], [1, 3]) or sorted(order[2:]) == [0, 2, 4]
    True
    """
    x = np.nan_to_num(np.asarray(sample, dtype=np.float64))
    n = x.shape[0]
    if n < 3 or x.shape[1] < 2:
        return np.arange(n)
    x = x - x.mean(axis=1, keepdims=True)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    loadings = u[:, :2] * s[:2]
    angle = np.arctan2(loadings[:, 1], loadings[:, 0])
    cut = np.argmax(np.diff(np.sort(angle), append=np.sort(angle)[0] + 2 * np.pi))  # start after the widest gap
    start = np.sort(angle)[(cut + 1) % n]
    return np.argsort((angle - start) % (2 * np.pi), kind="stable")


def members(atom: np.ndarray, fraction: float = MEMBER_FRACTION) -> np.ndarray:
    """The neurons of an ensemble: weight at least ``fraction`` of the largest, largest first.

    Examples
    --------
    >>> members(np.array([0.1, 0.9, -0.8, 0.5, 0.6])).tolist()
    [1, 4, 3]
    """
    w = np.asarray(atom, dtype=float)
    chosen = np.flatnonzero(member_mask(w, fraction)[0])
    return chosen[np.argsort(-w[chosen], kind="stable")]


def row_order(atom: np.ndarray | None, similarity: np.ndarray, how: str = "members") -> np.ndarray:
    """Which neuron each activity row shows.

    ``members``: the ensemble's members on top (largest weight first), the others in ``similarity``
    order; ``similarity``: the similarity order; ``file``: the file's order.

    Examples
    --------
    >>> row_order(np.array([0., 0.2, 1.0, 0.]), np.array([3, 1, 0, 2])).tolist()
    [2, 3, 1, 0]
    """
    n = len(similarity)
    if how == "file":
        return np.arange(n)
    if how == "similarity" or atom is None:
        return np.asarray(similarity, dtype=np.int64)
    top = members(atom)
    rest = [i for i in np.asarray(similarity).tolist() if i not in set(top.tolist())]
    return np.concatenate([top, np.asarray(rest, dtype=np.int64)]).astype(np.int64)
