"""One activity source of an NWB file as a sliceable (time, neurons) matrix: :class:`ActivitySource`.

Continuous series (RoiResponseSeries, ElectricalSeries, any TimeSeries) are read straight from the
HDF5 dataset, one slice at a time; spike trains (Units) are binned on demand. Both answer the same
two questions: ``read(start, stop)`` for a run of consecutive samples, and ``read_windows`` for
windows around events (the rule is in :mod:`nwb_sae.io.align`).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from nwb_sae.errors import InputDataError
from nwb_sae.io import align, remote
from nwb_sae.io.nwb_file import object_path, reading
from nwb_sae.io.nwb_find import ActivityCandidate
from nwb_sae.io.nwb_tables import table_columns
from nwb_sae.io.units import SpikeReader, read_spike_trains

DEFAULT_BIN_SIZE = 0.05
"""Seconds per bin for spike trains when no ``bin_size`` is given."""


@dataclass
class SeriesReader:
    """Reads samples of a continuous series from its HDF5 dataset, scaled to the series' unit.

    Everything but the dataset handle is plain data, so a copy can be sent to another process or a
    dask task that reopens the file (:meth:`reopened`).
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
    h5dataset: object = field(default=None, repr=False)

    def reopened(self):
        """A context manager giving a copy of this reader with the file opened anew (read-only)."""
        import contextlib

        @contextlib.contextmanager
        def _open():
            with remote.open_hdf5(self.filename) as h5:
                copy = SeriesReader(**{**self.__dict__, "h5dataset": h5[self.dataset]})
                yield copy

        return _open()

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

    def read_windows(self, raw_starts, n: int) -> np.ndarray:
        """Windows of ``n`` output samples starting at raw sample ``raw_starts``: (neurons, n, P)."""
        m = self.per_bin
        out = np.empty((self.n_out_channels, n, len(raw_starts)), dtype=np.float32)
        for p, s in enumerate(np.asarray(raw_starts, dtype=np.int64)):
            block = self.raw(int(s), int(s) + n * m)
            if m > 1:
                block = block.reshape(n, m, -1).mean(axis=1, dtype=np.float32)
            out[:, :, p] = block.T
        return out

    def subset(self, positions) -> SeriesReader:
        """A reader over the channels at ``positions`` (of the channels this reader gives)."""
        base = np.arange(self.n_channels) if self.columns is None else self.columns
        return SeriesReader(**{**self.__dict__, "columns": base[np.asarray(positions, dtype=np.int64)]})

    @property
    def n_out_channels(self) -> int:
        return self.n_channels if self.columns is None else len(self.columns)


