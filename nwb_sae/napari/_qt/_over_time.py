"""The selected ensemble over time, and the background pass over all presentations it needs.

A mixin of :class:`~nwb_sae.napari._qt._widget.SaeBrowserWidget`: a napari ``thread_worker`` steps
through :func:`~nwb_sae.napari._logic.summary_steps` (quit when a newer pass replaces it or the widget
goes away); when it returns, the time course of the selected latent is drawn: condition means with
their SEM and the circular-shift band for trials, the whole session with its band and the current
window for consecutive windows of a continuous recording. Once per file the slider then moves to the
presentation where the first ensemble is most active.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from napari.qt.threading import thread_worker
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QListWidgetItem

from nwb_sae.napari import _logic

N_TOP = 12
"""Presentations listed as the selected latent's strongest."""


def _alive(widget) -> bool:
    """False once Qt has deleted the widget (its Python object may outlive it)."""
    try:
        widget.objectName()
    except RuntimeError:
        return False
    return True


class OverTimeMixin:
    """The time-course plot and the background summary pass of the browser widget."""

    def _show_summary_of_latent(self) -> None:
        b, s, latent = self.browser, self.summary, self.latent
        self.top_list.clear()
        if latent is None:
            return
        if s is None:
            self.plots.show_conditions(b.time, None, [], None, latent, note="averaging over presentations…")
            self.top_label.setText("top presentations (computing…)")
            return
        if self._continuous():
            times = (b.events[:, None] + np.array([b.time[seg].mean() for seg in s.trace_bins])[None]).ravel()
            self.plots.show_session(times, s.trace[latent], _logic.session_band(s.trace[latent]), latent,
                                    self._current_window())
        else:
            band = s.null_band[latent] if s.null_band is not None else None
            sem = s.condition_sem[:, latent] if s.condition_sem is not None else None
            self.plots.show_conditions(b.time, s.condition_means[:, latent], s.levels, s.column, latent,
                                       sem=sem, band=band)
        top = _logic.top_presentations(s.presentation_means, latent, N_TOP)
        self.top_label.setText(f"top presentations of latent {latent} (click to go there)")
        for p in top.tolist():
            item = QListWidgetItem(f"{b.presentation_text(p)} · mean code {s.presentation_means[p, latent]:.3g}")
            item.setData(Qt.ItemDataRole.UserRole, int(p))
            self.top_list.addItem(item)

    def _continuous(self) -> bool:
        """Whether the presentations are consecutive windows of one recording (no trials)."""
        return self.browser is not None and self.browser.presentations_from.startswith("consecutive")

    def _current_window(self) -> tuple[float, float] | None:
        b = self.browser
        dims = self.viewer.dims
        if b is None or not b.n_presentations or not b.time.size:
            return None
        p = min(int(dims.current_step[dims.ndim - 3]) if dims.ndim >= 3 else 0, b.n_presentations - 1)
        dt = float(np.median(np.diff(b.time))) if b.time.size > 1 else 0.0
        return (float(b.events[p] + b.time[0]), float(b.events[p] + b.time[-1] + dt))

    # -- background summary -----------------------------------------------------------------
    def _on_group_changed(self, text: str) -> None:
        if self.browser is not None and self.browser.codes is not None:
            self.summary = None
            self._show_summary_of_latent()
            self._start_summary()

    def _start_summary(self) -> None:
        """Average the codes over presentations in a napari worker thread (one step per batch)."""
        self._stop_summary()
        b = self.browser
        worker = thread_worker(_logic.summary_steps, start_thread=False, ignore_errors=True)(
            b.codes, b.table, self.current_column())
        worker.returned.connect(partial(self._summary_ready, b))
        worker.errored.connect(self._summary_failed)
        self._running["worker"] = worker
        worker.start()

    def _stop_summary(self) -> None:
        worker, self._running["worker"] = self._running["worker"], None
        if worker is not None:
            worker.quit()  # stops at its next step; a quit worker returns nothing

    def _summary_failed(self, err) -> None:
        if _alive(self):
            self.show_message(f"Could not average the codes over presentations: {err}")

    def _summary_ready(self, browser, summary) -> None:
        if not _alive(self) or browser is not self.browser or summary.column != self.current_column():
            return
        self.summary = summary
        self._fill_table()
        self._show_summary_of_latent()
        self._open_at_strongest(browser)
        self.summary_ready.emit()

    def _open_at_strongest(self, browser) -> None:
        """Once per file, while the slider is where the file opened: go to the presentation where the
        selected ensemble is most active, so the first view shows it at work."""
        dims = self.viewer.dims
        if browser.opened_at_strongest or self.latent is None or dims.ndim < 3:
            return
        browser.opened_at_strongest = True
        if int(dims.current_step[dims.ndim - 3]) == browser.first_presentation:
            top = _logic.top_presentations(self.summary.presentation_means, self.latent, 1)
            if top.size:
                self.go_to_presentation(int(top[0]))
