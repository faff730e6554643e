"""Opening an NWB file for the browser, phase by phase: results, recording, presentations, layers' data.

Only what nwb-sae's writer wrote is used (through :func:`nwb_sae.read_results`) and the recording it
points to (through :func:`nwb_sae.open_activity`), so any file that went through the writer opens,
wherever it was made.

The presentations are the ones the model was trained on: the window, presentation table, alignment
column and bin size recorded in the results' provenance (the training data's attrs) go to
:func:`nwb_sae.read_nwb`, which decides which presentations exist and how long their windows are
(the one window rule of :mod:`nwb_sae.io.align`). The activity of presentation ``p`` is read by the
recording's own window reader, so it is sample for sample ``read_nwb``'s presentation ``p``; the codes,
written on the recording's time base, are cut by the same rule on their own time base.
"""

from __future__ import annotations

import re
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nwb_sae.errors import NwbSaeError, ObjectNotFoundError, UnsupportedFileError
from nwb_sae.io import align
from nwb_sae.napari import _logic, _rows
from nwb_sae.napari._context import cell_column, find_background
from nwb_sae.napari._data import Browser
from nwb_sae.napari._masks import read_roi_masks
from nwb_sae.napari._tracks import track_context
from nwb_sae.napari._windows import AlignedArray, contiguous_windows


@dataclass
class Presentations:
    """The presentations ``read_nwb`` cuts with the training settings (only those it keeps).

    Attributes
    ----------
    events : numpy.ndarray
        Event time of each presentation (file time base).
    window : (float, float)
        Seconds relative to the events.
    time : numpy.ndarray
        Seconds from the event of each sample of a window.
    table : pandas.DataFrame
        One row per presentation: its id and the interval table's columns.
    described : str
        What they are ('trials, aligned to start_time', 'consecutive windows of 5 s').
    """

    events: np.ndarray
    window: tuple[float, float]
    time: np.ndarray
    table: pd.DataFrame
    described: str


def training_settings(provenance: dict) -> dict:
    """The ``read_nwb`` settings the SAE was trained with, as far as the provenance records them.

    Returns
    -------
    dict
        ``window`` ((start, stop) or None), ``presentations`` (table path, None for consecutive windows,
        missing when unknown) and ``align_to`` (column or None).

    Examples
    --------
    >>> training_settings({"data_attrs": {"window": [-0.5, 1.0], "presentations": "intervals/trials",
    ...                                    "align_to": "start_time"}})
    {'window': (-0.5, 1.0), 'presentations': 'intervals/trials', 'align_to': 'start_time'}
    >>> training_settings({})
    {'window': None, 'align_to': None}
    """
    attrs = dict(provenance.get("data_attrs") or provenance.get("data_attrs_") or {})
    window = attrs.get("window")
    if window is None:  # older files state the rule only as "windows (START, STOP) s around ..."
        found = re.search(r"windows \(\s*([-+0-9.eE]+)\s*,\s*([-+0-9.eE]+)\s*\)", str(attrs.get("alignment", "")))
        window = found.groups() if found else None
    try:
        window = (float(window[0]), float(window[1])) if window is not None else None
    except (TypeError, ValueError, IndexError):
        window = None
    settings = {"window": window}
    table = attrs.get("presentations") or attrs.get("presentation_table")
    if table in ("consecutive windows", ""):
        settings["presentations"] = None
    elif table:
        settings["presentations"] = str(table)
    align_to = attrs.get("align_to")
    settings["align_to"] = str(align_to) if align_to and settings.get("presentations") else None
    return settings


def result_modules(path) -> list[str]:
    """Processing modules of ``path`` that hold nwb-sae results (empty when it cannot be opened)."""
    import h5py

    from nwb_sae.io.results.read import nwb_sae_modules

    try:
        with h5py.File(path, "r") as f:
            return nwb_sae_modules(f)
    except OSError:
        return []


# -- the phases of open_browser --------------------------------------------------------------------------
def open_results(browser: Browser, notes: list):
    """Phase 1: the results in ``browser.module`` (None, with a note, when there are none)."""
    from nwb_sae import read_results

    try:
        results = read_results(browser.path, module=browser.module)
    except ObjectNotFoundError as err:
        others = f" It has results in: {', '.join(browser.modules)}." if browser.modules else ""
        notes.append(f"No nwb-sae results in processing/{browser.module} of {browser.path.name}.{others} "
                     f"Showing the recording only; write results with `nwb-sae inference --nwb_out` ({err})")
        return None
    browser._stack.callback(results.close)
    browser.provenance = dict(results.provenance or {})
    browser.stats = results.latent_stats
    browser.track_context = track_context(browser.path, results.tracks, results.sessions)
    if results.tracks is not None and browser.track_context is None:
        notes.append(f"{browser.path.name} holds tracks, but its sessions table does not say where the other "
                     "sessions' files are (tracked before nwb-sae wrote the 'file' column): run nwb-sae track "
                     "again to step through the sessions of a track here.")
    return results


