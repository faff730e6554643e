"""pynapple objects in and out: :func:`from_pynapple` and :func:`to_pynapple`.

pynapple users hold a recording as a ``TsGroup`` (spike trains), a ``TsdFrame`` / ``TsdTensor``
(continuous signals) and ``IntervalSet`` s (trials, stimuli). :func:`from_pynapple` turns them into the
same ``(neurons, time, presentations)`` DataArray that :func:`nwb_sae.read_nwb` gives for the file they
were loaded from: the objects become an :class:`~nwb_sae.io.recording.nwb_source.ActivitySource` and
:class:`~nwb_sae.io.recording.nwb_windows.Presentations`, and from there the windows are cut, checked,
warned about and labelled by the very code that serves NWB files (the rule is in
:mod:`nwb_sae.io.align`, the spike binning in :mod:`nwb_sae.io.recording.units`).
:func:`to_pynapple` turns codes (or any such DataArray) back into pynapple objects on the recording's
time base.

pynapple is optional: it is imported inside the functions (``pip install 'nwb-sae[pynapple]'``).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from nwb_sae.errors import InputDataError, NwbSaeError
from nwb_sae.io import align
from nwb_sae.io.recording.nwb_source import (
    samples_per_bin,
    series_activity,
    series_timing,
    spike_activity,
    spike_bin_size,
)
from nwb_sae.io.recording.nwb_windows import (
    check_sampled,
    consecutive_presentations,
    cut_windows,
    interval_presentations,
    presentation_events,
    window_attrs,
    windows_dataarray,
)
from nwb_sae.io.recording.series import SeriesReader
from nwb_sae.io.recording.units import SpikeReader, spike_extent
from nwb_sae.io.text import as_str_array

__all__ = ["from_pynapple", "to_pynapple"]

_ALIASES = {"start": "start_time", "end": "stop_time", "stop": "stop_time"}
"""pynapple's names of an interval's bounds -> the NWB column names read_nwb aligns on."""

_COMPUTED = ("rate",)
"""TsGroup metadata pynapple computes itself (not a label of the units, so not a coordinate)."""


def _pynapple():
    try:
        import pynapple
    except ImportError as err:
        raise NwbSaeError("pynapple is not installed; install it with: pip install 'nwb-sae[pynapple]' "
                          "(or pip install pynapple).") from err
    return pynapple


def from_pynapple(data, presentations=None, window=None, bin_size=None, align_to=None, *,
                  as_rate=False) -> xr.DataArray:
    """pynapple activity as a DataArray with dims (neurons, time, presentations), as :func:`~nwb_sae.read_nwb`.

    For objects loaded from an NWB file (``nap.load_file(f)``), the result equals what
    ``read_nwb(f, ...)`` gives with the same arguments, value for value: the same window rule
    (:mod:`nwb_sae.io.align`), the same spike binning, the same coordinates where pynapple carries them.

    Parameters
    ----------
    data : pynapple.TsGroup, pynapple.TsdFrame, pynapple.TsdTensor or pynapple.Tsd
        The activity. A ``TsGroup`` is binned into spike counts (its keys are the neuron ids, its
        metadata columns neuron coordinates); a ``TsdFrame`` gives one neuron per column (the columns
        are the ids, the metadata coordinates); a ``TsdTensor`` one neuron per element of a sample
        (ids are flat positions); a ``Tsd`` one neuron.
    presentations : pynapple.IntervalSet, pynapple.Ts or pynapple.Tsd, optional
        The trials / stimuli to align on. An ``IntervalSet`` gives ``start_time``, ``stop_time`` and its
        metadata columns (e.g. ``stimCategory``) as presentation coordinates; a ``Ts`` / ``Tsd`` gives event
        times only (``start_time``; give a ``window``). Default: the whole recording cut into
        consecutive windows.
    window : (float, float) or float, optional
        Seconds relative to each event, as in :func:`~nwb_sae.read_nwb` (default: the median interval
        duration, or :data:`~nwb_sae.io.align.DEFAULT_WINDOW_SAMPLES` samples without presentations).
    bin_size : float, optional
        Seconds per bin: spike counts per bin for a ``TsGroup`` (default 0.05 s); averages of
        consecutive samples for continuous data (a whole multiple of the sample period; default every
        sample).
    align_to : str, optional
        What the windows are aligned to: ``"start_time"`` (default; also ``"start"``), ``"stop_time"``
        (``"end"``) or a numeric metadata column of the ``IntervalSet``.
    as_rate : bool
        ``TsGroup`` only: spikes per second instead of spike counts per bin.

    Returns
    -------
    xarray.DataArray
        float32, dims ``(neurons, time, presentations)``, ``time`` in seconds relative to the event;
        ``attrs`` record the pynapple types, window, bin size and alignment rule as ``read_nwb`` does.

    Raises
    ------
    InputDataError
        Not a pynapple object, a window longer than the recording, no window inside it, a bin size that
        is not a whole multiple of the sample period, ...
    NwbSaeError
        pynapple is not installed.

    Notes
    -----
    The recording a ``TsGroup`` covers: its ``time_support`` when that is wider than its spikes (it
    then says when the recording ran, like a Units table's ``obs_intervals``); otherwise (pynapple's
    default, also for ``nap.load_file``) from time 0 to the last spike, as for a Units table without
    ``obs_intervals``. Differences from ``read_nwb`` come only from what pynapple changed on loading:
    pynapple sorts intervals by start and shortens touching intervals by 1 µs, leaves out
    ``obs_intervals``, the ``conversion`` / ``offset`` of a TimeSeries and some table columns, and
    numbers intervals from 0.

    Examples
    --------
    >>> import pynapple as nap                                              # doctest: +SKIP
    >>> f = nap.load_file("session.nwb")                                    # doctest: +SKIP
    >>> data = from_pynapple(f["units"], presentations=f["trials"], window=(-0.5, 1.5),
    ...                      bin_size=0.05)                                 # doctest: +SKIP
    >>> data.dims                                                           # doctest: +SKIP
    ('neurons', 'time', 'presentations')
    """
    nap = _pynapple()
    shown_as = f"pynapple {type(data).__name__}"
    window = align.as_window(window, shown_as)
    if align_to is not None and presentations is None:
        raise InputDataError(f"{shown_as}: align_to={align_to!r} needs presentations (an IntervalSet).")
    source = _source(nap, data, bin_size, shown_as)
    if len(data.time_support) <= 1:  # several epochs: the gaps between them are stated, not event times
        check_sampled(shown_as, source)
    return _read(nap, shown_as, source, presentations, window, align_to, as_rate)


def _read(nap, shown_as, source, presentations, window, align_to, as_rate) -> xr.DataArray:
    """The windows of ``source`` around ``presentations``, labelled (read_nwb's steps after the file)."""
    if presentations is None:
        pres = consecutive_presentations(shown_as, source, window)
    else:
        coords, table = _interval_columns(nap, presentations, shown_as)
        column = _ALIASES.get(align_to, align_to)
        pres = interval_presentations(shown_as, table, coords, np.arange(len(coords["start_time"])), column,
                                      window, source)
    values, keep, dropped = cut_windows(shown_as, source, pres, as_rate=as_rate)
    attrs = {
        "source": shown_as,
        "activity": "",  # not a path in a file: write_nwb then picks the file's activity itself
        "activity_type": source.neurodata_type,
        "activity_choice": "named",
        **window_attrs(source, pres, dropped, as_rate),
        "neuron_table": "",
    }
    return windows_dataarray(values, source, pres, keep, attrs)


def _source(nap, data, bin_size, shown_as):
    """The ActivitySource of a pynapple object (spike trains binned, or continuous samples)."""
    if isinstance(data, nap.TsGroup):
        return _spike_source(data, bin_size, shown_as)
    if isinstance(data, nap.Tsd | nap.TsdFrame | nap.TsdTensor):
        return _continuous_source(nap, data, bin_size, shown_as)
    raise InputDataError(
        f"{shown_as}: from_pynapple takes a TsGroup (spike trains), a TsdFrame, TsdTensor or Tsd "
        f"(continuous activity); got {type(data).__module__}.{type(data).__name__}."
    )


def _spike_source(group, bin_size, shown_as):
    ids = np.asarray(list(group.keys()))
    trains, notes = [np.asarray(group[key].t, dtype=float) for key in group.keys()], []
    unsorted = [i for i, train in enumerate(trains) if np.any(np.diff(train) < 0)]
    for i in unsorted:
        trains[i] = np.sort(trains[i])
    if unsorted:
        notes.append(f"spike times of {len(unsorted)} unit(s) were not sorted; sorted on reading")
    if not any(len(t) for t in trains):
        raise InputDataError(f"{shown_as}: the TsGroup holds no spikes at all.")
    extent, observed = spike_extent(trains), False
    support = group.time_support
    first = min(t[0] for t in trains if len(t))
    if len(support) and (support.start.min() < first or support.end.max() > extent[1]):
        extent, observed = (float(support.start.min()), float(support.end.max())), True
    reader = SpikeReader(trains, spike_bin_size(shown_as, bin_size), extent, observed)
    coords = {"id": ids, **_columns(group.metadata, len(ids), skip=_COMPUTED)}
    return spike_activity(shown_as, "TsGroup", "TsGroup", reader, coords, notes=notes)


def _continuous_source(nap, data, bin_size, shown_as):
    kind = type(data).__name__
    times = np.asarray(data.t, dtype=float)
    if not len(times):
        raise InputDataError(f"{shown_as}: the {kind} holds no samples.")
    samples = data.d if isinstance(data, nap.Tsd | nap.TsdFrame) else np.asarray(data.d).reshape(len(times), -1)
    n_channels = 1 if samples.ndim == 1 else samples.shape[1]
    if isinstance(data, nap.TsdFrame):
        coords = {"id": np.asarray(data.columns), **_columns(data.metadata, n_channels)}
    else:
        coords = {"id": np.arange(n_channels)}
    notes = []
    raw_dt, starting_time = series_timing(shown_as, kind, times)
    reader = SeriesReader(
        filename="", dataset=kind, transposed=False, n_raw=len(times), n_channels=n_channels,
        per_bin=samples_per_bin(shown_as, kind, bin_size, raw_dt, notes), raw_dt=raw_dt,
        starting_time=starting_time, raw_timestamps=times, h5dataset=samples,
    )
    return series_activity(shown_as, kind, "timeseries", kind, reader, coords, notes=notes)


def _interval_columns(nap, presentations, shown_as) -> tuple[dict, str]:
    """Presentation columns (``start_time``, ``stop_time``, metadata) of an IntervalSet / Ts / Tsd."""
    if isinstance(presentations, nap.IntervalSet):
        coords = {"start_time": np.asarray(presentations.start, dtype=float),
                  "stop_time": np.asarray(presentations.end, dtype=float)}
        coords.update(_columns(presentations.metadata, len(presentations), skip=coords))
        return coords, "IntervalSet"
    if isinstance(presentations, nap.Ts | nap.Tsd):
        coords = {"start_time": np.asarray(presentations.t, dtype=float)}
        if isinstance(presentations, nap.Tsd):
            coords["value"] = np.asarray(presentations.d)
        return coords, type(presentations).__name__
    raise InputDataError(
        f"{shown_as}: presentations must be a pynapple IntervalSet (trials, stimuli) or Ts / Tsd (event "
        f"times); got {type(presentations).__module__}.{type(presentations).__name__}."
    )


def _columns(frame, n: int, skip=()) -> dict[str, np.ndarray]:
    """Metadata columns (a pandas DataFrame, or None) as 1-D arrays of length ``n``; text as ``str``."""
    out = {}
    if frame is None:
        return out
    for name in frame.columns:
        if name in skip:
            continue
        values = np.asarray(frame[name].to_numpy())
        if values.shape != (n,):
            continue
        if values.dtype.kind in "OSU":
            values = as_str_array(values)
        out[str(name)] = values
    return out


def to_pynapple(data, relative: bool = False):
    """Codes (or any activity DataArray) as a pynapple object.

    Parameters
    ----------
    data : xarray.DataArray
        Either dims ``(time, latents)`` on the recording's time base (``read_results(f).codes``), or
        dims ``(latents, time, presentations)`` (``SAE.encode``; also ``(neurons, time, presentations)``
        from :func:`~nwb_sae.read_nwb` / :func:`from_pynapple`) with ``time`` relative to each event.
    relative : bool
        For windowed data: ``False`` (default) gives one ``TsdFrame`` on the recording's time base, the
        windows one after the other; ``True`` gives a ``TsdTensor`` (time, presentations, latents) on
        the time relative to the event, like ``nap.compute_perievent``.

    Returns
    -------
    pynapple.TsdFrame or pynapple.TsdTensor
        One column per latent (or neuron), named by its coordinate. On the recording's time base each
        sample sits at ``event + time`` (the time the window rule reports for it), and the
        ``time_support`` holds one interval per presentation (from its first sample to half a sample
        after its last) with the presentation coordinates as metadata, so that ``restrict``,
        ``compute_tuning_curves`` or ``compute_perievent`` work per presentation.

    Raises
    ------
    InputDataError
        Other dims; windowed data without event times (no ``start_time`` presentation coordinate);
        windows that overlap (then use ``relative=True``).

    Examples
    --------
    >>> codes = sae.encode(from_pynapple(units, presentations=trials, window=(-0.5, 1.5)))  # doctest: +SKIP
    >>> tsd = to_pynapple(codes)                                                            # doctest: +SKIP
    >>> nap.compute_tuning_curves(tsd, position, bins=20)                                   # doctest: +SKIP
    """
    nap = _pynapple()
    if not isinstance(data, xr.DataArray):
        raise InputDataError(f"to_pynapple takes an xarray.DataArray of codes; got {type(data).__name__}.")
    if data.ndim == 2 and "time" in data.dims:
        columns_dim = next(d for d in data.dims if d != "time")
        flat = data.transpose("time", columns_dim)
        return nap.TsdFrame(t=np.asarray(flat["time"].values, dtype=float), d=np.asarray(flat.values),
                            columns=np.asarray(flat[columns_dim].values))
    columns_dim = data.dims[0] if data.ndim == 3 else None
    if columns_dim is None or data.dims[1:] != ("time", "presentations"):
        raise InputDataError(
            f"to_pynapple: dims {tuple(data.dims)} are neither (time, latents) nor (latents or neurons, time, "
            "presentations)."
        )
    columns = np.asarray(data[columns_dim].values)
    values = np.asarray(data.transpose("time", "presentations", columns_dim).values)
    times = np.asarray(data["time"].values, dtype=float)
    if relative:
        return nap.TsdTensor(t=times, d=values)
    return _on_recording_time(nap, data, values, times, columns)


def _on_recording_time(nap, data: xr.DataArray, values: np.ndarray, times: np.ndarray, columns):
    """Windows (time, presentations, columns) laid end to end on the recording's time base."""
    events = presentation_events(data)
    if events is None:
        raise InputDataError(
            f"{data.attrs.get('source', 'data')}: the presentations carry no event times (no start_time "
            "coordinate), so the windows cannot be placed on the recording's time base; use relative=True."
        )
    order = np.argsort(events, kind="stable")
    first, last = events[order] + times[0], events[order] + times[-1]
    gaps = first[1:] - last[:-1]
    if np.any(gaps <= 0):
        raise InputDataError(
            f"{data.attrs.get('source', 'data')}: some windows overlap in time, so they cannot share one "
            "time axis; use to_pynapple(..., relative=True) for a TsdTensor (time, presentations, latents)."
        )
    dt = float(np.median(np.diff(times))) if len(times) > 1 else float(data.attrs.get("bin_size", 1.0))
    pad = min(dt, float(gaps.min()) if len(gaps) else dt) / 2  # intervals must neither touch nor overlap
    labels = {name: np.asarray(coord.values)[order] for name, coord in data.coords.items()
              if coord.dims == ("presentations",)}
    support = nap.IntervalSet(start=first, end=last + pad, metadata=labels)
    t = (events[order][:, None] + times[None, :]).ravel()
    d = values[:, order, :].transpose(1, 0, 2).reshape(len(t), -1)
    return nap.TsdFrame(t=t, d=d, columns=columns, time_support=support)
