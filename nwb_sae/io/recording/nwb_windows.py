"""Presentations for :func:`nwb_sae.read_nwb`: events from interval tables or consecutive windows,
the checks and warnings about windows, the reading (eager or lazy, with dask) of the windows and their
labels. Everything here works on an :class:`ActivitySource` and :class:`Presentations`, wherever they
come from (an NWB file, or pynapple objects in :mod:`nwb_sae.io.recording.pynapple`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import xarray as xr

from nwb_sae.errors import InputDataError, ObjectNotFoundError
from nwb_sae.io import align
from nwb_sae.io.h5 import reading
from nwb_sae.io.recording.arrays import ACTIVITY_DIMS
from nwb_sae.io.recording.nwb_source import ActivitySource
from nwb_sae.io.recording.nwb_tables import select_rows, table_columns

LAZY_CHUNK_BYTES = 32 * 2**20
"""Target size of one dask block of a lazy read (all neurons and samples of a run of presentations)."""


@dataclass(frozen=True)
class Presentations:
    """The events windows are cut around, and what labels them."""

    events: np.ndarray
    """Event times in seconds on the file's time base (NaN where the table has none)."""
    ids: np.ndarray
    """One id per event (the interval table's ids, or 0, 1, ... for consecutive windows)."""
    coords: dict
    """Column name -> array over events (the interval table's columns, or start/stop times)."""
    window: tuple[float, float]
    """Seconds relative to each event (the one given, or the default)."""
    rule: str
    """The alignment rule in words, recorded in the DataArray's attrs."""
    table: str = ""
    """Path of the interval table ('' for consecutive windows)."""
    align_to: str = ""
    """Column of the table holding the event times ('' for consecutive windows)."""


def consecutive_presentations(path, source: ActivitySource, window) -> Presentations:
    """Back-to-back windows over the whole recording."""
    t_first, t_end = recording_span(source)
    if window is None:
        window = align.default_consecutive_window(source.dt, t_first, t_end)
    events = align.consecutive_events(t_first, t_end, window)
    if not len(events):
        raise InputDataError(
            f"{path}: the recording of {source.object_path} ({t_first:g} to {t_end:g} s) is shorter than "
            f"one window of {window[1] - window[0]:g} s; use a shorter window."
        )
    begins = events + window[0]
    coords = {"start_time": begins, "stop_time": begins + (window[1] - window[0])}
    rule = (f"consecutive windows of {window[1] - window[0]:g} s over the whole recording "
            f"(no interval table), starting at {t_first:g} s")
    return Presentations(events=events, ids=np.arange(len(events)), coords=coords, window=window, rule=rule)


def table_presentations(path, table, align_to, window, source: ActivitySource) -> Presentations:
    """Events and coordinates from an interval table of an NWB file."""
    container = table.container
    with reading(path, table.path):
        coords = table_columns(container)
        ids = np.asarray(container.id.data[:])
    return interval_presentations(path, table.path, coords, ids, align_to, window, source)


def interval_presentations(path, table: str, coords: dict, ids, align_to, window,
                           source: ActivitySource) -> Presentations:
    """Events and coordinates from the columns of an interval table (``start_time``, ``stop_time``, ...).

    Parameters
    ----------
    path : str
        What the data came from, for messages.
    table : str
        The table's name or path, recorded in the attrs and named in messages.
    coords : dict
        Column name -> array over intervals; has ``start_time`` (and usually ``stop_time``).
    ids : array_like
        One id per interval.
    align_to : str or None
        Numeric column holding the event times (default ``start_time``).
    window : (float, float) or None
        Seconds relative to each event; default ``(0, median duration)`` (see
        :func:`nwb_sae.io.align.default_table_window`).
    source : ActivitySource
        The activity (its sample period sets the shortest default window).
    """
    column = align_to or "start_time"
    numeric = [k for k, v in coords.items() if v.dtype.kind in "fiu"]
    if column not in coords or column not in numeric:
        raise ObjectNotFoundError(
            f"{path}: the interval table {table} has no numeric column {column!r} to align on. "
            f"Time columns there: {', '.join(numeric) or '(none)'}."
        )
    events = np.asarray(coords[column], dtype=float)
    if window is None:
        stops = np.asarray(coords.get("stop_time", np.full(len(ids), np.nan)), float)
        window = align.default_table_window(stops - coords["start_time"], source.dt)
        if window is None:
            raise InputDataError(
                f"{path}: the intervals of {table} have no usable stop_time, so no default window; "
                "give window=(start, stop) in seconds relative to the event (--window START,STOP)."
            )
    rule = (f"windows ({window[0]:g}, {window[1]:g}) s around {column} of {table}; the first "
            "sample is the one nearest to event + window start (see nwb_sae.io.align)")
    return Presentations(events=events, ids=np.asarray(ids), coords=coords, window=window, rule=rule,
                         table=table, align_to=column)


