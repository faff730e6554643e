"""Spike trains of a Units table, binned on demand.

The recording a Units table covers is the span of its ``obs_intervals`` when it has them, and a
window must lie inside it, as for a continuous series. Without ``obs_intervals`` the recording is
taken to start at time 0 (or at the first spike, if earlier) and its end is unknown (silence after
the last spike looks the same as no recording), so a window is dropped only when it starts before
the recording; windows after the last spike are kept, and the readers warn about them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from nwb_sae.io import align

_EPS = 1e-9


def read_spike_trains(path, units):
    """All spike trains of a Units table, each sorted, with the span of the recording.

    Returns
    -------
    trains : list of numpy.ndarray
        One float64 array per unit (table row order).
    extent : (float, float)
        First and last time the recording covers, in seconds.
    observed : bool
        Whether ``extent`` comes from ``obs_intervals`` (else from the spike times).
    notes : list of str
        Repairs made (unsorted spike times sorted, NaN spike times dropped).
    """
    by_name = {col.name: col for col in units.columns}
    data = np.asarray(by_name["spike_times"].data[:], dtype=float)
    index = by_name.get("spike_times_index")
    bounds = np.asarray(index.data[:], dtype=np.int64) if index is not None else np.array([len(data)])
    starts = np.concatenate([[0], bounds[:-1]])
    trains, notes = [], []
    unsorted = dropped = 0
    for a, b in zip(starts, bounds, strict=True):
        train = data[a:b]
        finite = np.isfinite(train)
        if not finite.all():
            dropped += int((~finite).sum())
            train = train[finite]
        if np.any(np.diff(train) < 0):
            unsorted += 1
            train = np.sort(train)
        trains.append(train)
    if unsorted:
        notes.append(f"spike times of {unsorted} unit(s) were not sorted in the file; sorted on reading")
    if dropped:
        notes.append(f"{dropped} NaN spike time(s) ignored")
    extent = _obs_extent(by_name)
    observed = extent is not None
    if extent is None:
        extent = spike_extent(trains)
    return trains, extent, observed, notes


def spike_extent(trains) -> tuple[float, float]:
    """The span of a recording known only by its spikes: from time 0 (or the first spike, if earlier)
    to the last spike (see the module docstring).

    Examples
    --------
    >>> spike_extent([np.array([0.5, 2.0]), np.array([]), np.array([1.0, 3.5])])
    (0.0, 3.5)
    """
    firsts = [t[0] for t in trains if len(t)]
    lasts = [t[-1] for t in trains if len(t)]
    return (min(0.0, float(min(firsts))), float(max(lasts))) if firsts else (0.0, 0.0)


def _obs_extent(by_name):
    """(earliest start, latest stop) over the units' observation intervals, or None."""
    column = by_name.get("obs_intervals")
    if column is None:
        return None
    values = np.asarray(column.data[:], dtype=float).reshape(-1, 2)
    values = values[np.isfinite(values).all(axis=1)]
    if not len(values):
        return None
    return float(values[:, 0].min()), float(values[:, 1].max())


class SpikeReader:
    """Spike counts of a set of spike trains, on a bin grid or in windows around events.

    Parameters
    ----------
    trains : list of numpy.ndarray
        Sorted spike times, one array per unit.
    bin_size : float
        Seconds per bin.
    extent : (float, float)
        Span of the recording (see the module docstring).
    observed : bool
        The span comes from ``obs_intervals``: windows must lie inside it, not just start inside it.

    Examples
    --------
    >>> reader = SpikeReader([np.array([0.01, 0.12, 0.13])], 0.1, (0.0, 0.3))
    >>> reader.read(0, 3)[:, 0]
    array([1., 2., 0.], dtype=float32)
    """

    def __init__(self, trains, bin_size: float, extent: tuple[float, float], observed: bool = False):
        self.trains = list(trains)
        self.observed = observed
        self.bin_size = float(bin_size)
        self.extent = (float(extent[0]), float(extent[1]))
        # the grid starts at a whole multiple of the bin size so that bins line up across files
        self.t0 = math.floor(self.extent[0] / self.bin_size + _EPS) * self.bin_size
        self.n_bins = int(math.floor((self.extent[1] - self.t0) / self.bin_size + _EPS)) + 1

    def detached(self) -> SpikeReader:
        """This reader (it holds no file handle: spike trains are read into memory)."""
        return self

    @contextmanager
    def opened(self) -> Iterator[SpikeReader]:
        """This reader (nothing to open; the same interface as ``SeriesReader.opened``)."""
        yield self

    def subset(self, columns) -> SpikeReader:
        """A reader over the units at positions ``columns``, on the same grid and extent."""
        return SpikeReader([self.trains[i] for i in columns], self.bin_size, self.extent, self.observed)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Counts in grid bins ``start:stop``: float32 (stop - start, units)."""
        out = np.empty((stop - start, len(self.trains)), dtype=np.float32)
        for u, train in enumerate(self.trains):
            out[:, u] = align.binned_grid_counts(train, self.t0, self.bin_size, start, stop)
        return out

    def windows_inside(self, events, window) -> np.ndarray:
        """Which windows around ``events`` lie inside the recording's span."""
        n = align.n_window_samples(window, self.bin_size)
        begin = np.asarray(events, dtype=float) + window[0]
        end = begin + n * self.bin_size
        slack = _EPS * max(1.0, abs(self.extent[1]))
        ok = begin >= self.extent[0] - slack
        return ok & (end <= self.extent[1] + slack) if self.observed else ok

    def windows_after_last_spike(self, events, window) -> int:
        """How many windows start after the last spike of every unit (all zeros)."""
        begin = np.asarray(events, dtype=float) + window[0]
        return int(np.sum(begin > self.extent[1])) if not self.observed else 0

    def read_windows(self, events, window) -> np.ndarray:
        """Counts in the bins of each window: float32 (units, bins, events)."""
        n = align.n_window_samples(window, self.bin_size)
        out = np.empty((len(self.trains), n, len(events)), dtype=np.float32)
        for u, train in enumerate(self.trains):
            out[u] = align.spike_counts(train, events, window, self.bin_size).T
        return out

    def total_in_windows(self, events, window) -> int:
        """Number of spikes (all units) falling in any of the windows, counted without binning."""
        n = align.n_window_samples(window, self.bin_size)
        begin = np.asarray(events, dtype=float) + window[0]
        end = begin + n * self.bin_size
        total = 0
        for train in self.trains:
            total += int(np.sum(np.searchsorted(train, end) - np.searchsorted(train, begin)))
        return total
