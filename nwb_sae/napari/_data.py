"""Opening an NWB file for the browser: results, activity and presentations, all read lazily.

Only what nwb-sae's writer wrote is used (through :func:`nwb_sae.read_results`) and the recording it
points to (through :func:`nwb_sae.io.recording.nwb.open_activity`), so any file that went through the writer opens,
wherever it was made. Codes and activity become :class:`~nwb_sae.napari._align.AlignedArray` views
(presentations, channels, time): nothing is read before a presentation is shown.
"""

from __future__ import annotations

import re
import weakref
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from nwb_sae.errors import NwbSaeError, ObjectNotFoundError, UnsupportedFileError
from nwb_sae.napari import _logic
from nwb_sae.napari._align import AlignedArray, consecutive_starts, sample_period, window_starts
from nwb_sae.napari._masks import RoiMasks, read_roi_masks

DEFAULT_WINDOW_SAMPLES = 100
"""Presentation length (samples) when a file has neither trials nor a training window to follow."""


@dataclass
class Browser:
    """An NWB file opened for browsing: lazy codes and activity aligned to presentations.

    Attributes
    ----------
    path : Path
    module : str
        Processing module of the results.
    modules : list of str
        Processing modules of the file holding nwb-sae results.
    message : str or None
        A problem to show the user (no results, a different neuron set, ...); None when all is well.
    codes : AlignedArray or None
        (presentations, latents, time).
    activity : AlignedArray or None
        (presentations, neurons, time).
    time : numpy.ndarray
        Seconds from the event of each window's columns.
    events : numpy.ndarray
        Event time (file time base) of each presentation.
    table : pandas.DataFrame or None
        One row per presentation with the interval table's columns.
    presentations_from : str
        What the presentations are ('trials', 'consecutive windows of 5 s', ...).
    dictionary : numpy.ndarray or None
        (latents, neurons); None when the results belong to another neuron set.
    neuron_ids : numpy.ndarray or None
    stats : xarray.Dataset or None
        Per-latent statistics written with the results.
    masks : RoiMasks or None
        ROI masks of the neurons (imaging data only).
    activity_path : str or None
        Object path of the activity in the file.
    provenance : dict
    """

    path: Path
    module: str
    modules: list
    message: str | None = None
    codes: AlignedArray | None = None
    activity: AlignedArray | None = None
    time: np.ndarray = field(default_factory=lambda: np.zeros(0))
    events: np.ndarray = field(default_factory=lambda: np.zeros(0))
    table: pd.DataFrame | None = None
    presentations_from: str = ""
    dictionary: np.ndarray | None = None
    neuron_ids: np.ndarray | None = None
    stats: object = None
    masks: RoiMasks | None = None
    activity_path: str | None = None
    provenance: dict = field(default_factory=dict)
    first_presentation: int = 0
    _stack: ExitStack = field(default_factory=ExitStack, repr=False)

    @property
    def n_presentations(self) -> int:
        """Number of presentations (the slider's length)."""
        ref = self.codes if self.codes is not None else self.activity
        return ref.shape[0] if ref is not None else 0

    def code_limits(self, first: np.ndarray) -> tuple[float, float]:
        """Contrast limits for the codes from one presentation (codes are mostly >= 0)."""
        lo, hi = _logic.robust_limits(first, q=99.9)
        return (min(lo, 0.0), hi if hi > 0 else 1.0)

    def default_column(self) -> str | None:
        """The presentation column offered first for condition averages ('condition' when there is one)."""
        columns = _logic.grouping_columns(self.table)
        for name in ("condition", "stimulus", "stim", "trial_type", "stimulus_type"):
            if name in columns:
                return name
        return columns[0] if columns else None

    def presentation_text(self, p: int, long: bool = False) -> str:
        """One line about presentation ``p``: its index, event time and (long) its table columns."""
        text = f"presentation {p}"
        if self.events.size > p:
            text += f" at {self.events[p]:.3f} s"
        column = self.default_column()
        if self.table is not None and p < len(self.table):
            row = self.table.iloc[p]
            if long:
                cells = [f"{k}={_fmt(v)}" for k, v in row.items() if not str(k).endswith("_time")][:6]
                text = f"{text} of {self.n_presentations} ({self.presentations_from})" + (
                    ": " + ", ".join(cells) if cells else "")
            elif column:
                text += f" ({column}={_fmt(row[column])})"
        elif long:
            text += f" of {self.n_presentations} ({self.presentations_from})"
        return text

    def describe(self) -> str:
        """A short summary of what is shown."""
        parts = [f"<b>{self.path.name}</b>"]
        if self.codes is not None:
            parts.append(f"{self.codes.shape[1]} latents from processing/{self.module}")
        if self.activity is not None:
            parts.append(f"{self.activity.shape[1]} neurons from {self.activity_path}")
        if self.n_presentations:
            ref = self.codes if self.codes is not None else self.activity
            parts.append(f"{self.n_presentations} presentations ({self.presentations_from}) "
                         f"of {ref.shape[2]} samples")
        if self.masks is not None and self.dictionary is not None:
            parts.append(f"ROI masks {self.masks.shape[0]}x{self.masks.shape[1]}")
        return " · ".join(parts)

    def close(self) -> None:
        """Close the files held open for lazy reading."""
        self._stack.close()


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, (float, np.floating)) else str(value)


