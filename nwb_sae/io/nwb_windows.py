"""Presentations for :func:`nwb_sae.read_nwb`: events from interval tables or consecutive windows,
the checks and warnings about windows, and the lazy (dask) reading of windows.
"""

from __future__ import annotations

import warnings

import numpy as np

from nwb_sae.errors import InputDataError, ObjectNotFoundError
from nwb_sae.io import align
from nwb_sae.io.nwb_file import reading
from nwb_sae.io.nwb_source import ActivitySource
from nwb_sae.io.nwb_tables import table_columns

DEFAULT_WINDOW_SAMPLES = 100
"""Samples per window when cutting a recording into consecutive windows and no window is given."""
LAZY_CHUNK_BYTES = 32 * 2**20


def consecutive_presentations(path, source: ActivitySource, window):
    """Back-to-back windows over the whole recording."""
    t_first, t_end = source.time_range
    if source.spikes is not None:
        t_first, t_end = source.spikes.extent
    if window is None:
        available = int(np.floor((t_end - t_first) / source.dt + 1e-9))
        window = (0.0, max(1, min(DEFAULT_WINDOW_SAMPLES, available)) * source.dt)
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
    return {"events": events, "coords": coords, "ids": np.arange(len(events)), "window": window,
            "rule": rule, "table": "", "align_to": "", "time_base": (t_first, t_end)}


def table_presentations(path, table, align_to, window, source: ActivitySource):
    """Events and coordinates from an interval table."""
    container = table.container
    with reading(path, table.path):
        coords = table_columns(container)
        ids = np.asarray(container.id.data[:])
    column = align_to or "start_time"
    numeric = [k for k, v in coords.items() if v.dtype.kind in "fiu"]
    if column not in coords or column not in numeric:
        raise ObjectNotFoundError(
            f"{path}: the interval table {table.path} has no numeric column {column!r} to align on. "
            f"Time columns there: {', '.join(numeric) or '(none)'}."
        )
    events = np.asarray(coords[column], dtype=float)
    if window is None:
        durations = np.asarray(coords.get("stop_time", np.full(len(ids), np.nan)), float) - coords["start_time"]
        durations = durations[np.isfinite(durations) & (durations > 0)]
        if not len(durations):
            raise InputDataError(
                f"{path}: the intervals of {table.path} have no usable stop_time, so no default window; "
                "give window=(start, stop) in seconds relative to the event (--window START,STOP)."
            )
        window = (0.0, float(np.median(durations)))
        if align.n_window_samples(window, source.dt) < 1:
            window = (0.0, source.dt)
    rule = (f"windows ({window[0]:g}, {window[1]:g}) s around {column} of {table.path}; the first "
            "sample is the one nearest to event + window start (see nwb_sae.io.align)")
    return {"events": events, "coords": coords, "ids": ids, "window": window, "rule": rule,
            "table": table.path, "align_to": column, "time_base": None}


def finite_events(path, pres, keep) -> np.ndarray:
    """Which events are finite; warns about the NaN ones among those kept."""
    finite = np.isfinite(pres["events"])
    missing = int(np.sum(keep & ~finite))
    if missing:
        warnings.warn(
            f"{path}: {missing} presentation(s) of {pres['table']} have no {pres['align_to']} (NaN) "
            "and are left out.", UserWarning, stacklevel=4,
        )
    return finite


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


def warn_dropped(path, source, pres, keep, inside, dropped: int) -> None:
    """Warn, with the count and the first ids, about windows not inside the recording."""
    if not dropped:
        return
    ids = pres["ids"][keep & ~inside]
    t0, t1 = recording_span(source)
    warnings.warn(
        f"{path}: dropped {dropped} of {int(keep.sum())} presentations whose window does not lie inside "
        f"the recording of {source.object_path} ({t0:g} to {t1:g} s); their ids: "
        f"{ids[:10].tolist()}{' ...' if len(ids) > 10 else ''}.", UserWarning, stacklevel=4,
    )


def recording_span(source):
    """(start, end) in seconds of what the source recorded (Units: see nwb_sae.io.units)."""
    return source.spikes.extent if source.spikes is not None else source.time_range


def nothing_left_message(path, source, pres, window) -> str:
    """Why no window lies inside the recording, with the numbers to check."""
    events = pres["events"][np.isfinite(pres["events"])]
    t0, t1 = recording_span(source)
    return (f"{path}: none of the windows {window} around the events of {pres['table'] or 'the recording'} "
            f"(events from {events.min():g} to {events.max():g} s) lies inside the recording of "
            f"{source.object_path} ({t0:g} to {t1:g} s). Check the window, and that the table and the "
            "activity share a time base.")


def warn_spikes(path, source, events, window) -> None:
    """Warn when no spike falls in any window, or when windows start after the last spike."""
    late = source.spikes.windows_after_last_spike(events, window)
    if source.spikes.total_in_windows(events, window) == 0:
        warnings.warn(
            f"{path}: no spike of the {source.n_neurons} unit(s) of {source.object_path} falls in any of "
            f"the {len(events)} windows {window}; the array is all zeros. Check the window and that spike "
            "times and events share a time base.", UserWarning, stacklevel=4,
        )
    elif late:
        warnings.warn(
            f"{path}: {late} of {len(events)} windows start after the last spike of every unit of "
            f"{source.object_path} ({source.spikes.extent[1]:g} s); they are kept, all zeros. Units without "
            "obs_intervals do not say when the recording ended.", UserWarning, stacklevel=4,
        )


def _read_block(task, reopen: bool, starts, window, n: int):
    if not reopen:
        return task.read_windows(starts, window)
    with reading(task.filename, task.dataset), task.reopened() as reader:
        return reader.read_windows(starts, n)


def lazy_windows(source: ActivitySource, starts, window, n: int):
    """A dask array (neurons, time, presentations) reading its windows when computed."""
    import dask
    import dask.array as da

    task, reopen = source.window_task()
    per_presentation = max(source.n_neurons * n * 4, 1)
    batch = max(1, LAZY_CHUNK_BYTES // per_presentation)
    blocks = []
    for i in range(0, len(starts), batch):
        chunk = np.asarray(starts[i : i + batch])
        delayed = dask.delayed(_read_block)(task, reopen, chunk, window, n)
        blocks.append(da.from_delayed(delayed, shape=(source.n_neurons, n, len(chunk)), dtype=np.float32))
    return da.concatenate(blocks, axis=2)