def finite_events(path, pres: Presentations, keep) -> np.ndarray:
    """Which events are finite; warns about the NaN ones among those kept."""
    finite = np.isfinite(pres.events)
    missing = int(np.sum(keep & ~finite))
    if missing:
        warnings.warn(
            f"{path}: {missing} presentation(s) of {pres.table} have no {pres.align_to} (NaN) "
            "and are left out.", UserWarning, stacklevel=5,
        )
    return finite


SAMPLED_FRACTION = 0.5
"""A timestamped series is a sampled signal when at least this fraction of its intervals lie within
50 % of the median interval (jitter and acquisition gaps keep most intervals typical); event times
(licks, rewards, spikes stored as a TimeSeries) have no typical interval..."""
GAP_FRACTION = 0.05
"""...or when more than this fraction of its intervals are gaps (longer than 1.5 typical intervals)
that together cover most of its span: bouts of events (licking at ~7 Hz, then pauses). One long pause
in an otherwise sampled recording is a single gap and passes."""


def check_sampled(path, source: ActivitySource) -> None:
    """Refuse a timestamped series whose timestamps are event times, not samples of a signal.

    Windows of samples (the rule of :mod:`nwb_sae.io.align`) need a signal sampled at a typical
    interval; cut around events they would otherwise all be dropped, with a misleading message.
    """
    ts = source.timestamps
    if source.kind == "units" or ts is None or len(ts) < 3:
        return
    diffs = np.diff(np.asarray(ts, dtype=float))
    middle = float(np.median(diffs))
    typical = float(np.mean(np.abs(diffs - middle) <= 0.5 * abs(middle))) if middle > 0 else 0.0
    gaps = diffs > 1.5 * middle
    in_gaps = float(diffs[gaps].sum() / max(diffs.sum(), 1e-300))
    if typical >= SAMPLED_FRACTION and not (gaps.mean() > GAP_FRACTION and in_gaps > 0.5):
        return
    raise InputDataError(
        f"{path}: {source.object_path} holds {len(ts)} irregular timestamps (intervals from {diffs.min():g} to "
        f"{diffs.max():g} s, median {middle:g} s; {in_gaps:.0%} of the time lies in gaps between them): these are event times (licks, "
        "rewards, ...), not a sampled signal, so nwb-sae cannot cut windows of samples from it. Bin the events as "
        "counts first, e.g. counts, edges = numpy.histogram(timestamps, bins=numpy.arange(t0, t1, 0.05)), and "
        "store them as a regularly sampled TimeSeries (rate=20.0), or store the events as spike times in a Units "
        "table, which nwb-sae bins itself (--bin_size); or choose another activity (nwb-sae inspect FILE)."
    )


def check_fits(path, source: ActivitySource, window, n: int) -> None:
    """Refuse windows shorter than one sample or longer than the whole recording."""
    if n < 1:
        raise InputDataError(
            f"{path}: the window {window} is shorter than one sample of {source.object_path} "
            f"({source.dt:g} s); make it longer."
        )
    if n > source.n_samples:
        t0, t1 = source.time_range
        raise InputDataError(
            f"{path}: the window {window} ({n} samples of {source.dt:g} s) is longer than the whole "
            f"recording of {source.object_path} ({source.n_samples} samples, {t0:g} to {t1:g} s). "
            "Use a shorter window."
        )


def warn_dropped(path, source: ActivitySource, pres: Presentations, keep, inside, dropped: int) -> None:
    """Warn, with the count and the first ids, about windows not inside the recording."""
    if not dropped:
        return
    ids = pres.ids[keep & ~inside]
    t0, t1 = recording_span(source)
    warnings.warn(
        f"{path}: dropped {dropped} of {int(keep.sum())} presentations whose window does not lie inside "
        f"the recording of {source.object_path} ({t0:g} to {t1:g} s); their ids: "
        f"{ids[:10].tolist()}{' ...' if len(ids) > 10 else ''}.", UserWarning, stacklevel=5,
    )


