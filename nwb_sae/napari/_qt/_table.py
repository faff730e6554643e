"""The sortable table of latents in the widget (one row per latent, its statistics in the columns)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import QAbstractItemView, QTableWidget, QTableWidgetItem

SHORT_NAMES = {"activation_frequency": "frequency", "mean_activation": "mean act."}


class LatentTable(QTableWidget):
    """A read-only, sortable table of latents; emits ``latent_selected(int)`` when a row is chosen."""

    latent_selected = Signal(int)

    def __init__(self, parent=None):
        super().__init__(0, 0, parent)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().hide()
        self.itemSelectionChanged.connect(self._on_selection)

    def show_table(self, table: pd.DataFrame) -> None:
        """Fill the rows from a :func:`~nwb_sae.napari._logic.latent_table` (index: latent)."""
        self.blockSignals(True)
        self.setSortingEnabled(False)
        self.clear()
        headers = ["latent", *[SHORT_NAMES.get(c, c) for c in table.columns]]
        self.setColumnCount(len(headers))
        self.setRowCount(len(table))
        self.setHorizontalHeaderLabels(headers)
        for r, (latent, row) in enumerate(table.iterrows()):
            first = _item(int(latent))
            first.setData(Qt.ItemDataRole.UserRole, int(latent))
            self.setItem(r, 0, first)
            for c, value in enumerate(row.tolist(), start=1):
                self.setItem(r, c, _item(value))
        self.setSortingEnabled(True)
        self.resizeColumnsToContents()
        self.blockSignals(False)

    def latent_at(self, row: int) -> int:
        """The latent shown in ``row`` (rows move when the user sorts)."""
        return int(self.item(row, 0).data(Qt.ItemDataRole.UserRole))

    def highlight(self, latent: int) -> None:
        """Select and scroll to the row of ``latent`` without emitting ``latent_selected``."""
        for r in range(self.rowCount()):
            if self.item(r, 0) is not None and self.latent_at(r) == latent:
                self.blockSignals(True)
                self.selectRow(r)
                self.blockSignals(False)
                self.scrollToItem(self.item(r, 0))
                return

    def _on_selection(self) -> None:
        rows = self.selectionModel().selectedRows()
        if rows:
            self.latent_selected.emit(self.latent_at(rows[0].row()))


def _item(value) -> QTableWidgetItem:
    """A cell that sorts numerically for numbers."""
    item = QTableWidgetItem()
    if isinstance(value, (bool, np.bool_)):
        item.setText(str(bool(value)))
    elif isinstance(value, (int, np.integer)):
        item.setData(Qt.ItemDataRole.DisplayRole, int(value))
    elif isinstance(value, (float, np.floating)):
        item.setData(Qt.ItemDataRole.DisplayRole, float(f"{value:.4g}") if np.isfinite(value) else float("nan"))
    else:
        item.setText("" if value is None else str(value))
    return item
