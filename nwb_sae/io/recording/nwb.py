"""NWB files into labelled ``(neurons, time, presentations)`` DataArrays.

:func:`read_nwb` finds the activity (ROI traces, spike-sorted units, electrical series, any 2-D
TimeSeries), cuts windows around the events of an interval table (or consecutive windows over the
whole recording) and labels everything with what the file says about it. :func:`open_activity`
gives the same activity as a matrix read in slices, for streaming a whole recording through a model.
The window rule is documented in :mod:`nwb_sae.io.align`.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import xarray as xr

from nwb_sae.errors import InputDataError, ObjectNotFoundError
from nwb_sae.io import align
from nwb_sae.io.h5 import open_h5, reading
from nwb_sae.io.recording.arrays import read_hdf5
from nwb_sae.io.recording.nwb_file import is_nwb, open_nwb
from nwb_sae.io.recording.nwb_find import activity_candidates, choose_activity, choose_table, interval_tables
from nwb_sae.io.recording.nwb_source import DEFAULT_BIN_SIZE, ActivitySource, build_source
from nwb_sae.io.recording.nwb_tables import select_rows
from nwb_sae.io.recording.nwb_windows import (
    Presentations,
    check_sampled,
    consecutive_presentations,
    cut_windows,
    table_presentations,
    window_attrs,
    windows_dataarray,
)
from nwb_sae.io.recording.signal import indicator_of, signal_of_series
from nwb_sae.io.remote import path_or_url

__all__ = ["read_nwb", "open_activity", "load_hdf5_or_nwb", "ActivitySource", "DEFAULT_BIN_SIZE"]


@dataclass(frozen=True)
class ReadRequest:
    """What :func:`read_nwb` was asked for (its arguments, the window already checked)."""

    activity: str | None = None
    presentations: str | None = None
    window: tuple[float, float] | None = None
    bin_size: float | None = None
    align_to: str | None = None
    neurons: object = None
    where: object = None
    as_rate: bool = False
    lazy: bool = False
    preprocess: str | None = None
    decay_time: float | None = None


def read_nwb(path, activity=None, presentations=None, window=None, bin_size=None, align_to=None, *,
             neurons=None, where=None, as_rate=False, lazy=False, preprocess=None,
             decay_time=None) -> xr.DataArray:
    """Read an NWB file's activity as a DataArray with dims (neurons, time, presentations).

    Parameters
    ----------
    path : str or Path
        The NWB file (HDF5), opened read-only; or its URL (``https://...``, ``dandi://ID/path.nwb``), read
        in place by byte ranges (:mod:`nwb_sae.io.remote`).
    activity : str, optional
        Path of the activity in the file, e.g. ``"processing/ophys/Fluorescence/RoiResponseSeries"``,
        ``"units"``, ``"processing/ecephys/LFP/ElectricalSeries"``, ``"acquisition/<name>"``, or a
        unique object name. Default: the file's one obvious source (``nwb-sae inspect FILE`` shows
        the candidates and which one that is).
    presentations : str, optional
        Interval table to align on: ``"trials"``, ``"epochs"``, any table in ``intervals`` (by name or
        path) or a TimeIntervals inside a processing module. Default: the whole recording cut into
        consecutive windows.
    window : (float, float) or float, optional
        Seconds relative to each event, e.g. ``(-0.5, 1.5)``; a single number ``L`` means ``(0, L)``.
        Default: with a table ``(0, median duration of its intervals)``; without one,
        :data:`nwb_sae.io.align.DEFAULT_WINDOW_SAMPLES` samples.
    bin_size : float, optional
        Seconds per bin. Units: spike counts per bin (default 0.05 s). Continuous series: averages
        of consecutive samples (must be a whole multiple of the sample period; default: every sample).
    align_to : str, optional
        Column of the interval table holding the event times (default ``"start_time"``).
    neurons : list of ids, str, dict or callable, optional
        Keep these neurons: source ids (``[3, 7, 12]``), a query on the neuron columns
        (``"iscell"``, ``"location == 'CA1'"``), a dict ``{column: values}`` or a function of a
        pandas DataFrame of the neuron columns.
    where : str, dict or callable, optional
        Keep the presentations meeting a condition on the table's columns, e.g.
        ``"stimCategory == 2"``; same forms as ``neurons``.
    as_rate : bool
        Units only: spikes per second instead of spike counts per bin.
    lazy : bool
        Return a dask-backed DataArray; windows are read when computed (the file is reopened then).
    preprocess : {'auto', 'deconvolve', 'none'}, optional
        Apply the calcium front end (:func:`nwb_sae.preprocess.preprocess`, the same rule as
        ``SAE(preprocess=...)``) to the whole continuous recording *before* cutting the windows, so
        transients that cross a window edge and the running baseline come from the recording, not
        from each window. The record goes to ``attrs["preprocessing"]`` and ``SAE.fit`` takes it over.
        Default None: windows of the raw series (``SAE.fit`` then deconvolves back-to-back windows
        as one recording, trial-aligned windows one by one). A deconvolved recording is held in
        memory (float32) and its windows are not lazy. Series with timestamps or binned (``bin_size``)
        are left to ``SAE.fit``.
    decay_time : float, optional
        The indicator's decay time (s) for ``preprocess``; None: the file's indicator or estimated.

    Returns
    -------
    xarray.DataArray
        float32, dims exactly ``(neurons, time, presentations)``. ``neurons`` carries the source ids
        (coordinate ``id``; also the index when unique) and the neuron table's columns; ``time`` is
        seconds relative to the event; ``presentations`` carries the interval table's ids and columns.
        ``attrs`` record the file, the object path, window, bin size, alignment rule, NWB version and
        how many windows were dropped.

    Raises
    ------
    UnsupportedFileError
        Not HDF5, truncated, locked, NWB 1.x, a pre-release schema pynwb cannot read.
    ObjectNotFoundError
        No activity, or the named activity / interval table / column is not there (the message
        lists what is).
    InputDataError
        Ambiguous activity, a window longer than the recording, no window inside the recording, ...

    Warns
    -----
    UserWarning
        When windows that do not lie inside the recording are dropped (with their count), when
        events are NaN, or when no spike falls in any window.

    Examples
    --------
    >>> from nwb_sae.synthetic import make_recording, write_nwb_recording
    >>> rec = make_recording(n_neurons=8, n_atoms=16, n_time=10, n_presentations=6)
    >>> path = write_nwb_recording("rec.nwb", rec)                     # doctest: +SKIP
    >>> da = read_nwb(path, presentations="trials", window=(-0.1, 0.4))  # doctest: +SKIP
    >>> da.dims, da.shape                                                # doctest: +SKIP
    (('neurons', 'time', 'presentations'), (8, 10, 6))
    """
    path = path_or_url(path)
    request = ReadRequest(activity=activity, presentations=presentations, window=align.as_window(window, path),
                          bin_size=bin_size, align_to=align_to, neurons=neurons, where=where, as_rate=as_rate,
                          lazy=lazy, preprocess=preprocess, decay_time=decay_time)
    if align_to is not None and presentations is None:
        raise InputDataError(f"{path}: align_to={align_to!r} needs an interval table (presentations=...).")
    # anything pynwb/h5py raise past this point is reported as a problem of the file, never raw
    with open_nwb(path) as (io, nwbfile, version), reading(path, "its activity and presentations"):
        values, source, pres, keep, attrs = _read_windows(path, io, nwbfile, version, request)
    return windows_dataarray(values, source, pres, keep, attrs)


def _read_windows(path, io, nwbfile, version, request: ReadRequest):
    """The body of :func:`read_nwb`, run while the file is open."""
    candidate = choose_activity(path, activity_candidates(io, nwbfile), request.activity)
    source = build_source(path, io, version, candidate, request.bin_size)
    if request.neurons is not None:
        source = source.subset(_neuron_positions(path, source, request.neurons))
    check_sampled(path, source)
    signal = signal_of_series(source.kind, source.object_path)
    indicator = indicator_of(candidate.container) if source.kind == "roi_response" else ""
    source, record = _front_end(path, source, request, signal, indicator)
    if record is not None:  # the deconvolved recording is in memory: its windows are cut there
        request = replace(request, lazy=False)
    if request.presentations is None:
        pres = consecutive_presentations(path, source, request.window)
    else:
        table = choose_table(path, interval_tables(io, nwbfile), request.presentations)
        pres = table_presentations(path, table, request.align_to, request.window, source)
    values, keep, dropped = cut_windows(path, source, pres, where=request.where, lazy=request.lazy,
                                        as_rate=request.as_rate)
    attrs = _attrs(path, version, nwbfile, source, request, pres, dropped)
    attrs["signal"] = signal  # what the front end deconvolves
    if indicator:
        attrs["indicator"] = indicator
    if record is not None:
        attrs.update(preprocessed="deconvolve", preprocessing=json.dumps(record.to_json()))
    return values, source, pres, keep, attrs


def _front_end(path, source: ActivitySource, request: ReadRequest, signal: str, indicator: str):
    """The source with the calcium front end applied to its whole recording (when asked and it applies)."""
    if request.preprocess is None or source.kind == "units" or source.timestamps is not None \
            or getattr(source.reader, "per_bin", 1) != 1:
        return source, None
    from nwb_sae.preprocess.frontend import deconvolve_recording  # the front end imports the readers' labels

    attrs = {"signal": signal, "indicator": indicator, "source": str(path)}
    with reading(path, source.object_path):
        samples = source.read(0, source.n_samples)
    deconvolved, record = deconvolve_recording(samples, 1.0 / source.dt, attrs, request.preprocess,
                                               request.decay_time)
    if deconvolved is None:
        return source, None
    reader = replace(source.reader, filename="", dataset=source.object_path, transposed=False,
                     n_raw=deconvolved.shape[0], n_channels=deconvolved.shape[1], columns=None, conversion=1.0,
                     offset=0.0, channel_conversion=None, h5dataset=deconvolved)
    return replace(source, reader=reader, unit="deconvolved (noise units)"), record


def _neuron_positions(path, source: ActivitySource, neurons) -> np.ndarray:
    coords = source.neuron_coords
    if isinstance(neurons, str | dict) or callable(neurons):
        positions = np.flatnonzero(select_rows(path, "neurons", coords, neurons))
    else:
        wanted = list(np.atleast_1d(np.asarray(neurons)))
        ids = list(coords["id"])
        missing = [w for w in wanted if w not in ids]
        if missing:
            raise ObjectNotFoundError(
                f"{path}: {source.object_path} has no neuron(s) with id {missing[:10]}; its ids are "
                f"{ids[:20]}{' ...' if len(ids) > 20 else ''}."
            )
        positions = np.array([ids.index(w) for w in wanted], dtype=np.int64)
    if not len(positions):
        raise InputDataError(f"{path}: the neuron selection {neurons!r} keeps no neuron of {source.object_path}.")
    return positions


def _attrs(path, version, nwbfile, source: ActivitySource, request: ReadRequest, pres: Presentations,
           dropped: int) -> dict:
    attrs = {
        "source": str(path),
        "file": str(path),
        "activity": source.object_path,
        "object_path": source.object_path,
        "activity_type": source.neurodata_type,
        "activity_choice": "named" if request.activity is not None else "automatic",
        **window_attrs(source, pres, dropped, request.as_rate),
        "nwb_version": version or "",
        "identifier": str(getattr(nwbfile, "identifier", "") or ""),
        "neuron_table": source.neuron_table_path or "",
    }
    start_time = getattr(nwbfile, "session_start_time", None)
    if start_time is not None:
        attrs["session_start_time"] = start_time.isoformat()
    return attrs


@contextmanager
def open_activity(path, activity=None, bin_size=None):
    """Open an NWB file's activity as a matrix read in slices (the whole recording, no windows).

    Parameters
    ----------
    path : str or Path
        The NWB file (or its URL), opened read-only for the duration of the ``with`` block.
    activity : str, optional
        As in :func:`read_nwb`.
    bin_size : float, optional
        As in :func:`read_nwb` (Units: default 0.05 s).

    Yields
    ------
    ActivitySource
        ``read(start, stop)`` gives float32 (stop - start, n_neurons) and reads only that slice.

    Examples
    --------
    >>> with open_activity("rec.nwb") as src:                 # doctest: +SKIP
    ...     for start in range(0, src.n_samples, 10_000):
    ...         block = src.read(start, min(start + 10_000, src.n_samples))
    """
    path = path_or_url(path)
    with open_nwb(path) as (io, nwbfile, version):
        with reading(path, "its activity"):
            candidate = choose_activity(path, activity_candidates(io, nwbfile), activity)
            source = build_source(path, io, version, candidate, bin_size)
        yield source


def load_hdf5_or_nwb(path, **options) -> xr.DataArray:
    """Read an ``.nwb`` / ``.h5`` / ``.hdf5`` file: NWB through :func:`read_nwb`, plain HDF5 through
    :func:`nwb_sae.io.recording.arrays.read_hdf5`.

    Parameters
    ----------
    path : str or Path
    **options
        ``dataset`` (and ``dims``) select a plain HDF5 dataset (also inside an NWB file); anything else
        (``activity``, ``presentations``, ``align_to``, ``window``, ``bin_size``, ``lazy``, ...) goes to
        :func:`read_nwb`. ``lazy`` is ignored for a plain HDF5 dataset, which is read whole.

    Returns
    -------
    xarray.DataArray
        Dims (neurons, time, presentations).

    Examples
    --------
    >>> load_hdf5_or_nwb("session.nwb", presentations="trials", window=(-0.5, 1.5))  # doctest: +SKIP
    >>> load_hdf5_or_nwb("traces.h5", dataset="dff", dims=("time", "neurons"))    # doctest: +SKIP
    """
    path = path_or_url(path)
    dataset, dims = options.pop("dataset", None), options.pop("dims", None)
    lazy = bool(options.pop("lazy", False))
    if dataset is not None:
        window = options.pop("window", None)
        if options:
            raise InputDataError(
                f"{path}: dataset={dataset!r} reads a plain HDF5 dataset; the NWB options "
                f"{sorted(options)} do not apply to it. Give one or the other."
            )
        return read_hdf5(path, dataset, dims=dims, window=window)
    with open_h5(path) as h5:
        nwb = is_nwb(h5) or "nwb_version" in h5
    if nwb:
        if dims is not None:
            raise InputDataError(f"{path}: dims={dims!r} applies to a plain HDF5 dataset; give dataset=... too.")
        return read_nwb(path, **options, lazy=lazy)
    window = options.pop("window", None)
    options.pop("preprocess", None), options.pop("decay_time", None)  # SAE.fit applies the front end here
    if options:
        raise InputDataError(
            f"{path}: is a plain HDF5 file, not NWB; the options {sorted(options)} apply to NWB files. "
            "Name the dataset instead (dataset=..., --dataset)."
        )
    return read_hdf5(path, None, dims=dims, window=window)
