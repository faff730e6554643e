"""One activity source of an NWB file as a sliceable (time, neurons) matrix: :class:`ActivitySource`.

Continuous series (RoiResponseSeries, ElectricalSeries, any TimeSeries) are read straight from the
HDF5 dataset by a :class:`~nwb_sae.io.recording.series.SeriesReader`; spike trains (Units) are binned
on demand by a :class:`~nwb_sae.io.recording.units.SpikeReader`. Both answer the same calls --
``read(start, stop)`` for a run of consecutive samples, ``windows_inside(events, window)`` and
``read_windows(events, window)`` for windows around events (the rule is in :mod:`nwb_sae.io.align`) --
so :class:`ActivitySource` hands them on without asking which one it holds. This module builds the
source for a chosen candidate, with the neurons' ids and labels.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, replace

import numpy as np

from nwb_sae.errors import InputDataError
from nwb_sae.io import align, remote
from nwb_sae.io.h5 import reading
from nwb_sae.io.recording.nwb_file import object_path
from nwb_sae.io.recording.nwb_find import ActivityCandidate
from nwb_sae.io.recording.nwb_tables import table_columns
from nwb_sae.io.recording.series import SeriesReader
from nwb_sae.io.recording.units import SpikeReader, read_spike_trains
from nwb_sae.io.text import as_str

DEFAULT_BIN_SIZE = 0.05
"""Seconds per bin for spike trains when no ``bin_size`` is given."""


@dataclass(repr=False, kw_only=True)
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
    n_samples : int
        Matrix length (for Units: bins of ``bin_size`` over the recording).
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
    reader : SeriesReader or SpikeReader
        Reads the samples: ``read(start, stop)``, ``windows_inside(events, window)``,
        ``read_windows(events, window)``, ``subset``, ``detached``, ``opened``.
    nwb_version : str or None
        The file's NWB schema version.
    """

    path: str
    object_path: str
    kind: str
    neurodata_type: str
    n_samples: int
    rate: float | None
    starting_time: float
    timestamps: np.ndarray | None
    dt: float
    neuron_coords: dict
    neuron_table_path: str | None
    neuron_table_rows: np.ndarray | None
    unit: str
    notes: list
    reader: SeriesReader | SpikeReader
    nwb_version: str | None = None

    def __post_init__(self):
        self.path = str(self.path)
        self.n_samples = int(self.n_samples)
        self.starting_time = float(self.starting_time)
        self.dt = float(self.dt)

    @property
    def spikes(self) -> SpikeReader | None:
        """The spike trains behind a Units source (None for continuous series)."""
        return self.reader if self.kind == "units" else None

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
            return self.reader.read(start, stop)

    def subset(self, positions) -> ActivitySource:
        """The same source restricted to the neurons at ``positions``."""
        positions = np.asarray(positions, dtype=np.int64)
        rows = self.neuron_table_rows
        return replace(
            self,
            neuron_coords={k: np.asarray(v)[positions] for k, v in self.neuron_coords.items()},
            neuron_table_rows=None if rows is None else np.asarray(rows)[positions],
            reader=self.reader.subset(positions),
        )

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

    def windows_inside(self, events, window) -> np.ndarray:
        """Which windows around ``events`` (seconds) lie inside the recording: bool per event."""
        return self.reader.windows_inside(np.asarray(events, dtype=float), window)

    def read_windows(self, events, window) -> np.ndarray:
        """The windows around ``events`` (only those :meth:`windows_inside` accepts): float32 (neurons, time, P)."""
        with reading(self.path, self.object_path):
            return self.reader.read_windows(np.asarray(events, dtype=float), window)


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
    raw_dt, starting_time = series_timing(path, what, raw_ts, series)
    per_bin = samples_per_bin(path, what, bin_size, raw_dt, notes)
    filename = path if remote.is_url(path) else os.path.abspath(data.file.filename)  # reopened by workers
    reader = SeriesReader(
        filename=filename, dataset=data.name, transposed=candidate.transposed, n_raw=n_raw,
        n_channels=n_channels, conversion=float(getattr(series, "conversion", 1.0) or 1.0),
        offset=float(getattr(series, "offset", 0.0) or 0.0), channel_conversion=channel_conversion,
        per_bin=per_bin, raw_dt=raw_dt, starting_time=starting_time, raw_timestamps=raw_ts, h5dataset=data,
    )
    return series_activity(path, what, candidate.kind, candidate.neurodata_type, reader, coords,
                           unit=str(getattr(series, "unit", "") or ""), notes=notes, table_path=table_path,
                           rows=rows, version=version)


