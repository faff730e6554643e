"""Windows around events, as plain numpy: no file access, no pynwb.

The one window rule of nwb-sae
------------------------------
A window ``(start, stop)`` in seconds, relative to an event at time ``e``, on a series sampled every
``dt`` seconds, yields ``n = round((stop - start) / dt)`` samples (halves round up). Sample ``k`` of the
window is reported at time ``start + k * dt`` relative to the event.

* Regularly sampled series (``rate``, ``starting_time``): the first sample is the one nearest to
  ``e + start`` (ties go to the later sample), so a reported time is never more than ``dt / 2`` away
  from the sample's true time.
* Timestamped series: the first sample is the timestamp nearest to ``e + start``; the window is kept
  only if every one of its ``n`` timestamps lies within ``dt / 2`` of its reported time (``dt`` is
  the typical timestamp interval, see :func:`median_dt`), so a gap in acquisition never shifts a window silently.
* Spike trains: bin ``k`` counts the spikes in ``[e + start + k * dt, e + start + (k + 1) * dt)``.

A window that does not lie entirely inside the recording is dropped; the readers warn with the count.

Default windows
---------------
Without a window, presentations from an interval table get ``(0, median interval duration)`` (at least
one sample, :func:`default_table_window`); a recording cut into consecutive windows gets windows of
:data:`DEFAULT_WINDOW_SAMPLES` samples, or the whole recording when it is shorter
(:func:`default_consecutive_window`).
"""

from __future__ import annotations

import math

import numpy as np

from nwb_sae.errors import InputDataError

# Relative slack when comparing times that went through float arithmetic (seconds * Hz products).
_EPS = 1e-9

DEFAULT_WINDOW_SAMPLES = 100
"""Samples per window when a recording is cut into consecutive windows and no window is given."""


def as_window(window, shown_as="window") -> tuple[float, float] | None:
    """A window as ``(start, stop)`` floats: a single number ``L`` means ``(0, L)``; None stays None.

    Raises
    ------
    InputDataError
        Not two numbers, not finite, or stop not after start (the message starts with ``shown_as``).

    Examples
    --------
    >>> as_window(1.5), as_window([-0.5, 1]), as_window(None)
    ((0.0, 1.5), (-0.5, 1.0), None)
    """
    if window is None:
        return None
    if np.isscalar(window):
        window = (0.0, float(window))
    try:
        start, stop = (float(v) for v in window)
    except (TypeError, ValueError) as err:
        raise InputDataError(f"{shown_as}: window must be (start, stop) in seconds, got {window!r}.") from err
    if not (np.isfinite(start) and np.isfinite(stop) and stop > start):
        raise InputDataError(f"{shown_as}: window stop must be after start, got {window!r}.")
    return (start, stop)


def default_table_window(durations, dt: float) -> tuple[float, float] | None:
    """``(0, median duration)`` of the intervals with a finite positive duration, at least one sample long.

    Returns None when no interval has a usable duration (the caller says what to do).

    Examples
    --------
    >>> default_table_window([1.0, 2.0, np.nan, 3.0], 0.1)
    (0.0, 2.0)
    >>> default_table_window([0.01], 0.1)
    (0.0, 0.1)
    """
    durations = np.asarray(durations, dtype=float)
    durations = durations[np.isfinite(durations) & (durations > 0)]
    if not len(durations):
        return None
    window = (0.0, float(np.median(durations)))
    return window if n_window_samples(window, dt) >= 1 else (0.0, dt)


def default_consecutive_window(dt: float, t_first: float, t_end: float) -> tuple[float, float]:
    """``(0, L)`` with ``L`` = :data:`DEFAULT_WINDOW_SAMPLES` samples, or fewer for a shorter recording.

    Examples
    --------
    >>> default_consecutive_window(0.5, 0.0, 1000.0)
    (0.0, 50.0)
    >>> default_consecutive_window(0.5, 0.0, 2.0)
    (0.0, 2.0)
    """
    available = int(np.floor((t_end - t_first) / dt + _EPS))
    return (0.0, max(1, min(DEFAULT_WINDOW_SAMPLES, available)) * dt)