def open_recording(browser: Browser, results, notes: list):
    """Phase 2: the activity the results were computed from (None, with a note, when it cannot be read)."""
    from nwb_sae import open_activity

    source = (results.source or {}) if results is not None else {}
    try:
        opened = browser._stack.enter_context(
            open_activity(browser.path, activity=source.get("activity"), bin_size=source.get("bin_size")))
    except NwbSaeError as err:
        if results is None:
            raise
        notes.append(f"The recording the results were computed from cannot be shown: {err}")
        return None
    browser.activity_path = opened.object_path
    return opened


def cut_presentations(path: Path, activity: str, settings: dict, bin_size, notes: list) -> Presentations:
    """Phase 3: the presentations ``read_nwb`` cuts from ``activity`` with the training ``settings``.

    Without recorded settings the trials are used when the file has them, else consecutive windows,
    as ``read_nwb`` would. Windows ``read_nwb`` drops (outside the recording) are left out here too,
    with a note.
    """
    from nwb_sae import read_nwb

    def read(table):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            data = read_nwb(path, activity=activity, presentations=table, window=settings["window"],
                            bin_size=bin_size, align_to=settings["align_to"] if table else None, lazy=True)
        return data, caught

    table = settings.get("presentations", "trials")
    try:
        data, caught = read(table) if table else read(None)
    except NwbSaeError as err:
        if table is None:
            raise
        if "presentations" in settings or not isinstance(err, ObjectNotFoundError):
            notes.append(f"The presentations could not be cut as in training ({err}); showing consecutive "
                         "windows.")
        data, caught = read(None)
    notes.extend(str(w.message) for w in caught if "dropped" in str(w.message))
    attrs = data.attrs
    window = (float(attrs["window"][0]), float(attrs["window"][1]))
    columns = {name: np.asarray(coord.values) for name, coord in data.coords.items()
               if coord.dims == ("presentations",) and name != "presentations"}
    table = pd.DataFrame({"id": np.asarray(data["presentations"].values), **columns})
    if attrs["align_to"]:
        column = attrs["align_to"] if attrs["align_to"] in columns else f"presentation_{attrs['align_to']}"
        events = table[column].to_numpy(dtype=float)
        described = f"{attrs['presentations'].split('/')[-1]}, aligned to {attrs['align_to']}"
    else:
        events = table["start_time"].to_numpy(dtype=float) - window[0]
        described = f"consecutive windows of {window[1] - window[0]:.3g} s"
    return Presentations(events, window, np.asarray(data["time"].values, dtype=float), table, described)


def code_windows(results, source, plan: Presentations) -> AlignedArray:
    """Phase 4: the codes cut by the window rule on their time base (the recording's, as written)."""
    codes = results.codes.transpose("time", "latents")
    times = np.asarray(codes["time"].values, dtype=float)
    if source is not None and source.rate:
        starts = align.regular_starts(plan.events, plan.window[0], source.rate, source.starting_time)
    else:
        dt = align.median_dt(times)
        starts = align.timestamp_starts(plan.events, (plan.window[0], plan.window[0] + plan.time.size * dt),
                                        times, dt)[0]

    def read(start: int, stop: int) -> np.ndarray:
        return np.asarray(codes.isel(time=slice(start, stop)).values, dtype=np.float32)

    n_samples, n_latents = codes.sizes["time"], codes.sizes["latents"]
    shape = (plan.events.size, n_latents, plan.time.size)
    return AlignedArray(contiguous_windows(read, starts, plan.time.size, n_samples, n_latents), shape)


