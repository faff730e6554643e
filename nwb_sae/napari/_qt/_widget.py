"""The "SAE code browser" dock widget: ensembles first with their evidence, their members, their time course.

The widget only wires the controls of ``_panel`` to the viewer and to the plain functions of ``_logic``,
``_latents``, ``_rows``, ``_marks``, ``_masks``, ``_layers`` and ``_open``: it opens a file (or adopts the
layers the reader made), says how many ensembles the fit reported and lists them first (every other
latent with the fit's reason), and for the selected latent shows its atom, its members on top of the
activity (labelled with their ids), its time course (condition means with SEM, or the whole session,
each with the circular-shift null band), the ROIs painted by its weights over the plane's image, and
after ``nwb-sae track`` its track, with buttons to the previous / next session where it is present.
Clicking a row of the codes image or of the membership overview selects that latent. The camera follows
the canvas size until the user moves it (:mod:`~nwb_sae.napari._qt._framing`). The averages over all
presentations are computed by a napari ``thread_worker`` stepping through
:func:`~nwb_sae.napari._logic.summary_steps`, quit when a newer pass replaces it or the widget goes away.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import QFileDialog

from nwb_sae.errors import NwbSaeError
from nwb_sae.napari import _latents, _logic, _marks
from nwb_sae.napari._layers import BROWSER, activity_limits, layer_data, weight_limits
from nwb_sae.napari._masks import paint
from nwb_sae.napari._qt._canvas import layers_of, put, show_colorbars
from nwb_sae.napari._qt._framing import ViewFitter
from nwb_sae.napari._qt._over_time import OverTimeMixin, _alive
from nwb_sae.napari._qt._panel import NO_GROUPING, ROW_ORDERS, BrowserPanel
from nwb_sae.napari._qt._sessions import SessionStepMixin

if TYPE_CHECKING:
    import napari



class SaeBrowserWidget(OverTimeMixin, SessionStepMixin, BrowserPanel):
    """Browse the SAE codes and dictionary atoms written into an NWB file beside its recording.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        The viewer to show the layers in.

    Attributes
    ----------
    browser : Browser or None
        The opened file.
    latent : int or None
        The selected latent.
    summary : Summary or None
        Per-presentation means and condition averages, once the background pass is done.
    summary_ready : Signal
        Emitted when a background pass is done and its summary is shown.
    """

    summary_ready = Signal()

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.browser = None
        self.latent: int | None = None
        self.summary: _logic.Summary | None = None
        self.table = None  # pandas.DataFrame listed in the latent table
        self.browse_button.clicked.connect(self._choose_file)
        self.open_button.clicked.connect(lambda: self.load(self.path_edit.text(), self.module_combo.currentText()))
        self.group_combo.currentTextChanged.connect(self._on_group_changed)
        self.show_all.toggled.connect(lambda _checked: self._fill_table() if self.browser is not None else None)
        self.normalise_combo.currentTextChanged.connect(lambda text: self._rows_changed(normalisation=text))
        self.order_combo.currentTextChanged.connect(lambda text: self._rows_changed(order_by=ROW_ORDERS[text]))
        self.fitter = ViewFitter(napari_viewer)
        self.fitter.on_fit.append(self._size_text)
        self.latent_table.latent_selected.connect(lambda latent: self.select_latent(latent, from_table=True))
        self.top_list.itemClicked.connect(self._on_top_clicked)
        self.previous_session.clicked.connect(lambda: self.step_session(-1))
        self.next_session.clicked.connect(lambda: self.step_session(+1))
        self._running = {"worker": None}  # the summary pass; the teardown quits it when the widget is deleted
        connections = [(napari_viewer.layers.events.inserted, self._on_layer_inserted),
                       (napari_viewer.layers.events.removed, self._on_layer_removed),
                       (napari_viewer.dims.events.current_step, self._on_step)]
        for emitter, slot in connections:
            emitter.connect(slot)
        napari_viewer.mouse_drag_callbacks.append(self._on_click)
        connections.append((napari_viewer.canvas.events.size, self.fitter._on_size))
        self.destroyed.connect(_teardown(napari_viewer, connections, self._on_click, self._running))
        for layer in list(napari_viewer.layers):  # a file opened before the widget was docked
            if layer.metadata.get(BROWSER) is not None:
                self.set_browser(layer.metadata[BROWSER], add_layers=False)
                break

    # -- opening ----------------------------------------------------------------------------------
    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open NWB file", "", "NWB files (*.nwb);;All files (*)")
        if path:
            self.path_edit.setText(path)
            self.load(path, self.module_combo.currentText())

    def load(self, path, module: str = "sae"):
        """Open ``path`` (its results in processing module ``module``), add its layers and list its latents.

        Problems (no such file, no results, not an NWB file) are shown in the widget, never raised.

        Returns
        -------
        Browser or None
        """
        from nwb_sae.napari._open import open_browser

        try:
            browser = open_browser(path, module=module or "sae")
        except (NwbSaeError, OSError) as err:
            self.show_message(str(err))
            return None
        self.set_browser(browser, add_layers=True)
        return browser

    def set_browser(self, browser, add_layers: bool = True) -> None:
        """Show an opened file: add its layers (unless they exist), fill the widget, start the summary pass."""
        self._stop_summary()
        self.browser, self.summary, self.latent = browser, None, None
        if add_layers and not self._layers_of(browser):
            self._add_layers(browser)
        dims = self.viewer.dims
        if dims.ndim >= 3:
            dims.axis_labels = (*dims.axis_labels[:-3], "presentation", "row", "time")
            dims.set_current_step(dims.ndim - 3, browser.first_presentation)
        self._fill_controls(browser)
        if browser.codes is not None:
            self.select_latent(int(self.table.index[0]) if len(self.table) else 0)
            self._start_summary()
        else:
            self.plots.clear("no SAE codes in this file")
            self._update_marks()
            self._show_track()
        self._frame(browser)

    def _add_layers(self, browser) -> None:
        for data, kwargs, kind in layer_data(browser):
            getattr(self.viewer, f"add_{kind}")(data, **kwargs)

    def _frame(self, browser) -> None:
        """Colour bars on, camera fitted to every layer (and refitted when the dock's layout resizes the canvas)."""
        show_colorbars(self.viewer, browser)
        self.fitter.fit()

    def _fill_controls(self, browser) -> None:
        self.path_edit.setText(str(browser.path))
        self.module_combo.blockSignals(True)
        self.module_combo.clear()
        self.module_combo.addItems(browser.modules or [browser.module])
        self.module_combo.setCurrentText(browser.module)
        self.module_combo.blockSignals(False)
        if browser.message:
            self.show_message(browser.message)
        else:
            self.message.hide()
        self.info.setText(browser.describe())
        self.group_combo.blockSignals(True)
        self.group_combo.clear()
        self.group_combo.addItems([NO_GROUPING, *_logic.grouping_columns(browser.table)])
        default = browser.default_column()
        if default:
            self.group_combo.setCurrentText(default)
        self.group_combo.blockSignals(False)
        for combo, text in ((self.normalise_combo, browser.normalisation),
                            (self.order_combo, next(k for k, v in ROW_ORDERS.items() if v == browser.order_by))):
            combo.blockSignals(True)
            combo.setCurrentText(text)
            combo.blockSignals(False)
        self.normalise_combo.setEnabled(browser.neuron_stats is not None)
        self.order_combo.setEnabled(browser.neuron_stats is not None)
        self._show_cells_hint(browser)
        self.show_all.blockSignals(True)  # the ensembles first, then every other latent with the fit's reason
        self.show_all.setChecked(True)
        self.show_all.blockSignals(False)
        n_latents = browser.codes.shape[1] if browser.codes is not None else 0
        self.header.setText(_latents.header(browser.stats, n_latents) if browser.codes is not None else "")
        self._fill_table()
        self._on_step()

    # -- layers -----------------------------------------------------------------------------------
    def _layers_of(self, browser) -> dict:
        return layers_of(self.viewer, browser)

    def layer(self, role: str):
        """The layer showing ``role`` ('codes', 'activity', 'roi_weights') of the current file, or None."""
        return self._layers_of(self.browser).get(role) if self.browser is not None else None

    def _on_layer_inserted(self, event) -> None:
        if not _alive(self):
            return
        browser = event.value.metadata.get(BROWSER)
        if browser is not None and browser is not self.browser:
            self.set_browser(browser, add_layers=False)

    def _on_layer_removed(self, event) -> None:
        if not _alive(self):
            return
        browser = event.value.metadata.get(BROWSER)
        if browser is not None and not self._layers_of(browser) and browser is not self.browser:
            browser.close()

    # -- the latent table -----------------------------------------------------------------------
    def _fill_table(self) -> None:
        b = self.browser
        column = self.current_column()
        eta2 = preferred = levels = None
        if self.summary is not None and column and self.summary.column == column and b.table is not None:
            levels, labels = _logic.condition_labels(b.table[column].to_numpy())
            eta2, preferred = _logic.selectivity(self.summary.presentation_means, labels)
        stored = _latents.stored_selectivity(b.stats, column)
        eta2, eta2_q = stored if stored is not None else (eta2, None)  # the tested statistics win
        n_latents = b.codes.shape[1] if b.codes is not None else 0
        self.table = _latents.latent_table(b.stats, n_latents, eta2, preferred, levels, eta2_q, b.member_atoms())
        self.table = self.table.loc[_latents.shown_latents(self.table, self.show_all.isChecked())]
        self.latent_table.show_table(self.table)
        if self.latent is not None:
            self.latent_table.highlight(self.latent)
        self._show_membership()

    def _show_membership(self) -> None:
        b = self.browser
        if b is None or b.dictionary is None or self.table is None:
            return
        ensembles = (self.table.index[self.table["verdict"] == _latents.ENSEMBLE] if "verdict" in self.table
                     else self.table.index[:40])
        latents = np.asarray(ensembles, dtype=np.int64)[:80]
        self.plots.show_membership(b.dictionary[latents], latents, self.latent, on_pick=self.select_latent)

    def _show_cells_hint(self, browser) -> None:
        """Say which ROIs are not cells and how to fit on the cells only (``--neurons COLUMN``)."""
        if browser.cells is None:
            self.cells_hint.hide()
            return
        name, is_cell = browser.cells
        n_cells = int(is_cell.sum())
        text = (f"{n_cells} of {is_cell.size} ROIs are cells by the '{name}' column (non-cells: ids marked *).")
        if n_cells < is_cell.size:
            text += (f" To find ensembles among the cells only: <code>nwb-sae train {browser.path.name} "
                     f"--neurons {name}</code> (or <code>read_nwb(..., neurons='{name}')</code>).")
        self.cells_hint.setText(text)
        self.cells_hint.show()

    # -- selecting a latent ---------------------------------------------------------------------
    def select_latent(self, latent: int, from_table: bool = False) -> None:
        """Select ``latent``: its atom, its members on top of the activity, the ROIs, its time course."""
        b = self.browser
        if b is None or b.codes is None or not 0 <= latent < b.codes.shape[1]:
            return
        self.latent = int(latent)
        if not from_table:
            self.latent_table.highlight(self.latent)
        atoms = b.member_atoms()  # in each neuron's own standard deviations, as its members are judged
        atom = atoms[self.latent] if atoms is not None else None
        labels = b.neuron_ids if b.neuron_ids is not None and len(b.neuron_ids) <= 40 else None
        members = b.members(self.latent)
        self.plots.show_atom(atom, self.latent, labels, members)
        if b.order_by == "members":
            self._rows_changed()
        else:
            self._update_marks()
        weights_layer = self.layer("roi_weights")
        if weights_layer is not None and atom is not None:
            weights_layer.data = paint(b.masks, atom)
            weights_layer.contrast_limits = weight_limits(atoms, self.latent)
            weights_layer.name = f"ROI weights, latent {self.latent} ({b.path.name})"
        self._show_summary_of_latent()
        self._show_membership()
        self._show_track()

    def _rows_changed(self, normalisation: str | None = None, order_by: str | None = None) -> None:
        """Re-normalise / re-order the activity rows and redraw it."""
        b = self.browser
        if b is None or b.neuron_stats is None:
            return
        b.show_rows(self.latent, normalisation, order_by)
        layer = self.layer("activity")
        if layer is not None:
            if normalisation is not None:
                p = int(self.viewer.dims.current_step[self.viewer.dims.ndim - 3]) if self.viewer.dims.ndim >= 3 else 0
                layer.contrast_limits = activity_limits(b.activity[min(p, b.n_presentations - 1)], b.normalisation)
                layer.name = f"activity, {b.normalisation} ({b.path.name})"
            layer.refresh()
        self._update_marks()

    def _update_marks(self) -> None:
        """The selected latent's arrow and outline, the members' outline and ids, the panel titles."""
        b = self.browser
        if b is None:
            return
        marks = []
        if self.latent is not None and b.codes is not None:
            marks += _marks.selection_marks(b, self.latent)
        if b.activity is not None:
            members = b.members(self.latent)
            marks += _marks.member_marks(b, self.latent, members)
            if not len(members) and self.layer("members") is not None:
                self.layer("members").data = []
        titles = _marks.panel_titles(b, self.latent)
        marks += [titles] if titles is not None else []
        for mark in marks:
            put(self.viewer, b, mark)
        self._size_text()

    def _size_text(self) -> None:
        """Text of the marks sized to the zoom, so titles stay over their panels however small the canvas."""
        if not _alive(self) or self.browser is None:
            return
        layers = self._layers_of(self.browser)
        for role, size in _marks.text_sizes(self.browser, self.latent, float(self.viewer.scene.camera.zoom)).items():
            if role in layers:
                layers[role].text.size = size

    def _on_top_clicked(self, item) -> None:
        self.go_to_presentation(int(item.data(Qt.ItemDataRole.UserRole)))

    def go_to_presentation(self, presentation: int) -> None:
        """Move the presentations slider (all layers follow)."""
        self.viewer.dims.set_current_step(self.viewer.dims.ndim - 3, int(presentation))

    def _on_click(self, viewer, event) -> None:
        """A click on the codes image selects the latent of the clicked row."""
        if not _alive(self) or event.type != "mouse_press":
            return
        layer = self.layer("codes")
        if layer is None:
            return
        pos = np.asarray(layer.world_to_data(event.position))
        row, col = int(np.round(pos[-2])), pos[-1]
        if 0 <= row < layer.data.shape[1] and -0.5 <= col <= layer.data.shape[2] - 0.5:
            self.select_latent(row)

    def _on_step(self, event=None) -> None:
        if not _alive(self):
            return
        b = self.browser
        if b is None or b.n_presentations == 0:
            self.presentation_label.setText("")
            return
        dims = self.viewer.dims
        p = int(dims.current_step[dims.ndim - 3]) if dims.ndim >= 3 else 0
        self.presentation_label.setText(b.presentation_text(min(p, b.n_presentations - 1), long=True))
        if self._continuous() and self.summary is not None:
            self.plots.mark_window(self._current_window())

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self._stop_summary()
        super().closeEvent(event)


def _teardown(viewer, connections, on_click, running):
    """What to undo when the widget is deleted (a closure: the widget's methods are gone by then)."""
    def teardown(*_):
        if running["worker"] is not None:
            running["worker"].quit()
        for emitter, slot in connections:
            emitter.disconnect(slot)
        callbacks = viewer.mouse_drag_callbacks
        if on_click in callbacks:
            callbacks.remove(on_click)
    return teardown


__all__ = ["SaeBrowserWidget"]
