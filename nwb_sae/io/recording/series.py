"""Samples of a continuous series (RoiResponseSeries, ElectricalSeries, any TimeSeries), read from HDF5.

:class:`SeriesReader` reads runs of samples or windows around events straight from the series' HDF5
dataset, one slice at a time, scaled to the series' unit and optionally averaged into bins. It is the
continuous counterpart of :class:`nwb_sae.io.recording.units.SpikeReader` and answers the same calls:
``read(start, stop)``, ``windows_inside(events, window)``, ``read_windows(events, window)``, ``subset``,
``detached`` and ``opened``. Windows follow the rule of :mod:`nwb_sae.io.align`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np

from nwb_sae.io import align


@dataclass
class SeriesReader:
    """Reads samples of a continuous series from its HDF5 dataset, scaled to the series' unit.

    Everything but the dataset handle is plain data, so a copy (:meth:`detached`) can be sent to
    another process or a dask task, which reopens the file (:meth:`opened`).
    """

    filename: str
    dataset: str
    transposed: bool
    n_raw: int
    n_channels: int
    columns: np.ndarray | None = None
    """Channel positions to keep (None: all)."""
    conversion: float = 1.0
    offset: float = 0.0
    channel_conversion: np.ndarray | None = None
    per_bin: int = 1
    """Raw samples averaged into one output sample."""
    raw_dt: float = 1.0
    """Seconds between raw samples (the typical interval for timestamped series)."""
    starting_time: float = 0.0
    """Time of raw sample 0 in seconds."""
    raw_timestamps: np.ndarray | None = field(default=None, repr=False)
    """Times of the raw samples, for series stored with timestamps."""
    h5dataset: object = field(default=None, repr=False)

    def detached(self) -> SeriesReader:
        """A copy without the open dataset: plain data, picklable."""
        return replace(self, h5dataset=None)

    @contextmanager
    def opened(self) -> Iterator[SeriesReader]:
        """This reader with its dataset open (the file is reopened read-only when detached)."""
        if self.h5dataset is not None:
            yield self
            return
        from nwb_sae.io.h5 import open_h5  # a URL is reopened through remfile

        with open_h5(self.filename) as h5:
            yield replace(self, h5dataset=h5[self.dataset])

    def raw(self, start: int, stop: int) -> np.ndarray:
        """Raw samples ``start:stop`` as float32 (stop - start, channels), scaled."""
        dset = self.h5dataset
        if dset.ndim == 1:
            block = dset[start:stop][:, None]
        elif self.transposed:
            block = dset[:, start:stop].T
        else:
            block = dset[start:stop]
        if self.columns is not None:
            block = block[:, self.columns]
        block = np.asarray(block, dtype=np.float32)
        if self.channel_conversion is not None:
            factors = self.channel_conversion if self.columns is None else self.channel_conversion[self.columns]
            block = block * factors[None, :]
        if self.conversion != 1.0 or self.offset != 0.0:
            block = block * np.float32(self.conversion) + np.float32(self.offset)
        return block

    def read(self, start: int, stop: int) -> np.ndarray:
        """Output samples ``start:stop`` (averaged over ``per_bin`` raw samples when binned)."""
        m = self.per_bin
        block = self.raw(start * m, stop * m)
        return block if m == 1 else block.reshape(stop - start, m, -1).mean(axis=1, dtype=np.float32)

    def _window_starts(self, events, window) -> tuple[np.ndarray, np.ndarray]:
        """Raw sample where each window starts, and whether the window is usable (see nwb_sae.io.align)."""
        events = np.asarray(events, dtype=float)
        span = align.n_window_samples(window, self.raw_dt * self.per_bin) * self.per_bin
        if self.raw_timestamps is not None:
            raw_window = (window[0], window[0] + span * self.raw_dt)
            return align.timestamp_starts(events, raw_window, self.raw_timestamps, self.raw_dt)
        starts = align.regular_starts(events, window[0], 1.0 / self.raw_dt, self.starting_time)
        return starts, align.inside(starts, span, self.n_raw)

    def windows_inside(self, events, window) -> np.ndarray:
        """Which windows around ``events`` lie inside the recording (and, with timestamps, have no gap)."""
        return self._window_starts(events, window)[1]

    def read_windows(self, events, window) -> np.ndarray:
        """The windows around ``events`` (all inside the recording): float32 (neurons, time, events)."""
        m = self.per_bin
        n = align.n_window_samples(window, self.raw_dt * m)
        starts, ok = self._window_starts(events, window)
        if not ok.all():
            raise ValueError(f"{int((~ok).sum())} window(s) do not lie inside {self.dataset}; "
                             "read only those windows_inside() accepts")
        out = np.empty((self.n_out_channels, n, len(starts)), dtype=np.float32)
        for p, s in enumerate(starts):
            block = self.raw(int(s), int(s) + n * m)
            if m > 1:
                block = block.reshape(n, m, -1).mean(axis=1, dtype=np.float32)
            out[:, :, p] = block.T
        return out

    def subset(self, positions) -> SeriesReader:
        """A reader over the channels at ``positions`` (of the channels this reader gives)."""
        base = np.arange(self.n_channels) if self.columns is None else self.columns
        return replace(self, columns=base[np.asarray(positions, dtype=np.int64)])

    @property
    def n_out_channels(self) -> int:
        return self.n_channels if self.columns is None else len(self.columns)
