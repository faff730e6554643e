"""Plain functions behind the SAE code browser: statistics, sorting, selectivity, condition averages.

Everything here works on numpy / pandas / xarray objects and imports neither Qt nor napari, so the
tests call it directly and the widget only wires it to buttons and plots.
"""

from __future__ import annotations

import warnings
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np
import pandas as pd

MAX_LEVELS = 40
"""A presentation column with more distinct values than this is not offered for grouping."""


@dataclass
class Summary:
    """Per-presentation and per-condition summaries of the codes, from one pass over the file.

    Attributes
    ----------
    presentation_means : numpy.ndarray
        (presentations, latents): each latent's mean code within each presentation's window.
    column : str or None
        The presentation column the conditions come from (None: one condition, 'all').
    levels : numpy.ndarray
        The distinct values of that column (the conditions), sorted.
    condition_means : numpy.ndarray
        (conditions, latents, time): mean code time course per condition (NaN for an empty condition).
    counts : numpy.ndarray
        Presentations per condition.
    condition_sem : numpy.ndarray
        (conditions, latents, time): standard error of ``condition_means``.
    null_band : numpy.ndarray or None
        (latents, time): 95th percentile of the condition means when the condition labels are shifted
        circularly along the presentations (:data:`N_SHIFTS` shifts, conditions pooled); None with one
        condition.
    trace : numpy.ndarray
        (latents, presentations * segments): each latent's code over the whole session, every window
        cut into ``len(trace_bins)`` segments (their mean), at most :data:`MAX_TRACE` points in all.
    trace_bins : list of numpy.ndarray
        The window's samples averaged into each segment.
    """

    presentation_means: np.ndarray
    column: str | None
    levels: np.ndarray
    condition_means: np.ndarray
    counts: np.ndarray
    condition_sem: np.ndarray | None = None
    null_band: np.ndarray | None = None
    trace: np.ndarray | None = None
    trace_bins: list | None = None