def match_dictionary(browser: Browser, results, source, notes: list) -> np.ndarray | None:
    """Phase 5: the dictionary and ROI masks, when its neurons are the recording's (their positions)."""
    dictionary = results.dictionary.transpose("latents", "neurons")
    ids = _neuron_ids(dictionary)
    positions = _logic.match_neurons(ids, source.neuron_coords["id"])
    if positions is None:
        notes.append(_logic.neuron_set_problem(ids, source.neuron_coords["id"],
                                               f"{browser.path.name}: processing/{browser.module}",
                                               source.object_path))
        return None
    browser.dictionary = np.asarray(dictionary.values, dtype=np.float32)
    browser.neuron_ids = np.asarray(ids)
    if source.kind == "roi_response" and source.neuron_table_path:
        rows = source.neuron_table_rows
        rows = np.arange(source.n_neurons) if rows is None else np.asarray(rows)
        browser.masks = read_roi_masks(browser.path, source.neuron_table_path, rows[positions])
    return positions


def activity_windows(source, plan: Presentations, positions: np.ndarray | None) -> AlignedArray:
    """Phase 6: the activity read by the recording's window reader (``read_nwb``'s samples exactly).

    The activity shows the dictionary's neurons in its order (all neurons when there is none).
    """
    inside = source.windows_inside(plan.events, plan.window)
    if not inside.all():  # read_nwb kept only windows inside the recording: nothing can be missing here
        raise UnsupportedFileError(f"{source.path}: {int((~inside).sum())} presentation windows of "
                                   f"{source.object_path} changed between two reads of the file.")

    def read(presentations: np.ndarray) -> np.ndarray:
        return source.read_windows(plan.events[presentations], plan.window).transpose(2, 0, 1)

    columns = positions if positions is not None and not np.array_equal(
        positions, np.arange(source.n_neurons)) else None
    return AlignedArray(read, (plan.events.size, source.n_neurons, plan.time.size), columns=columns)


def add_context(browser: Browser, source, positions: np.ndarray | None) -> None:
    """Phase 7: per-neuron statistics (z-scored rows by default), the plane's image, which ROIs are cells."""
    activity = browser.activity
    sample = activity.raw(_rows.sample_presentations(activity.shape[0], activity.shape[2]))
    browser.neuron_stats = _rows.neuron_stats(sample)
    browser.normalisation = "z-score"
    browser.show_rows()
    columns = {k: np.asarray(v) for k, v in (source.neuron_coords or {}).items()}
    keep = positions if positions is not None else slice(None)
    cells = cell_column({k: v[keep] for k, v in columns.items() if v.ndim == 1 and len(v) == source.n_neurons})
    browser.cells = cells
    if browser.masks is not None:
        browser.background = find_background(browser.path, source.neuron_table_path, browser.masks.shape)


def open_browser(path, module: str = "sae") -> Browser:
    """Open ``path`` for browsing: its results in ``module`` (when present), its activity and presentations.

    Parameters
    ----------
    path : str or Path
        An NWB file, typically written by ``nwb-sae inference --nwb_out``.
    module : str
        Processing module holding the results.

    Returns
    -------
    Browser
        Problems that still leave something to show (no results, results from a different neuron set,
        no ROI masks, presentations left out) are in ``Browser.message``.

    Raises
    ------
    NwbSaeError
        The file cannot be read, or holds neither results nor activity.
    """
    path = Path(path)
    if not path.is_file():
        raise UnsupportedFileError(f"{path}: no such file.")
    browser = Browser(path=path, module=module, modules=result_modules(path))
    weakref.finalize(browser, browser._stack.close)  # files close with the browser, or at exit
    notes: list[str] = []
    try:
        results = open_results(browser, notes)
        source = open_recording(browser, results, notes)
        bin_size = (results.source or {}).get("bin_size") if results is not None else None
        cut_from = source.object_path if source is not None else f"processing/{module}/codes"
        plan = cut_presentations(path, cut_from, training_settings(browser.provenance), bin_size, notes)
        browser.events, browser.table, browser.presentations_from = plan.events, plan.table, plan.described
        browser.time = plan.time
        positions = None
        if results is not None:
            browser.codes = code_windows(results, source, plan)
            if source is not None:
                positions = match_dictionary(browser, results, source, notes)
        if source is not None:
            browser.activity = activity_windows(source, plan, positions)
            add_context(browser, source, positions)
    except BaseException:
        browser.close()
        raise
    browser.message = "\n".join(notes) or None
    return browser


def _neuron_ids(dictionary) -> np.ndarray:
    for name in ("id", "neuron_id", "neurons"):
        if name in dictionary.coords and dictionary.coords[name].dims == ("neurons",):
            return np.asarray(dictionary.coords[name].values)
    return np.arange(dictionary.sizes["neurons"])