def recording_span(source: ActivitySource) -> tuple[float, float]:
    """(start, end) in seconds of what the source recorded (Units: see nwb_sae.io.recording.units)."""
    return source.spikes.extent if source.spikes is not None else source.time_range


def nothing_left_message(path, source: ActivitySource, pres: Presentations, window) -> str:
    """Why no window lies inside the recording, with the numbers to check."""
    events = pres.events[np.isfinite(pres.events)]
    t0, t1 = recording_span(source)
    return (f"{path}: none of the windows {window} around the events of {pres.table or 'the recording'} "
            f"(events from {events.min():g} to {events.max():g} s) lies inside the recording of "
            f"{source.object_path} ({t0:g} to {t1:g} s). Check the window, and that the table and the "
            "activity share a time base.")


def warn_spikes(path, source: ActivitySource, events, window) -> None:
    """Warn when no spike falls in any window, or when windows start after the last spike."""
    late = source.spikes.windows_after_last_spike(events, window)
    if source.spikes.total_in_windows(events, window) == 0:
        warnings.warn(
            f"{path}: no spike of the {source.n_neurons} unit(s) of {source.object_path} falls in any of "
            f"the {len(events)} windows {window}; the array is all zeros. Check the window and that spike "
            "times and events share a time base.", UserWarning, stacklevel=5,
        )
    elif late:
        warnings.warn(
            f"{path}: {late} of {len(events)} windows start after the last spike of every unit of "
            f"{source.object_path} ({source.spikes.extent[1]:g} s); they are kept, all zeros. Units without "
            "obs_intervals do not say when the recording ended.", UserWarning, stacklevel=5,
        )


def _read_block(reader, events, window, path: str, what: str):
    with reading(path, what), reader.opened() as opened:
        return opened.read_windows(events, window)


