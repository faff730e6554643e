"""Presentation windows read only when asked for: what keeps the napari viewer lazy.

:class:`AlignedArray` looks like a numpy array shaped (presentations, channels, time) but reads a
presentation's window only when napari (or the summary pass) indexes it. Where the windows start is
not decided here: the activity's windows come from the recording's own reader (the ones ``read_nwb``
cut), the codes' from :mod:`nwb_sae.io.align` on the codes' time base (see ``_open``). Nothing here
imports Qt or napari.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np

Reader = Callable[[int, int], np.ndarray]
"""``read(start, stop)`` -> array (stop - start, channels) of the source's samples ``start:stop``."""
WindowReader = Callable[[np.ndarray], np.ndarray]
"""``read(presentations)`` -> array (len(presentations), channels, time) of those presentations' windows."""


def read_windows(read: Reader, starts: np.ndarray, n_time: int, n_samples: int, n_channels: int,
                 max_span: int = 1 << 16) -> np.ndarray:
    """Read the windows starting at ``starts`` of a (samples, channels) source as one array.

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

    Examples
    --------
    >>> src = np.arange(20, dtype=np.float32).reshape(10, 2)
    >>> read_windows(lambda a, b: src[a:b], np.array([0, 8]), 3, 10, 2)[:, 0].tolist()
    [[0.0, 2.0, 4.0], [16.0, 18.0, nan]]
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


def contiguous_windows(read: Reader, starts: np.ndarray, n_time: int, n_samples: int,
                       n_channels: int) -> WindowReader:
    """A :data:`WindowReader` over a (samples, channels) source: presentation ``p`` starts at ``starts[p]``."""
    starts = np.asarray(starts, dtype=np.int64)

    def read_presentations(presentations: np.ndarray) -> np.ndarray:
        return read_windows(read, starts[presentations], n_time, n_samples, n_channels)
    return read_presentations


class AlignedArray:
    """A (presentations, channels, time) array-like that reads presentation windows on demand.

    napari's layer-data protocol needs ``shape``, ``dtype``, ``ndim``, ``size`` and numpy-style
    ``__getitem__``; indexing reads only the presentations asked for (the last few are cached).

    Parameters
    ----------
    read : callable
        ``read(presentations)`` -> (len(presentations), channels, time) array (a :data:`WindowReader`).
    shape : (int, int, int)
        (presentations, channels, time) of what ``read`` gives.
    cache_size : int
        Number of presentations kept in memory after a read.
    columns : numpy.ndarray, optional
        Channels to keep, in this order (default: all).

    Examples
    --------
    >>> src = np.arange(20, dtype=np.float32).reshape(10, 2)
    >>> arr = AlignedArray(contiguous_windows(lambda a, b: src[a:b], np.array([0, 4, 8]), 3, 10, 2), (3, 2, 3))
    >>> arr.shape, arr[1, 0].tolist(), bool(np.isnan(arr[2, 1, 2]))
    ((3, 2, 3), [8.0, 10.0, 12.0], True)
    """

    def __init__(self, read: WindowReader, shape: tuple[int, int, int], cache_size: int = 16,
                 columns: np.ndarray | None = None):
        n_presentations, n_channels, n_time = (int(v) for v in shape)
        if columns is not None:
            columns = np.asarray(columns, dtype=np.int64)
            n_channels = columns.size
        self._read_all = read
        self._columns = columns
        self.shape = (n_presentations, n_channels, n_time)
        self._order: np.ndarray | None = None
        self._offset: np.ndarray | None = None
        self._scale: np.ndarray | None = None
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_size = int(cache_size)
        self.reads = 0
        """How many presentations were read from the source so far (for tests and benchmarks)."""

    dtype = property(lambda self: np.dtype(np.float32))
    ndim = property(lambda self: 3)
    size = property(lambda self: int(np.prod(self.shape)))

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"<AlignedArray presentations={self.shape[0]} channels={self.shape[1]} time={self.shape[2]}>"

    def read(self, presentations) -> np.ndarray:
        """Windows of the given presentations, bypassing the cache (safe to call from a worker thread)."""
        idx = np.atleast_1d(np.asarray(presentations, dtype=np.int64))
        if idx.size == 0:
            return np.zeros((0, *self.shape[1:]), np.float32)
        block = np.asarray(self._read_all(idx), dtype=np.float32)
        block = block if self._columns is None else block[:, self._columns]
        if self._offset is not None:
            block = (block - self._offset[:, None]) * self._scale[:, None]
        return block if self._order is None else block[:, self._order]

    def raw(self, presentations) -> np.ndarray:
        """Windows as the source holds them (channels in their own order, no normalisation), uncached."""
        idx = np.atleast_1d(np.asarray(presentations, dtype=np.int64))
        block = np.asarray(self._read_all(idx), dtype=np.float32)
        return block if self._columns is None else block[:, self._columns]

    def set_view(self, order: np.ndarray | None = None, offset: np.ndarray | None = None,
                 scale: np.ndarray | None = None) -> None:
        """Show channel ``order[i]`` in row ``i``, each channel ``c`` as ``(x - offset[c]) * scale[c]``.

        ``offset`` and ``scale`` are per channel in the source's order (None: unchanged values); the cache
        is dropped, so the next read shows the new rows.
        """
        self._order = None if order is None else np.asarray(order, dtype=np.int64)
        if offset is None:
            self._offset = self._scale = None
        else:
            self._offset = np.asarray(offset, dtype=np.float32)
            self._scale = np.asarray(scale, dtype=np.float32)
        self._cache.clear()

    def windows(self, presentations) -> np.ndarray:
        """Windows of the given presentation indices, shaped (len(presentations), channels, time)."""
        idx = np.atleast_1d(np.asarray(presentations, dtype=np.int64))
        if idx.size == 0:
            return np.zeros((0, *self.shape[1:]), np.float32)
        wanted = np.unique(idx).tolist()
        found = {i: self._cache[i] for i in wanted if i in self._cache}
        missing = [i for i in wanted if i not in found]
        if missing:
            found.update(zip(missing, self.read(missing), strict=True))
            self.reads += len(missing)
        if len(wanted) <= self._cache_size:
            for i in wanted:
                self._cache[i] = found[i]
                self._cache.move_to_end(i)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return np.stack([found[i] for i in idx.tolist()])

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
        idx = np.arange(n)[first] if isinstance(first, slice) else np.arange(n)[np.asarray(first)]
        return self.windows(idx)[(slice(None),) + rest]

    def __array__(self, dtype=None, copy=None):
        data = self.windows(np.arange(self.shape[0]))
        return data if dtype is None else data.astype(dtype)
