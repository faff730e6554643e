"""The sortable table of latents in the widget (one row per latent, its statistics in the columns)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import QAbstractItemView, QTableWidget, QTableWidgetItem

from nwb_sae.napari._latents import LEADING_COLUMNS, cell_text, heading, heading_tip

HIDDEN = ("significant",)
"""Columns of the latent table not listed (the verdict column says it)."""


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
        """Fill the rows from a :func:`~nwb_sae.napari._latents.latent_table` (index: latent): its leading
        columns, so verdict, size, rate and q fit without scrolling sideways."""
        self.blockSignals(True)
        self.setSortingEnabled(False)
        self.clear()
        columns = [c for c in table.columns if c in LEADING_COLUMNS and c not in HIDDEN]  # the rest: widget.table
        self.setColumnCount(len(columns) + 1)
        self.setRowCount(len(table))
        self.setHorizontalHeaderLabels(["latent", *[heading(c) for c in columns]])
        for c, name in enumerate(columns, start=1):
            self.horizontalHeaderItem(c).setToolTip(heading_tip(name))
        for r, (latent, row) in enumerate(table[columns].iterrows()):
            first = _item(int(latent), str(int(latent)))
            first.setData(Qt.ItemDataRole.UserRole, int(latent))
            self.setItem(r, 0, first)
            for c, (name, value) in enumerate(row.items(), start=1):
                self.setItem(r, c, _item(value, cell_text(name, value)))
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


SORT_KEY = Qt.ItemDataRole.UserRole + 1


class _Cell(QTableWidgetItem):
    """A cell showing formatted text that sorts by its value (numbers numerically, NaN last)."""

    def __lt__(self, other):
        a, b = self.data(SORT_KEY), other.data(SORT_KEY)
        if isinstance(a, float) and isinstance(b, float):
            return (np.isnan(a), a) < (np.isnan(b), b)
        return str(a) < str(b)


def _item(value, text: str) -> QTableWidgetItem:
    """A cell with ``text`` that sorts by ``value``."""
    item = _Cell(text)
    if isinstance(value, (bool, np.bool_, int, np.integer, float, np.floating)):
        item.setData(SORT_KEY, float(value))
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    else:
        item.setData(SORT_KEY, "" if value is None else str(value))
    return item
