"""The "SAE code browser" dock widget: latents, their atoms, condition averages and top presentations.

The widget only wires the controls of ``_panel`` to the viewer and to the plain functions of ``_logic``,
``_masks``, ``_layers`` and ``_open``: it opens a file (or adopts the layers the reader made), lists the latents with their statistics,
and for the selected latent shows its atom over the neurons, its mean time course per condition, its
top presentations (click to jump there) and the ROIs painted by its weights. Clicking a row of the
codes image selects that latent. The averages over all presentations are computed by a napari
``thread_worker`` stepping through :func:`~nwb_sae.napari._logic.summary_steps`, quit when a newer pass
replaces it or the widget goes away.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from napari.qt.threading import thread_worker
from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import QFileDialog, QListWidgetItem

from nwb_sae.errors import NwbSaeError
from nwb_sae.napari import _logic
from nwb_sae.napari._layers import BROWSER, ROLE, layer_data, weight_limits
from nwb_sae.napari._masks import paint
from nwb_sae.napari._qt._panel import NO_GROUPING, BrowserPanel

if TYPE_CHECKING:
    import napari

N_TOP = 12


def _alive(widget) -> bool:
    """False once Qt has deleted the widget (its Python object may outlive it)."""
    try:
        widget.objectName()
    except RuntimeError:
        return False
    return True


class SaeBrowserWidget(BrowserPanel):
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
        self.latent_table.latent_selected.connect(lambda latent: self.select_latent(latent, from_table=True))
        self.top_list.itemClicked.connect(self._on_top_clicked)
        self._running = {"worker": None}  # the summary pass; the teardown quits it when the widget is deleted
        connections = [(napari_viewer.layers.events.inserted, self._on_layer_inserted),
                       (napari_viewer.layers.events.removed, self._on_layer_removed),
                       (napari_viewer.dims.events.current_step, self._on_step)]
        for emitter, slot in connections:
            emitter.connect(slot)
        napari_viewer.mouse_drag_callbacks.append(self._on_click)
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

    def _add_layers(self, browser) -> None:
        for data, kwargs, kind in layer_data(browser):
            getattr(self.viewer, f"add_{kind}")(data, **kwargs)
        self.viewer.reset_view()

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
        self.show_all.blockSignals(True)  # significant ensembles only, when the file says which they are
        self.show_all.setChecked(not _logic.has_significance(browser.stats))
        self.show_all.blockSignals(False)
        self._fill_table()
        self._on_step()

    # -- layers -----------------------------------------------------------------------------------
    def _layers_of(self, browser) -> dict:
        return {layer.metadata.get(ROLE): layer for layer in self.viewer.layers
                if layer.metadata.get(BROWSER) is browser}

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
        stored = _logic.stored_selectivity(b.stats, column)
        eta2, eta2_q = stored if stored is not None else (eta2, None)  # the tested statistics win
        n_latents = b.codes.shape[1] if b.codes is not None else 0
        self.table = _logic.latent_table(b.stats, n_latents, eta2, preferred, levels, eta2_q)
        self.table = self.table.loc[_logic.shown_latents(self.table, self.show_all.isChecked())]
        self.latent_table.show_table(self.table)
        if self.latent is not None:
            self.latent_table.highlight(self.latent)

    # -- selecting a latent ---------------------------------------------------------------------
    def select_latent(self, latent: int, from_table: bool = False) -> None:
        """Select ``latent``: update the atom plot, the ROI painting, the condition plot and the top list."""
        b = self.browser
        if b is None or b.codes is None or not 0 <= latent < b.codes.shape[1]:
            return
        self.latent = int(latent)
        if not from_table:
            self.latent_table.highlight(self.latent)
        atom = b.dictionary[self.latent] if b.dictionary is not None else None
        labels = b.neuron_ids if b.neuron_ids is not None and len(b.neuron_ids) <= 40 else None
        self.plots.show_atom(atom, self.latent, labels)
        self._mark_row(self.latent)
        weights_layer = self.layer("roi_weights")
        if weights_layer is not None and atom is not None:
            weights_layer.data = paint(b.masks, atom)
            weights_layer.contrast_limits = weight_limits(b.dictionary, self.latent)
            weights_layer.name = f"ROI weights, latent {self.latent} ({b.path.name})"
        self._show_summary_of_latent()

    def _mark_row(self, latent: int) -> None:
        """Outline the selected latent's row on the codes image (a Shapes layer, added once per file)."""
        codes = self.layer("codes")
        if codes is None:
            return
        ts = codes.scale[-1]
        rect = np.array([[latent - 0.5, -0.5 * ts], [latent + 0.5, (codes.data.shape[2] - 0.5) * ts]])
        marker = self.layer("selection")
        if marker is None:
            active = self.viewer.layers.selection.active
            self.viewer.add_shapes(
                [rect], shape_type="rectangle", edge_color="#00e5ff", face_color="transparent",
                edge_width=0.3, name=f"selected latent ({self.browser.path.name})",
                metadata={BROWSER: self.browser, ROLE: "selection"})
            self.viewer.layers.selection.active = active or codes
        else:
            marker.data = [rect]

    def _show_summary_of_latent(self) -> None:
        b, s, latent = self.browser, self.summary, self.latent
        self.top_list.clear()
        if latent is None:
            return
        if s is None:
            self.plots.show_conditions(b.time, None, [], None, latent, note="averaging over presentations…")
            self.top_label.setText("top presentations (computing…)")
            return
        self.plots.show_conditions(b.time, s.condition_means[:, latent], s.levels, s.column, latent)
        top = _logic.top_presentations(s.presentation_means, latent, N_TOP)
        self.top_label.setText(f"top presentations of latent {latent} (click to go there)")
        for p in top.tolist():
            item = QListWidgetItem(f"{b.presentation_text(p)} · mean code {s.presentation_means[p, latent]:.3g}")
            item.setData(Qt.ItemDataRole.UserRole, int(p))
            self.top_list.addItem(item)

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
        self.summary_ready.emit()

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
