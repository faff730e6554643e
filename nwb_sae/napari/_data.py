"""An NWB file opened for the browser: lazy codes and activity aligned to the same presentations.

:class:`Browser` is what the reader, the layers and the widget share; :func:`nwb_sae.napari._open.open_browser`
fills it. Codes and activity are :class:`~nwb_sae.napari._windows.AlignedArray` views (presentations,
channels, time): nothing is read before a presentation is shown.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from nwb_sae.napari import _logic, _rows
from nwb_sae.napari._context import Background
from nwb_sae.napari._masks import RoiMasks
from nwb_sae.napari._rows import NeuronStats
from nwb_sae.napari._tracks import TrackContext
from nwb_sae.napari._windows import AlignedArray


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
    first_presentation : int
    background : Background or None
        Summary image of the imaging plane shown under the ROIs.
    cells : (str, numpy.ndarray) or None
        The neuron column saying which ROIs are cells and its values (activity's neuron order).
    neuron_stats : NeuronStats or None
        Per-neuron statistics of the activity, for the normalisation and the similarity order.
    normalisation : str
        How the activity rows are shown (:data:`~nwb_sae.napari._rows.NORMALISATIONS`).
    order_by : str
        Row order: 'members' (the selected ensemble on top), 'similarity' or 'file'.
    rows : numpy.ndarray or None
        The neuron (activity's own order) each activity row shows; None: the file's order.
    opened_at_strongest : bool
        Whether the browser already moved to the first selected ensemble's strongest presentation.
    track_context : TrackContext or None
        After ``nwb-sae track``: this file's session among the tracked ones and where their files are.
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
    background: Background | None = None
    cells: tuple[str, np.ndarray] | None = None
    neuron_stats: NeuronStats | None = None
    normalisation: str = "raw"
    order_by: str = "members"
    rows: np.ndarray | None = None
    opened_at_strongest: bool = False
    track_context: TrackContext | None = None
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
                shown = {k: v for k, v in row.items() if not str(k).endswith("_time")}
                if str(shown.get("id")) == str(p):  # the id says something only when it is not the position
                    shown.pop("id")
                cells = [f"{k}={_fmt(v)}" for k, v in shown.items()][:6]
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

    def member_atoms(self) -> np.ndarray | None:
        """The atoms where membership is judged: in the fit's normalised units (each neuron in its own
        standard deviations, as the fit's verdict sees them), from the provenance's normalisation scale;
        the dictionary as written when the scale is not recorded.

        The dictionary is written in the recording's units, where one bright ROI's weight can dwarf
        the members that rise with it by as many of their own standard deviations.
        """
        if self.dictionary is None:
            return None
        scale = np.asarray((self.provenance.get("normalization") or {}).get("scale", []), dtype=float).ravel()
        if scale.shape != (self.dictionary.shape[1],) or not np.all(scale > 0):
            return self.dictionary
        atoms = self.dictionary / scale
        return atoms / np.maximum(np.linalg.norm(atoms, axis=1, keepdims=True), 1e-12)

    def members(self, latent: int | None) -> np.ndarray:
        """The neurons of ``latent``'s ensemble, largest weight first (:func:`_rows.members` of its member atom)."""
        atoms = self.member_atoms()
        if atoms is None or latent is None:
            return np.zeros(0, dtype=np.int64)
        return _rows.members(atoms[latent])

    def show_rows(self, latent: int | None = None, normalisation: str | None = None,
                  order_by: str | None = None) -> None:
        """Normalise and order the activity rows (members of ``latent`` on top with ``order_by='members'``)."""
        if self.activity is None or self.neuron_stats is None:
            return
        self.normalisation = normalisation or self.normalisation
        self.order_by = order_by or self.order_by
        atoms = self.member_atoms()
        atom = atoms[latent] if atoms is not None and latent is not None else None
        similarity = _rows.similarity_order(self.neuron_stats.sample)
        self.rows = _rows.row_order(atom, similarity, self.order_by)
        offset, scale = _rows.normalisation(self.neuron_stats, self.normalisation)
        self.activity.set_view(self.rows, offset, scale)

    def row_labels(self) -> np.ndarray:
        """The id of the neuron in each activity row (non-cells marked with a trailing '*')."""
        ids = self.neuron_ids if self.neuron_ids is not None else np.arange(self.activity.shape[1])
        labels = np.asarray([str(v) for v in ids], dtype=object)
        if self.cells is not None:
            labels = np.where(self.cells[1], labels, labels + "*")
        return labels if self.rows is None else labels[self.rows]

    def close(self) -> None:
        """Close the files held open for lazy reading."""
        self._stack.close()


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, (float, np.floating)) else str(value)