class ActivitySource:
    """The activity of one NWB object as a (time, neurons) matrix read in slices.

    Attributes
    ----------
    path : str
        The NWB file.
    object_path : str
        Path of the series or Units table in the file.
    kind : str
        'roi_response', 'units', 'electrical' or 'timeseries'.
    neurodata_type : str
        pynwb type name.
    n_neurons, n_samples : int
        Matrix size (for Units: bins of ``bin_size`` over the recording).
    rate : float or None
        Samples per second (Units: ``1 / bin_size``); None for timestamped series.
    starting_time : float
        Time of sample 0 in seconds (Units: start of the first bin).
    timestamps : numpy.ndarray or None
        Sample times when the series has explicit timestamps; for Units the bin start times.
    dt : float
        Seconds per sample (bin size).
    neuron_coords : dict
        Name -> numpy array over neurons; always has ``id`` (unit / ROI / electrode ids).
    neuron_table_path : str or None
        The Units table / PlaneSegmentation / electrodes table the neurons are rows of.
    neuron_table_rows : numpy.ndarray or None
        Their row positions in that table.
    unit : str
        Unit of the values ('spikes per bin' for Units).
    notes : list of str
        What the reader had to work around (transposed storage, unsorted spikes, ...).
    """

    def __init__(self, *, path, object_path, kind, neurodata_type, n_samples, rate, starting_time,
                 timestamps, dt, neuron_coords, neuron_table_path, neuron_table_rows, unit, notes, reader,
                 raw_timestamps=None, raw_dt=None, nwb_version=None):
        self.path = str(path)
        self.nwb_version = nwb_version
        self.object_path = object_path
        self.kind = kind
        self.neurodata_type = neurodata_type
        self.n_samples = int(n_samples)
        self.rate = rate
        self.starting_time = float(starting_time)
        self.timestamps = timestamps
        self.dt = float(dt)
        self.neuron_coords = neuron_coords
        self.neuron_table_path = neuron_table_path
        self.neuron_table_rows = neuron_table_rows
        self.unit = unit
        self.notes = notes
        self._reader = reader
        self._raw_timestamps = raw_timestamps
        self._raw_dt = raw_dt

    @property
    def spikes(self) -> SpikeReader | None:
        """The spike trains behind a Units source (None for continuous series)."""
        return self._reader if isinstance(self._reader, SpikeReader) else None

    @property
    def n_neurons(self) -> int:
        return len(self.neuron_coords["id"])

    def __repr__(self) -> str:
        timing = f"{self.rate:g} Hz" if self.rate else "timestamps"
        return (f"<ActivitySource {self.object_path} ({self.neurodata_type}) {self.n_neurons} neurons x "
                f"{self.n_samples} samples, {timing}, in {self.path}>")

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start:stop`` as float32 (stop - start, n_neurons); only that slice is read.

        Examples
        --------
        >>> with open_activity("rec.nwb") as src:          # doctest: +SKIP
        ...     block = src.read(0, 1000)
        """
        start, stop = int(start), int(stop)
        if not 0 <= start <= stop <= self.n_samples:
            raise InputDataError(
                f"{self.path}: {self.object_path} has {self.n_samples} samples; cannot read [{start}, {stop})."
            )
        with reading(self.path, self.object_path):
            return self._reader.read(start, stop)

    def subset(self, positions) -> ActivitySource:
        """The same source restricted to the neurons at ``positions``."""
        positions = np.asarray(positions, dtype=np.int64)
        rows = self.neuron_table_rows
        copy = ActivitySource.__new__(ActivitySource)
        copy.__dict__.update(self.__dict__)
        copy.neuron_coords = {k: np.asarray(v)[positions] for k, v in self.neuron_coords.items()}
        copy.neuron_table_rows = None if rows is None else np.asarray(rows)[positions]
        copy._reader = self._reader.subset(positions)
        return copy

    def sample_times(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Times in seconds (file time base) of samples ``start:stop``."""
        stop = self.n_samples if stop is None else stop
        if self.timestamps is not None:
            return np.asarray(self.timestamps[start:stop], dtype=float)
        return self.starting_time + np.arange(start, stop) * self.dt

    @property
    def time_range(self) -> tuple[float, float]:
        """(first sample time, end of the last sample) in seconds."""
        if self.n_samples == 0:
            return (self.starting_time, self.starting_time)
        last = self.sample_times(self.n_samples - 1, self.n_samples)[0]
        return (float(self.sample_times(0, 1)[0]), float(last + self.dt))

    def plan_windows(self, events, window):
        """Where each window starts and whether it lies inside the recording.

        Returns
        -------
        starts : numpy.ndarray
            Raw sample index (continuous series) or event time (Units) of each window.
        ok : numpy.ndarray of bool
        """
        events = np.asarray(events, dtype=float)
        if isinstance(self._reader, SpikeReader):
            return events, self._reader.windows_inside(events, window)
        n = align.n_window_samples(window, self.dt)
        m = self._reader.per_bin
        if self._raw_timestamps is not None:
            raw_window = (window[0], window[0] + n * m * self._raw_dt)
            starts, ok = align.timestamp_starts(events, raw_window, self._raw_timestamps, self._raw_dt)
            return starts, ok
        raw_rate = 1.0 / self._raw_dt
        starts = align.regular_starts(events, window[0], raw_rate, self.starting_time)
        return starts, align.inside(starts, n * m, self._reader.n_raw)

    def read_windows(self, starts, window) -> np.ndarray:
        """Windows planned by :meth:`plan_windows` (only those kept): float32 (neurons, time, P)."""
        n = align.n_window_samples(window, self.dt)
        with reading(self.path, self.object_path):
            if isinstance(self._reader, SpikeReader):
                return self._reader.read_windows(starts, window)
            return self._reader.read_windows(starts, n)

    def window_task(self):
        """A picklable reader for dask tasks (reopens the file itself), and whether it needs reopening."""
        if isinstance(self._reader, SpikeReader):
            return self._reader, False
        return SeriesReader(**{**self._reader.__dict__, "h5dataset": None}), True