def n_window_samples(window: tuple[float, float], dt: float) -> int:
    """Number of samples a window yields: ``round((stop - start) / dt)``, halves rounding up.

    Parameters
    ----------
    window : (float, float)
        Start and stop in seconds relative to the event.
    dt : float
        Sample period (or bin size) in seconds.

    Returns
    -------
    int

    Examples
    --------
    >>> n_window_samples((-0.5, 1.5), 0.1)
    20
    >>> n_window_samples((0.0, 0.125), 0.05)
    3
    """
    start, stop = window
    return int(math.floor((stop - start) / dt + 0.5 + _EPS))


def window_times(window: tuple[float, float], dt: float) -> np.ndarray:
    """Times of a window's samples relative to the event: ``start + k * dt``.

    Examples
    --------
    >>> window_times((-0.2, 0.2), 0.1)
    array([-0.2, -0.1,  0. ,  0.1])
    """
    return window[0] + np.arange(n_window_samples(window, dt)) * dt


def regular_starts(events, window_start: float, rate: float, starting_time: float = 0.0) -> np.ndarray:
    """Index of the first sample of each window on a regularly sampled series.

    The first sample is the one nearest to ``event + window_start``; ties go to the later sample.

    Parameters
    ----------
    events : array_like of float
        Event times in seconds (the file's time base).
    window_start : float
        Window start relative to the event, in seconds.
    rate : float
        Sampling rate in Hz.
    starting_time : float
        Time of sample 0 in seconds.

    Returns
    -------
    numpy.ndarray of int64
        May be negative or past the end: check with :func:`inside`.

    Examples
    --------
    >>> regular_starts([1.0, 2.0], -0.5, rate=10.0, starting_time=0.25)
    array([ 3, 13])
    """
    position = (np.asarray(events, dtype=float) + window_start - starting_time) * rate
    return np.floor(position + 0.5 + _EPS).astype(np.int64)


def inside(starts, n: int, n_total: int) -> np.ndarray:
    """Which windows of ``n`` samples starting at ``starts`` lie inside ``[0, n_total)``.

    Examples
    --------
    >>> inside([-1, 0, 5, 6], 5, 10)
    array([False,  True,  True, False])
    """
    starts = np.asarray(starts)
    return (starts >= 0) & (starts + n <= n_total)


def median_dt(timestamps) -> float:
    """Typical interval between consecutive timestamps, in seconds.

    The mean of the intervals within 50 % of the median interval: gaps (dropped frames, pauses)
    do not count, and symmetric jitter averages out.

    Examples
    --------
    >>> median_dt([0.0, 0.1, 0.2, 0.4])
    0.1
    >>> round(median_dt([0.0, 0.023, 0.04, 0.063, 0.08]), 12)
    0.02
    """
    diffs = np.diff(np.asarray(timestamps, dtype=float))
    if not diffs.size:
        return float("nan")
    middle = float(np.median(diffs))
    typical = diffs[np.abs(diffs - middle) <= 0.5 * abs(middle)]
    return float(typical.mean()) if typical.size else middle