def result_modules(path) -> list[str]:
    """Processing modules of ``path`` that hold nwb-sae results (empty when it cannot be opened)."""
    import h5py

    from nwb_sae.io.results.read import nwb_sae_modules

    try:
        with h5py.File(path, "r") as f:
            return nwb_sae_modules(f)
    except OSError:
        return []


def _close_results(results) -> None:
    """Close the HDF5 file that lazy results keep open (their codes are a dask array over its dataset)."""
    import h5py

    graph = getattr(getattr(results.codes, "data", None), "dask", None)
    for value in graph.values() if graph is not None else ():
        if isinstance(value, h5py.Dataset) and value.id.valid:
            value.file.close()
            return


def training_window(provenance: dict) -> tuple[tuple[float, float] | None, str | None, str | None]:
    """The window, presentation table and alignment column the SAE was trained with, when recorded."""
    attrs = dict(provenance.get("data_attrs") or {})
    window = attrs.get("window")
    if window is None:  # read_nwb states its rule as "windows (START, STOP) s around ..."
        found = re.search(r"windows \(\s*([-+0-9.eE]+)\s*,\s*([-+0-9.eE]+)\s*\)", str(attrs.get("alignment", "")))
        window = found.groups() if found else None
    try:
        window = (float(window[0]), float(window[1])) if window is not None else None
    except (TypeError, ValueError, IndexError):
        window = None
    table = attrs.get("presentations") or attrs.get("presentation_table")
    if table in ("consecutive windows", ""):
        table = None
    align_to = attrs.get("align_to")
    return window, (str(table) if table else None), (str(align_to) if align_to else None)