def _neurons_of_region(path, io, region, n_channels, what):
    """ids, coords, table path and rows of the table rows a series' region points to."""
    rows = np.asarray(region.data[:], dtype=np.int64)
    table = region.table
    if len(rows) != n_channels:
        warnings.warn(
            f"{path}: {what} has {n_channels} channels but its {region.name} region lists {len(rows)} "
            f"rows of {table.name}; the channels are labelled by position (id 0..{n_channels - 1}) "
            "without table columns. Fix the region in the file to get real ids.",
            UserWarning, stacklevel=6,
        )
        return {"id": np.arange(n_channels)}, None, None
    coords = {"id": np.asarray(table.id.data[:])[rows]}
    coords.update(table_columns(table, rows))
    return coords, object_path(io, table), rows


def series_source(path, io, version, candidate: ActivityCandidate, bin_size) -> ActivitySource:
    """An ActivitySource over a continuous series (RoiResponseSeries, ElectricalSeries, TimeSeries)."""
    series = candidate.container
    what = candidate.path
    with reading(path, what):
        data = series.data
        n_raw, n_channels = candidate.n_samples, candidate.n_neurons
        notes = [candidate.note] if candidate.note else []
        table_path = rows = None
        region = getattr(series, "rois", None) if candidate.kind == "roi_response" else (
            getattr(series, "electrodes", None) if candidate.kind == "electrical" else None)
        if region is not None:
            coords, table_path, rows = _neurons_of_region(path, io, region, n_channels, what)
            plane = getattr(region.table, "imaging_plane", None)
            if "location" not in coords and getattr(plane, "location", None):
                coords["location"] = np.array([str(plane.location)] * n_channels)
        else:
            coords = {"id": np.arange(n_channels)}
        channel_conversion = getattr(series, "channel_conversion", None)
        if channel_conversion is not None:
            channel_conversion = np.asarray(channel_conversion[:], dtype=np.float32)
        raw_ts = None if series.timestamps is None else np.asarray(series.timestamps[:], dtype=float)
    if raw_ts is not None:
        steps = np.diff(raw_ts)
        if np.any(~(steps > 0)):
            i = int(np.flatnonzero(~(steps > 0))[0])
            raise InputDataError(
                f"{path}: the timestamps of {what} are not strictly increasing (sample {i + 1} at "
                f"{raw_ts[i + 1]:g} s follows {raw_ts[i]:g} s); windows cannot be placed. Fix the timestamps "
                "in the file."
            )
        raw_dt = align.median_dt(raw_ts) if len(raw_ts) > 1 else 1.0
        starting_time = float(raw_ts[0])
    else:
        raw_dt, starting_time = 1.0 / series.rate, float(series.starting_time or 0.0)
    per_bin = 1
    if bin_size is not None:
        per_bin = int(round(bin_size / raw_dt))
        if per_bin < 1 or abs(per_bin * raw_dt - bin_size) > 1e-6 * bin_size:
            raise InputDataError(
                f"{path}: bin_size={bin_size:g} s is not a whole multiple of the sample period of {what} "
                f"({raw_dt:g} s). Use a multiple, or leave bin_size unset to keep every sample."
            )
        if per_bin > 1:
            notes.append(f"{per_bin} samples averaged per bin")
    filename = path if remote.is_url(path) else os.path.abspath(data.file.filename)
    reader = SeriesReader(
        filename=filename, dataset=data.name, transposed=candidate.transposed, n_raw=n_raw,
        n_channels=n_channels, conversion=float(getattr(series, "conversion", 1.0) or 1.0),
        offset=float(getattr(series, "offset", 0.0) or 0.0), channel_conversion=channel_conversion,
        per_bin=per_bin, h5dataset=data,
    )
    dt = raw_dt * per_bin
    timestamps = None if raw_ts is None else raw_ts[: (n_raw // per_bin) * per_bin : per_bin]
    return ActivitySource(
        path=path, object_path=what, kind=candidate.kind, neurodata_type=candidate.neurodata_type,
        n_samples=n_raw // per_bin, rate=None if raw_ts is not None else 1.0 / dt,
        starting_time=starting_time, timestamps=timestamps, dt=dt, neuron_coords=coords,
        neuron_table_path=table_path, neuron_table_rows=rows, unit=str(getattr(series, "unit", "") or ""),
        notes=notes, reader=reader, raw_timestamps=raw_ts, raw_dt=raw_dt, nwb_version=version,
    )


def units_source(path, io, version, candidate: ActivityCandidate, bin_size) -> ActivitySource:
    """An ActivitySource over a Units table: spike counts in bins of ``bin_size`` seconds."""
    units = candidate.container
    bin_size = DEFAULT_BIN_SIZE if bin_size is None else float(bin_size)
    if not bin_size > 0:
        raise InputDataError(f"{path}: bin_size must be a positive number of seconds, got {bin_size}.")
    with reading(path, f"{candidate.path}/spike_times"):
        trains, extent, observed, notes = read_spike_trains(path, units)
        coords = {"id": np.asarray(units.id.data[:])}
        coords.update(table_columns(units))
        if "location" not in coords:
            location = _unit_locations(units)
            if location is not None:
                coords["location"] = location
    reader = SpikeReader(trains, bin_size, extent, observed)
    if not any(len(t) for t in trains):
        raise InputDataError(f"{path}: the Units table {candidate.path} holds no spikes at all.")
    return ActivitySource(
        path=path, object_path=candidate.path, kind="units", neurodata_type=candidate.neurodata_type,
        n_samples=reader.n_bins, rate=1.0 / bin_size, starting_time=reader.t0,
        timestamps=reader.t0 + np.arange(reader.n_bins) * bin_size, dt=bin_size, neuron_coords=coords,
        neuron_table_path=candidate.path, neuron_table_rows=np.arange(len(trains)), unit="spikes per bin",
        notes=notes, reader=reader, nwb_version=version,
    )


def _unit_locations(units):
    """Brain location of each unit from its first electrode, when the table links electrodes."""
    by_name = {col.name: col for col in units.columns}
    region, index = by_name.get("electrodes"), by_name.get("electrodes_index")
    table = getattr(region, "table", None)
    if table is None or "location" not in table.colnames:
        return None
    try:
        rows = np.asarray(region.data[:], dtype=np.int64)
        if index is not None:
            bounds = np.asarray(index.data[:], dtype=np.int64)
            starts = np.concatenate([[0], bounds[:-1]])
            rows = np.where(bounds > starts, rows[np.minimum(starts, max(len(rows) - 1, 0))], -1)
        locations = np.asarray(table["location"].data[:])
        return np.array([_text(locations[r]) if r >= 0 else "" for r in rows], dtype=str)
    except Exception:  # electrodes are optional decoration; an odd link must not stop the read
        return None


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def build_source(path, io, version, candidate: ActivityCandidate, bin_size=None) -> ActivitySource:
    """The ActivitySource for a chosen candidate."""
    if candidate.kind == "units":
        return units_source(path, io, version, candidate, bin_size)
    return series_source(path, io, version, candidate, bin_size)