def lazy_windows(source: ActivitySource, events, window, n: int):
    """A dask array (neurons, time, presentations) reading the windows around ``events`` when computed."""
    import dask
    import dask.array as da

    reader = dask.delayed(source.reader.detached(), traverse=False)  # one graph node shared by the blocks
    per_presentation = max(source.n_neurons * n * 4, 1)
    batch = max(1, LAZY_CHUNK_BYTES // per_presentation)
    blocks = []
    for i in range(0, len(events), batch):
        chunk = np.asarray(events[i : i + batch])
        delayed = dask.delayed(_read_block)(reader, chunk, window, source.path, source.object_path)
        blocks.append(da.from_delayed(delayed, shape=(source.n_neurons, n, len(chunk)), dtype=np.float32))
    return da.concatenate(blocks, axis=2)


def cut_windows(path, source: ActivitySource, pres: Presentations, where=None, lazy: bool = False,
                as_rate: bool = False):
    """The windows around the presentations that lie inside the recording, with the checks and warnings.

    Parameters
    ----------
    path : str
        What the data came from, for messages (a file, or a description of in-memory objects).
    source : ActivitySource
    pres : Presentations
    where : str, dict or callable, optional
        Keep only the presentations meeting this condition on their coordinates (see
        :func:`~nwb_sae.io.recording.nwb_tables.select_rows`).
    lazy : bool
        Return a dask array read when computed (NWB files only: the file is reopened then).
    as_rate : bool
        Spike counts divided by the bin size (spikes per second).

    Returns
    -------
    values : numpy.ndarray or dask.array.Array
        float32 (neurons, time, kept presentations).
    keep : numpy.ndarray of bool
        Which presentations were kept.
    dropped : int
        How many selected presentations were dropped because their window is not inside the recording.
    """
    window = pres.window
    keep = np.ones(len(pres.events), dtype=bool)
    if where is not None:
        keep &= select_rows(path, "presentations", pres.coords, where)
    keep &= finite_events(path, pres, keep)
    if not keep.any():
        raise InputDataError(
            f"{path}: no presentation of {pres.table} is left to read"
            + (f" after the selection where={where!r}." if where is not None else " (all event times are NaN).")
        )
    n = align.n_window_samples(window, source.dt)
    check_fits(path, source, window, n)
    events = np.where(np.isfinite(pres.events), pres.events, 0.0)
    inside = source.windows_inside(events, window)
    dropped = int(np.sum(keep & ~inside))
    if not (keep & inside).any():
        raise InputDataError(nothing_left_message(path, source, pres, window))
    warn_dropped(path, source, pres, keep, inside, dropped)
    keep &= inside
    events = events[keep]
    if source.spikes is not None:
        warn_spikes(path, source, events, window)
    values = lazy_windows(source, events, window, n) if lazy else source.read_windows(events, window)
    if source.kind == "units" and as_rate:
        values = values / np.float32(source.dt)
    return values, keep, dropped


def window_attrs(source: ActivitySource, pres: Presentations, dropped: int, as_rate: bool = False) -> dict:
    """The attrs that describe the windows and the sampling, whatever the data came from."""
    if source.kind == "units":
        sampling = f"spike times binned at {source.dt:g} s"
        unit = "spikes/s" if as_rate else "spikes per bin"
    elif source.timestamps is not None:
        sampling = f"timestamps (typical interval {source.dt:g} s)"
        unit = source.unit
    else:
        sampling = f"{source.rate:g} Hz"
        unit = source.unit
    from nwb_sae import __version__

    return {
        "activity_kind": source.kind,
        "presentations": pres.table or "consecutive windows",
        "align_to": pres.align_to,
        "alignment": pres.rule,
        "window": [float(pres.window[0]), float(pres.window[1])],
        "bin_size": float(source.dt),
        "sampling": sampling,
        "unit": unit,
        "time_unit": "seconds relative to the event",
        "dropped_presentations": dropped,
        "notes": "; ".join(source.notes),
        "nwb_sae_version": __version__,
    }


def windows_dataarray(values, source: ActivitySource, pres: Presentations, keep, attrs) -> xr.DataArray:
    """The windows as a DataArray (neurons, time, presentations) labelled by the source and the presentations.

    ``neurons`` is indexed by the source ids when they are unique (else by position, the ids under
    ``id``); ``time`` is seconds relative to the event; ``presentations`` by the presentation ids; every
    neuron and presentation column becomes a coordinate (a name taken twice gets a ``neuron_`` /
    ``presentation_`` prefix).
    """
    ids = np.asarray(source.neuron_coords["id"])
    coords = {
        "neurons": ids if len(np.unique(ids)) == len(ids) else np.arange(len(ids)),
        "time": pres.window[0] + np.arange(values.shape[1]) * source.dt,
        "presentations": np.asarray(pres.ids)[keep],
    }
    reserved = set(ACTIVITY_DIMS)
    for name, column in source.neuron_coords.items():
        coords[_free(name, reserved, "neuron")] = ("neurons", np.asarray(column))
        reserved.add(name)
    for name, column in pres.coords.items():
        coords[_free(name, reserved, "presentation")] = ("presentations", np.asarray(column)[keep])
    return xr.DataArray(values, dims=ACTIVITY_DIMS, coords=coords, name="activity", attrs=attrs)


def presentation_events(data: xr.DataArray) -> np.ndarray | None:
    """Each presentation's event time on the recording's time base, from the labels the readers give.

    Aligned to a table: the coordinate the attrs name under ``align_to`` (``start_time`` when the attrs
    do not say); consecutive windows (``align_to`` is ``""``): where each window starts (``start_time``)
    minus the window start. None when the labels do not hold the times.

    Examples
    --------
    >>> da = xr.DataArray(np.zeros((1, 2, 2)), dims=("neurons", "time", "presentations"),
    ...                   coords={"time": [-0.5, 0.0], "start_time": ("presentations", [3.0, 9.0])},
    ...                   attrs={"align_to": ""})
    >>> presentation_events(da)
    array([3.5, 9.5])
    """
    columns = {name: np.asarray(c.values) for name, c in data.coords.items() if c.dims == ("presentations",)}
    column = data.attrs.get("align_to", "start_time")
    if not column:
        column, shift = "start_time", float(data["time"].values[0])
    else:
        column, shift = (column if column in columns else f"presentation_{column}"), 0.0
    values = columns.get(column)
    if values is None or values.dtype.kind not in "fiu":
        return None
    return values.astype(float) - shift


def _free(name: str, taken: set, prefix: str) -> str:
    return name if name not in taken else f"{prefix}_{name}"
