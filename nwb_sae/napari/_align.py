"""Presentation windows over a long (samples, channels) series, read only when asked for.

This is what keeps the napari viewer lazy: :class:`AlignedArray` looks like a numpy array shaped
(presentations, channels, time) but reads a presentation's window from the source only when napari
(or a summary pass) indexes it. Nothing here imports Qt or napari.

The window rule is the package's one rule: a window ``(start, stop)`` around an event yields
``round((stop - start) / dt)`` samples, the first at ``event + start``; a sample time matches when it is
within half a sample of the wanted time.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np

Reader = Callable[[int, int], np.ndarray]
"""``read(start, stop)`` -> array (stop - start, channels) of the source's samples ``start:stop``."""


def sample_period(times: np.ndarray) -> float:
    """Median spacing of ``times`` (seconds per sample).

    Parameters
    ----------
    times : numpy.ndarray
        Sample times, increasing, at least two.

    Returns
    -------
    float

    Examples
    --------
    >>> sample_period(np.arange(5) * 0.1)
    0.1
    """
    times = np.asarray(times, dtype=float)
    if times.size < 2:
        raise ValueError("need at least two sample times to know the sampling period")
    step = max(1, times.size // 1000)  # a thousand spacings are enough to know the period
    return float(np.round(np.median(np.diff(times[::step])) / step, 12))


def window_starts(times: np.ndarray, events: np.ndarray, window: tuple[float, float],
                  dt: float | None = None) -> tuple[np.ndarray, int]:
    """First sample index of each presentation's window, and the number of samples per window.

    Parameters
    ----------
    times : numpy.ndarray
        Sample times of the source, increasing (seconds).
    events : numpy.ndarray
        Event time of each presentation (seconds).
    window : (float, float)
        ``(start, stop)`` relative to each event, seconds.
    dt : float, optional
        Seconds per sample; the median spacing of ``times`` by default.

    Returns
    -------
    starts : numpy.ndarray of int64
        Index of the first sample of each window (may be negative or past the end: those samples are
        padded with NaN when read).
    n_time : int
        Samples per window, ``round((stop - start) / dt)``.

    Examples
    --------
    >>> t = np.arange(100) * 0.1
    >>> window_starts(t, np.array([1.0, 2.0]), (-0.2, 0.3))
    (array([ 8, 18]), 5)
    """
    times = np.asarray(times, dtype=float)
    dt = sample_period(times) if dt is None else float(dt)
    n_time = int(round((window[1] - window[0]) / dt))
    if n_time < 1:
        raise ValueError(f"window {window} is shorter than one sample ({dt} s)")
    wanted = np.asarray(events, dtype=float) + window[0]
    starts = np.searchsorted(times, wanted - dt / 2).astype(np.int64)
    # before the first sample or after the last one: extrapolate on the regular grid
    before = wanted < times[0] - dt / 2
    starts[before] = np.round((wanted[before] - times[0]) / dt).astype(np.int64)
    after = wanted > times[-1] + dt / 2
    starts[after] = times.size - 1 + np.round((wanted[after] - times[-1]) / dt).astype(np.int64)
    return starts, n_time


def consecutive_starts(n_samples: int, n_time: int) -> np.ndarray:
    """Starts of back-to-back whole windows of ``n_time`` samples over a recording (as ``read_nwb`` cuts it).

    Examples
    --------
    >>> consecutive_starts(10, 4)
    array([0, 4])
    """
    return np.arange(max(int(n_samples) // int(n_time), 1), dtype=np.int64) * int(n_time)


def read_windows(read: Reader, starts: np.ndarray, n_time: int, n_samples: int, n_channels: int,
                 max_span: int = 1 << 16) -> np.ndarray:
    """Read the windows starting at ``starts`` as one array (len(starts), channels, time).

    Windows close together are read with one call of ``read`` (spans up to ``max_span`` samples), so a
    batch of neighbouring presentations costs one HDF5 read. Samples outside ``[0, n_samples)`` are NaN.

    Parameters
    ----------
    read : callable
        ``read(start, stop)`` -> (stop - start, n_channels) array.
    starts : numpy.ndarray
        First sample of each window.
    n_time, n_samples, n_channels : int
        Window length, length of the source, number of channels of the source.
    max_span : int
        Largest number of samples read at once.

    Returns
    -------
    numpy.ndarray
        float32, shaped (len(starts), n_channels, n_time).
    """
    starts = np.asarray(starts, dtype=np.int64)
    out = np.full((starts.size, n_channels, n_time), np.nan, dtype=np.float32)
    lo = np.clip(starts, 0, n_samples)
    hi = np.clip(starts + n_time, 0, n_samples)
    order = np.argsort(lo, kind="stable")
    i = 0
    while i < order.size:
        group_lo = lo[order[i]]
        j = i
        group_hi = group_lo
        while j < order.size and max(group_hi, hi[order[j]]) - group_lo <= max(max_span, n_time):
            group_hi = max(group_hi, hi[order[j]])
            j += 1
        block = np.asarray(read(int(group_lo), int(group_hi)), dtype=np.float32) if group_hi > group_lo \
            else np.zeros((0, n_channels), np.float32)
        for k in order[i:j]:
            if hi[k] <= lo[k]:
                continue
            offset = lo[k] - starts[k]
            out[k, :, offset:offset + hi[k] - lo[k]] = block[lo[k] - group_lo:hi[k] - group_lo].T
        i = j
    return out


def _selecting(read: Reader, columns: np.ndarray) -> Reader:
    def read_columns(start: int, stop: int) -> np.ndarray:
        return np.asarray(read(start, stop))[:, columns]
    return read_columns


class AlignedArray:
    """A (presentations, channels, time) array-like that reads presentation windows on demand.

    napari's layer-data protocol needs ``shape``, ``dtype``, ``ndim``, ``size`` and numpy-style
    ``__getitem__``; indexing reads only the presentations asked for (the last few are cached).

    Parameters
    ----------
    read : callable
        ``read(start, stop)`` -> (stop - start, n_channels) array of the source.
    starts : numpy.ndarray
        First sample of each presentation's window (from :func:`window_starts`).
    n_time : int
        Samples per window.
    n_samples, n_channels : int
        Length and width of the source.
    cache_size : int
        Number of presentations kept in memory after a read.
    columns : numpy.ndarray, optional
        Channels of the source to keep, in this order (default: all ``n_channels``).

    Examples
    --------
    >>> src = np.arange(20, dtype=np.float32).reshape(10, 2)
    >>> arr = AlignedArray(lambda a, b: src[a:b], np.array([0, 4, 8]), 3, 10, 2)
    >>> arr.shape, arr[1, 0].tolist(), bool(np.isnan(arr[2, 1, 2]))
    ((3, 2, 3), [8.0, 10.0, 12.0], True)
    """

    def __init__(self, read: Reader, starts: np.ndarray, n_time: int, n_samples: int, n_channels: int,
                 cache_size: int = 16, columns: np.ndarray | None = None):
        if columns is not None:
            columns = np.asarray(columns, dtype=np.int64)
            read = _selecting(read, columns)
            n_channels = columns.size
        self._read = read
        self.starts = np.asarray(starts, dtype=np.int64)
        self.n_time = int(n_time)
        self.n_samples = int(n_samples)
        self.n_channels = int(n_channels)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_size = int(cache_size)
        self.reads = 0
        """How many presentations were read from the source so far (for tests and benchmarks)."""

    shape = property(lambda self: (self.starts.size, self.n_channels, self.n_time))
    dtype = property(lambda self: np.dtype(np.float32))
    ndim = property(lambda self: 3)
    size = property(lambda self: int(np.prod(self.shape)))

    def __len__(self) -> int:
        return self.starts.size

    def __repr__(self) -> str:
        return f"<AlignedArray presentations={self.shape[0]} channels={self.shape[1]} time={self.shape[2]}>"

    def windows(self, presentations) -> np.ndarray:
        """Windows of the given presentation indices, shaped (len(presentations), channels, time)."""
        idx = np.atleast_1d(np.asarray(presentations, dtype=np.int64))
        if idx.size == 0:
            return np.zeros((0, self.n_channels, self.n_time), np.float32)
        wanted = np.unique(idx).tolist()
        found = {i: self._cache[i] for i in wanted if i in self._cache}
        missing = [i for i in wanted if i not in found]
        if missing:
            block = read_windows(self._read, self.starts[missing], self.n_time, self.n_samples,
                                 self.n_channels)
            found.update(zip(missing, block, strict=True))
            self.reads += len(missing)
        if len(wanted) <= self._cache_size:
            for i in wanted:
                self._cache[i] = found[i]
                self._cache.move_to_end(i)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return np.stack([found[i] for i in idx.tolist()])

    def read(self, presentations) -> np.ndarray:
        """Like :meth:`windows` but bypassing the cache (safe to call from a worker thread)."""
        idx = np.atleast_1d(np.asarray(presentations, dtype=np.int64))
        return read_windows(self._read, self.starts[idx], self.n_time, self.n_samples, self.n_channels)

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis for k in key):
            at = next(i for i, k in enumerate(key) if k is Ellipsis)
            key = key[:at] + (slice(None),) * (3 - len(key) + 1) + key[at + 1:]
        first, rest = (key[0] if key else slice(None)), key[1:]
        n = self.shape[0]
        if isinstance(first, (int, np.integer)):
            i = int(first) + n if first < 0 else int(first)
            if not 0 <= i < n:
                raise IndexError(f"presentation {first} out of range ({n})")
            return self.windows([i])[0][rest] if rest else self.windows([i])[0]
        if isinstance(first, slice):
            idx = np.arange(n)[first]
        else:
            idx = np.arange(n)[np.asarray(first)]
        block = self.windows(idx)
        return block[(slice(None),) + rest]

    def __array__(self, dtype=None, copy=None):
        data = self.windows(np.arange(self.shape[0]))
        return data if dtype is None else data.astype(dtype)