def read_presentations(path, name: str | None = None) -> tuple[pd.DataFrame | None, str]:
    """The presentation table of ``path`` as a DataFrame (the named one, else ``trials`` when present).

    Returns
    -------
    table : pandas.DataFrame or None
        One row per interval with ``start_time``, ``stop_time`` and the other scalar columns.
    where : str
        The table's path in the file ('' when there is none).
    """
    from nwb_sae.io.recording.nwb_file import open_nwb
    from nwb_sae.io.recording.nwb_find import choose_table, interval_tables
    from nwb_sae.io.recording.nwb_tables import table_columns

    with open_nwb(path) as (io, nwbfile, _):
        tables = interval_tables(io, nwbfile)
        if name is None:
            trials = [t for t in tables if t.path == "intervals/trials" or t.name == "trials"]
            if not trials:
                return None, ""
            chosen = trials[0]
        else:
            chosen = choose_table(path, tables, name)
        columns = table_columns(chosen.container)
    table = pd.DataFrame(columns)
    if "start_time" not in table or len(table) == 0:
        return None, ""
    return table.reset_index(drop=True), chosen.path


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
        no ROI masks) are in ``Browser.message``.

    Raises
    ------
    NwbSaeError
        The file cannot be read, or holds neither results nor activity.
    """
    from nwb_sae import read_results
    from nwb_sae.io.recording.nwb import open_activity

    path = Path(path)
    if not path.is_file():
        raise UnsupportedFileError(f"{path}: no such file.")
    browser = Browser(path=path, module=module, modules=result_modules(path))
    weakref.finalize(browser, browser._stack.close)  # files close with the browser, or at exit
    notes = []
    try:
        results = read_results(path, module=module)
    except ObjectNotFoundError as err:
        results = None
        others = f" It has results in: {', '.join(browser.modules)}." if browser.modules else ""
        notes.append(f"No nwb-sae results in processing/{module} of {path.name}.{others} Showing the "
                     f"recording only; write results with `nwb-sae inference --nwb_out` ({err})")
    if results is not None:
        browser._stack.callback(_close_results, results)
        browser.provenance = dict(results.provenance or {})
        browser.stats = results.latent_stats
    window, table_name, align_to = training_window(browser.provenance)

    # -- the activity the results were computed from -------------------------------------------------
    activity_path = (results.source or {}).get("activity") if results is not None else None
    code_times = np.asarray(results.codes["time"].values, dtype=float) if results is not None else None
    bin_size = None
    if results is not None:
        bin_size = (results.source or {}).get("bin_size") or (
            sample_period(code_times) if code_times.size > 1 else None)
    source = None
    try:
        source = browser._stack.enter_context(open_activity(path, activity=activity_path, bin_size=bin_size))
        browser.activity_path = source.object_path
    except NwbSaeError as err:
        if results is None:
            browser.close()
            raise
        notes.append(f"The recording the results were computed from cannot be shown: {err}")

    # -- presentations -----------------------------------------------------------------------------
    try:
        table, where = read_presentations(path, table_name)
    except NwbSaeError as err:
        table, where = None, ""
        notes.append(f"Presentations could not be read ({err}); showing consecutive windows.")
    times = code_times if code_times is not None else source.sample_times()
    dt = bin_size if bin_size is not None else source.dt
    if table is not None:
        column = align_to if align_to in table else "start_time"
        browser.events = table[column].to_numpy(dtype=float)
        if window is None:
            durations = (table["stop_time"] - table["start_time"]).to_numpy(dtype=float) \
                if "stop_time" in table else np.array([])
            length = float(np.nanmedian(durations)) if durations.size and np.isfinite(durations).any() else \
                DEFAULT_WINDOW_SAMPLES * dt
            window = (0.0, max(length, dt))
        browser.table, browser.presentations_from = table, f"{where.split('/')[-1]}, aligned to {column}"
        starts, n_time = window_starts(times, browser.events, window, dt)
    else:
        n_time = int(round((window[1] - window[0]) / dt)) if window is not None else DEFAULT_WINDOW_SAMPLES
        n_time = max(1, min(n_time, times.size))
        starts = consecutive_starts(times.size, n_time)
        window = (window[0], window[0] + n_time * dt) if window is not None else (0.0, n_time * dt)
        browser.events = times[starts] - window[0]
        browser.presentations_from = f"consecutive windows of {n_time * dt:.3g} s"
    browser.time = window[0] + np.arange(n_time) * dt

    if results is not None:
        codes = results.codes.transpose("time", "latents")
        browser.codes = AlignedArray(_reader_of(codes), starts, n_time, codes.sizes["time"], codes.sizes["latents"])

    # -- the dictionary, if it belongs to these neurons ----------------------------------------------
    positions = None
    if results is not None and source is not None:
        dictionary = results.dictionary.transpose("latents", "neurons")
        ids = _neuron_ids(dictionary)
        positions = _logic.match_neurons(ids, source.neuron_coords["id"])
        if positions is None:
            notes.append(_logic.neuron_set_problem(ids, source.neuron_coords["id"],
                                                   f"{path.name}: processing/{module}", source.object_path))
        else:
            browser.dictionary = np.asarray(dictionary.values, dtype=np.float32)
            browser.neuron_ids = np.asarray(ids)
            if source.kind == "roi_response" and source.neuron_table_path:
                rows = source.neuron_table_rows
                rows = np.arange(source.n_neurons) if rows is None else np.asarray(rows)
                browser.masks = read_roi_masks(path, source.neuron_table_path, rows[positions])
    if source is not None:
        # the activity shows the dictionary's neurons in its order (all neurons when there is none)
        columns = positions if positions is not None and not np.array_equal(
            positions, np.arange(source.n_neurons)) else None
        a_starts = starts if results is None else window_starts(source.sample_times(), browser.events, window,
                                                                 source.dt)[0]
        browser.activity = AlignedArray(source.read, a_starts, n_time, source.n_samples, source.n_neurons,
                                        columns=columns)
    browser.message = "\n".join(notes) or None
    return browser


def _reader_of(codes):
    """``read(start, stop)`` over a lazy (time, latents) DataArray."""
    def read(start: int, stop: int) -> np.ndarray:
        return np.asarray(codes.isel(time=slice(start, stop)).values, dtype=np.float32)
    return read


def _neuron_ids(dictionary) -> np.ndarray:
    for name in ("id", "neuron_id", "neurons"):
        if name in dictionary.coords and dictionary.coords[name].dims == ("neurons",):
            return np.asarray(dictionary.coords[name].values)
    return np.arange(dictionary.sizes["neurons"])