def condition_labels(values) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values (levels) of a presentation column and each presentation's level index.

    Missing values (NaN, None, empty string) get index -1 and belong to no condition.

    Parameters
    ----------
    values : array-like
        One value per presentation.

    Returns
    -------
    levels : numpy.ndarray
    index : numpy.ndarray of int

    Examples
    --------
    >>> condition_labels(["b", "a", "b", None])
    (array(['a', 'b'], dtype=object), array([ 1,  0,  1, -1]))
    """
    codes, levels = pd.factorize(pd.Series(list(values)).replace("", np.nan), sort=True)
    return np.asarray(levels), np.asarray(codes, dtype=np.int64)


def grouping_columns(table: pd.DataFrame | None, max_levels: int = MAX_LEVELS) -> list[str]:
    """Columns of a presentation table that make sensible conditions (2 to ``max_levels`` distinct values).

    Times (``start_time``, ``stop_time``, ...) and columns holding arrays are left out.

    Examples
    --------
    >>> t = pd.DataFrame({"start_time": [0., 1., 2.], "condition": [1, 2, 1], "x": [1, 1, 1]})
    >>> grouping_columns(t)
    ['condition']
    """
    if table is None:
        return []
    names = []
    for name in table.columns:
        if name.endswith("_time") or name in ("id", "timeseries", "tags"):
            continue
        column = table[name]
        try:
            n = column.nunique(dropna=True)
        except TypeError:  # arrays or lists in cells
            continue
        if 2 <= n <= max_levels:
            names.append(str(name))
    return names


def summary_steps(codes, table: pd.DataFrame | None = None, column: str | None = None,
                  batch: int = 128) -> Generator[float, None, Summary]:
    """One pass over all presentations, as a generator: yields the fraction done, returns a :class:`Summary`.

    Each step reads ``batch`` presentations; whoever drives the generator can stop between steps
    (napari's ``thread_worker`` does on ``quit()``), so no partial result is ever returned.

    Parameters
    ----------
    codes : AlignedArray or numpy.ndarray
        (presentations, latents, time).
    table : pandas.DataFrame, optional
        The presentation table (one row per presentation).
    column : str, optional
        Column of ``table`` giving the conditions; without it all presentations form one condition 'all'.
    batch : int
        Presentations read at once (memory: batch x latents x time floats).

    Examples
    --------
    >>> steps = summary_steps(np.ones((5, 2, 3)), batch=2)
    >>> [round(f, 1) for f in steps]
    [0.4, 0.8, 1.0]
    """
    if column is not None and table is not None and column in table:
        levels, labels = condition_labels(table[column].to_numpy())
    else:
        column, levels = None, np.array(["all"], dtype=object)
        labels = np.zeros(codes.shape[0], dtype=np.int64)
    n_pres, n_latents, n_time = codes.shape
    means = np.full((n_pres, n_latents), np.nan, dtype=np.float32)
    sums = np.zeros((len(levels), n_latents, n_time), dtype=np.float64)
    squares = np.zeros_like(sums)
    counts = np.zeros(len(levels), dtype=np.int64)
    shifted = shifted_labels(labels, len(levels), n_latents * n_time)
    null_sums = np.zeros((len(shifted), len(levels), n_latents, n_time), dtype=np.float64)
    segments = np.array_split(np.arange(n_time), max(1, min(n_time, MAX_TRACE // max(n_pres, 1))))
    trace = np.zeros((n_latents, n_pres, len(segments)), dtype=np.float32)
    windows = getattr(codes, "read", None)  # AlignedArray.read: no shared cache, fine in a worker thread
    for start in range(0, n_pres, batch):
        idx = np.arange(start, min(start + batch, n_pres))
        block = windows(idx) if windows else np.asarray(codes[start:idx[-1] + 1], dtype=np.float32)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # 'Mean of empty slice': a window of NaN only
            means[idx] = np.nanmean(block, axis=2)
        lab = labels[idx]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            trace[:, idx] = np.stack([np.nanmean(block[:, :, seg], axis=2) for seg in segments], axis=2
                                     ).transpose(1, 0, 2)
        block = np.nan_to_num(block, nan=0.0)
        for level in np.unique(lab[lab >= 0]):  # (np.add.at is ~70x slower and holds the GIL)
            chosen = block[lab == level]
            sums[level] += chosen.sum(axis=0)
            squares[level] += (chosen.astype(np.float64) ** 2).sum(axis=0)
            counts[level] += chosen.shape[0]
        for s, shifted_lab in enumerate(shifted):
            lab = shifted_lab[idx]
            for level in np.unique(lab[lab >= 0]):
                null_sums[s, level] += block[lab == level].sum(axis=0)
        yield min(1.0, (start + batch) / n_pres)
    with np.errstate(invalid="ignore", divide="ignore"):
        n = counts[:, None, None]
        cond = sums / n
        sem = np.sqrt(np.maximum(squares / n - cond ** 2, 0.0) / np.maximum(n - 1, 1))
        band = None
        if len(shifted):
            null = (null_sums / n[None]).reshape(-1, n_latents, n_time)
            band = np.nanpercentile(null, 95, axis=0).astype(np.float32)
    return Summary(means, column, levels, cond.astype(np.float32), counts, sem.astype(np.float32), band,
                   trace.reshape(n_latents, -1), segments)


MAX_TRACE = 4000
"""Most points of a latent's session trace (:attr:`Summary.trace`)."""


N_SHIFTS = 20
"""Circular shifts of the condition labels behind :attr:`Summary.null_band`."""


def shifted_labels(labels: np.ndarray, n_levels: int, per_level: int, budget: int = 20_000_000,
                   seed: int = 0) -> list[np.ndarray]:
    """Condition labels shifted circularly along the presentations, for the null of the condition means.

    Shifting keeps each condition's number of presentations and the order of events, and breaks the
    link between a presentation's condition and its codes. Up to :data:`N_SHIFTS` shifts, fewer when
    their sums would pass ``budget`` numbers; none with fewer than two conditions.

    Examples
    --------
    >>> [s.tolist() for s in shifted_labels(np.array([0, 0, 1, 1]), 2, 1)][:1] in ([[0, 1, 1, 0]], [[1, 0, 0, 1]],
    ...                                                                          [[1, 1, 0, 0]])
    True
    """
    labels = np.asarray(labels)
    n = labels.size
    if n_levels < 2 or n < 3:
        return []
    n_shifts = int(min(N_SHIFTS, budget // max(n_levels * per_level, 1)))
    offsets = np.random.default_rng(seed).integers(1, n, size=n_shifts)
    return [np.roll(labels, int(k)) for k in offsets]


def session_band(values: np.ndarray, q: float = 95.0) -> float:
    """The level a window's mean code passes by chance: the ``q`` percentile of the windows' means.

    Under circular shifts of the code along the session every window takes each window's value
    equally often, so the null distribution of any one window is the distribution of all of them.

    Examples
    --------
    >>> session_band(np.arange(101.0))
    95.0
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(np.percentile(v, q)) if v.size else float("nan")


def make_summary(codes, table: pd.DataFrame | None = None, column: str | None = None,
                 batch: int = 128) -> Summary:
    """Run :func:`summary_steps` to the end (in the calling thread).

    Examples
    --------
    >>> make_summary(np.ones((5, 2, 3)), batch=2).condition_means.shape
    (1, 2, 3)
    """
    steps = summary_steps(codes, table, column, batch)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def selectivity(presentation_means: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How much of each latent's variance across presentations the condition explains (eta squared).

    Parameters
    ----------
    presentation_means : numpy.ndarray
        (presentations, latents) mean code per presentation.
    labels : numpy.ndarray
        Condition index per presentation (-1: excluded).

    Returns
    -------
    eta2 : numpy.ndarray
        (latents,) between-condition sum of squares over total sum of squares, in [0, 1]
        (0 for a latent that never varies).
    preferred : numpy.ndarray of int
        (latents,) index of the condition with the largest mean (-1 when undefined).

    Examples
    --------
    >>> m = np.array([[1., 0.], [1., 1.], [0., 0.], [0., 1.]])
    >>> eta2, pref = selectivity(m, np.array([0, 0, 1, 1]))
    >>> eta2.round(2).tolist(), pref.tolist()
    ([1.0, 0.0], [0, 0])
    """
    x = np.asarray(presentation_means, dtype=np.float64)
    labels = np.asarray(labels)
    ok = (labels >= 0) & np.all(np.isfinite(x), axis=1)
    x, lab = x[ok], labels[ok]
    n_latents = x.shape[1]
    if x.shape[0] == 0 or lab.max(initial=-1) < 0:
        return np.zeros(n_latents), np.full(n_latents, -1)
    n_levels = int(lab.max()) + 1
    counts = np.bincount(lab, minlength=n_levels).astype(float)
    onehot = np.zeros((n_levels, lab.size))
    onehot[lab, np.arange(lab.size)] = 1.0
    sums = onehot @ x
    present = counts > 0
    means = np.where(present[:, None], sums / np.maximum(counts, 1)[:, None], -np.inf)
    grand = x.mean(axis=0)
    between = (counts[present, None] * (means[present] - grand) ** 2).sum(axis=0)
    total = ((x - grand) ** 2).sum(axis=0)
    eta2 = np.divide(between, total, out=np.zeros(n_latents), where=total > 1e-12 * max(1.0, total.max()))
    preferred = np.where(total > 0, np.argmax(means, axis=0), -1)
    return np.clip(eta2, 0.0, 1.0), preferred


def top_presentations(presentation_means: np.ndarray, latent: int, n: int = 10) -> np.ndarray:
    """The ``n`` presentations where ``latent`` is most active (largest mean code), best first.

    Examples
    --------
    >>> top_presentations(np.array([[0.], [3.], [np.nan], [1.]]), 0, n=2)
    array([1, 3])
    """
    column = np.asarray(presentation_means)[:, latent].astype(float)
    column = np.where(np.isfinite(column), column, -np.inf)
    order = np.argsort(-column, kind="stable")
    order = order[np.isfinite(column[order])]
    return order[:n]


def match_neurons(dictionary_ids, activity_ids) -> np.ndarray | None:
    """Position in the activity of each neuron of the dictionary, or None when some are not there.

    A dictionary learned on a subset of the neurons (e.g. only ROIs classified as cells) matches;
    one naming neurons the activity does not have, or naming one twice, does not.

    Examples
    --------
    >>> match_neurons([7, 3], [3, 5, 7]).tolist()
    [2, 0]
    >>> match_neurons([7, 9], [3, 5, 7]) is None
    True
    """
    d = np.asarray(dictionary_ids).astype(str)
    a = np.asarray(activity_ids).astype(str)
    if len(np.unique(d)) != d.size or len(np.unique(a)) != a.size:
        return None if not np.array_equal(d, a) else np.arange(a.size)
    where = {v: i for i, v in enumerate(a.tolist())}
    positions = [where.get(v, -1) for v in d.tolist()]
    return None if -1 in positions else np.asarray(positions, dtype=np.int64)


def neuron_set_problem(dictionary_ids, activity_ids, results_where: str, activity_where: str) -> str | None:
    """Why a dictionary cannot be shown against an activity's neurons, or None when it can.

    Parameters
    ----------
    dictionary_ids, activity_ids : array-like
        Neuron ids along the dictionary's neuron axis and along the activity's neuron axis.
    results_where, activity_where : str
        Where they come from, for the message (``"file.nwb: processing/sae"``).

    Returns
    -------
    str or None

    Examples
    --------
    >>> neuron_set_problem([1, 2, 3], [1, 2, 3], "r", "a") is None
    True
    >>> print(neuron_set_problem([1, 2, 9], [1, 2, 3, 4], "r", "a"))
    The results in r were computed on a different neuron set than a: 1 of their 3 neuron ids (e.g. 9) are not among its 4 neurons, so the dictionary atoms cannot be shown on this recording. Open the file the results were written for.
    """
    if match_neurons(dictionary_ids, activity_ids) is not None:
        return None
    d = np.asarray(dictionary_ids).astype(str)
    a = np.asarray(activity_ids).astype(str)
    missing = d[~np.isin(d, a)]
    what = (f"{missing.size} of their {d.size} neuron ids (e.g. {', '.join(missing[:3].tolist())}) are not "
            f"among its {a.size} neurons" if missing.size else "their neuron ids are repeated")
    return (f"The results in {results_where} were computed on a different neuron set than {activity_where}: "
            f"{what}, so the dictionary atoms cannot be shown on this recording. Open the file the "
            "results were written for.")


def robust_limits(values: np.ndarray, symmetric: bool = False, q: float = 99.5) -> tuple[float, float]:
    """Contrast limits for an image: (low, high) percentiles ignoring NaN, never an empty range.

    Examples
    --------
    >>> robust_limits(np.array([0., 1., 2.]), q=100)
    (0.0, 2.0)
    >>> robust_limits(np.array([-1., 0.5]), symmetric=True, q=100)
    (-1.0, 1.0)
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (0.0, 1.0)
    if symmetric:
        m = float(np.percentile(np.abs(v), q))
        m = m if m > 0 else 1.0
        return (-m, m)
    lo, hi = float(np.percentile(v, 100 - q)), float(np.percentile(v, q))
    if hi <= lo:
        hi = lo + 1.0
    return (lo, hi)