def series_timing(path, what: str, raw_ts, series=None) -> tuple[float, float]:
    """(sample period, time of sample 0) of a series: from its timestamps, else its rate and starting time.

    Raises
    ------
    InputDataError
        The timestamps are not strictly increasing (windows could not be placed).
    """
    if raw_ts is None:
        return 1.0 / series.rate, float(series.starting_time or 0.0)
    steps = np.diff(raw_ts)
    if np.any(~(steps > 0)):
        i = int(np.flatnonzero(~(steps > 0))[0])
        raise InputDataError(
            f"{path}: the timestamps of {what} are not strictly increasing (sample {i + 1} at "
            f"{raw_ts[i + 1]:g} s follows {raw_ts[i]:g} s); windows cannot be placed. Fix the timestamps "
            "in the file."
        )
    return (align.median_dt(raw_ts) if len(raw_ts) > 1 else 1.0), float(raw_ts[0])


def samples_per_bin(path, what: str, bin_size, raw_dt: float, notes: list) -> int:
    """How many samples of period ``raw_dt`` are averaged into one bin of ``bin_size`` (1 when None).

    Raises
    ------
    InputDataError
        ``bin_size`` is not a whole multiple of the sample period.
    """
    if bin_size is None:
        return 1
    per_bin = int(round(bin_size / raw_dt))
    if per_bin < 1 or abs(per_bin * raw_dt - bin_size) > 1e-6 * bin_size:
        raise InputDataError(
            f"{path}: bin_size={bin_size:g} s is not a whole multiple of the sample period of {what} "
            f"({raw_dt:g} s). Use a multiple, or leave bin_size unset to keep every sample."
        )
    if per_bin > 1:
        notes.append(f"{per_bin} samples averaged per bin")
    return per_bin


def series_activity(path, what: str, kind: str, neurodata_type: str, reader: SeriesReader, coords: dict, *,
                    unit: str = "", notes=(), table_path=None, rows=None, version=None) -> ActivitySource:
    """The ActivitySource of a continuous series read by ``reader`` (its bins, times and labels)."""
    per_bin, raw_ts = reader.per_bin, reader.raw_timestamps
    dt = reader.raw_dt * per_bin
    timestamps = None if raw_ts is None else raw_ts[: (reader.n_raw // per_bin) * per_bin : per_bin]
    return ActivitySource(
        path=path, object_path=what, kind=kind, neurodata_type=neurodata_type,
        n_samples=reader.n_raw // per_bin, rate=None if raw_ts is not None else 1.0 / dt,
        starting_time=reader.starting_time, timestamps=timestamps, dt=dt, neuron_coords=coords,
        neuron_table_path=table_path, neuron_table_rows=rows, unit=unit, notes=list(notes), reader=reader,
        nwb_version=version,
    )


def units_source(path, io, version, candidate: ActivityCandidate, bin_size) -> ActivitySource:
    """An ActivitySource over a Units table: spike counts in bins of ``bin_size`` seconds."""
    units = candidate.container
    bin_size = spike_bin_size(path, bin_size)
    with reading(path, f"{candidate.path}/spike_times"):
        trains, extent, observed, notes = read_spike_trains(path, units)
        coords = {"id": np.asarray(units.id.data[:])}
        coords.update(table_columns(units))
        if "location" not in coords:
            location = _unit_locations(units)
            if location is not None:
                coords["location"] = location
    if not any(len(t) for t in trains):
        raise InputDataError(f"{path}: the Units table {candidate.path} holds no spikes at all.")
    return spike_activity(path, candidate.path, candidate.neurodata_type,
                          SpikeReader(trains, bin_size, extent, observed), coords, notes=notes,
                          table_path=candidate.path, version=version)


def spike_bin_size(path, bin_size) -> float:
    """The bin size for spike trains: :data:`DEFAULT_BIN_SIZE` when None; refuses a non-positive one."""
    bin_size = DEFAULT_BIN_SIZE if bin_size is None else float(bin_size)
    if not bin_size > 0:
        raise InputDataError(f"{path}: bin_size must be a positive number of seconds, got {bin_size}.")
    return bin_size


def spike_activity(path, what: str, neurodata_type: str, reader: SpikeReader, coords: dict, *, notes=(),
                   table_path=None, version=None) -> ActivitySource:
    """The ActivitySource of spike trains binned by ``reader`` (spike counts per bin)."""
    bin_size = reader.bin_size
    return ActivitySource(
        path=path, object_path=what, kind="units", neurodata_type=neurodata_type,
        n_samples=reader.n_bins, rate=1.0 / bin_size, starting_time=reader.t0,
        timestamps=reader.t0 + np.arange(reader.n_bins) * bin_size, dt=bin_size, neuron_coords=coords,
        neuron_table_path=table_path, neuron_table_rows=np.arange(len(reader.trains)), unit="spikes per bin",
        notes=list(notes), reader=reader, nwb_version=version,
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
        return np.array([as_str(locations[r]) if r >= 0 else "" for r in rows], dtype=str)
    except Exception:  # electrodes are optional decoration; an odd link must not stop the read
        return None


def build_source(path, io, version, candidate: ActivityCandidate, bin_size=None) -> ActivitySource:
    """The ActivitySource for a chosen candidate."""
    if candidate.kind == "units":
        return units_source(path, io, version, candidate, bin_size)
    return series_source(path, io, version, candidate, bin_size)