def timestamp_starts(events, window: tuple[float, float], timestamps, dt: float):
    """First sample of each window on a timestamped series, and whether the window is usable.

    Parameters
    ----------
    events : array_like of float
        Event times in seconds.
    window : (float, float)
        Window relative to the events.
    timestamps : array_like of float
        Sorted sample times of the series.
    dt : float
        Nominal sample period (usually :func:`median_dt` of the timestamps).

    Returns
    -------
    starts : numpy.ndarray of int64
        Index of the timestamp nearest to ``event + window[0]`` (ties go to the later one).
    ok : numpy.ndarray of bool
        The window has all its samples and each lies within ``dt / 2`` of its reported time.

    Examples
    --------
    >>> ts = [0.0, 0.1, 0.2, 0.3, 0.5, 0.6]   # a frame is missing at 0.4
    >>> timestamp_starts([0.1, 0.3], (0.0, 0.2), ts, dt=0.1)
    (array([1, 3]), array([ True, False]))
    """
    ts = np.asarray(timestamps, dtype=float)
    begin = np.asarray(events, dtype=float) + window[0]
    n = n_window_samples(window, dt)
    right = np.clip(np.searchsorted(ts, begin), 1, max(len(ts) - 1, 1))
    left = right - 1
    if len(ts) > 1:
        d_left, d_right = np.abs(begin - ts[left]), np.abs(ts[right] - begin)
        nearer_left = d_left < d_right - _EPS * (d_left + d_right)  # ties go to the later sample
    else:
        nearer_left = np.ones_like(begin, dtype=bool)
    starts = np.where(nearer_left, left, right).astype(np.int64)
    ok = inside(starts, n, len(ts))
    tolerance = dt / 2 * (1 + 1e-6)
    k = np.arange(n)
    for i in np.flatnonzero(ok):
        actual = ts[starts[i] : starts[i] + n]
        ok[i] = bool(np.all(np.abs(actual - (begin[i] + k * dt)) <= tolerance))
    return starts, ok


def consecutive_events(t_first: float, t_end: float, window: tuple[float, float]) -> np.ndarray:
    """Event times that tile ``[t_first, t_end)`` with back-to-back windows.

    Window ``p`` covers ``[t_first + p * L, t_first + (p + 1) * L)`` with ``L = stop - start``; its
    event time is ``t_first + p * L - start`` so that the window rule applies unchanged. Only whole
    windows are returned.

    Examples
    --------
    >>> consecutive_events(0.0, 10.0, (0.0, 3.0))
    array([0., 3., 6.])
    """
    length = window[1] - window[0]
    count = int(math.floor((t_end - t_first) / length + _EPS))
    return t_first + np.arange(max(count, 0)) * length - window[0]


def spike_counts(spike_times, events, window: tuple[float, float], bin_size: float) -> np.ndarray:
    """Spike counts of one spike train in bins around each event.

    Parameters
    ----------
    spike_times : array_like of float
        Spike times in seconds, **sorted**.
    events : array_like of float
        Event times in seconds.
    window : (float, float)
        Window relative to the events; it holds :func:`n_window_samples` bins.
    bin_size : float
        Bin width in seconds.

    Returns
    -------
    numpy.ndarray of int64, shape (n_events, n_bins)
        Bin ``k`` counts spikes in ``[e + start + k * bin_size, e + start + (k + 1) * bin_size)``.

    Examples
    --------
    >>> spike_counts([0.05, 0.1, 0.15, 1.0], [0.0, 1.0], (0.0, 0.2), 0.1)
    array([[1, 2],
           [1, 0]])
    """
    n = n_window_samples(window, bin_size)
    events = np.asarray(events, dtype=float)
    edges = events[:, None] + window[0] + np.arange(n + 1)[None, :] * bin_size
    positions = np.searchsorted(np.asarray(spike_times, dtype=float), edges.ravel(), side="left")
    return np.diff(positions.reshape(edges.shape), axis=1)


def binned_grid_counts(spike_times, t0: float, bin_size: float, start: int, stop: int) -> np.ndarray:
    """Spike counts of one sorted spike train in bins ``start..stop-1`` of the grid ``t0 + k * bin_size``.

    Examples
    --------
    >>> binned_grid_counts([0.05, 0.1, 0.15], 0.0, 0.1, 0, 3)
    array([1, 2, 0])
    """
    edges = t0 + np.arange(start, stop + 1) * bin_size
    return np.diff(np.searchsorted(np.asarray(spike_times, dtype=float), edges, side="left"))
