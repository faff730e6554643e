"""The browser's controls and their layout, without behaviour (the widget wires them to the viewer).

File row (path, module, open), a message line for problems, a summary of what is shown, the condition
column, the selected ensemble's track across sessions, the sortable latent table, the atom and condition plots, and the top presentations.
"""

from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from nwb_sae.napari._qt._plots import PlotCanvas
from nwb_sae.napari._qt._table import LatentTable
from nwb_sae.napari._rows import NORMALISATIONS

ROW_ORDERS = {"members on top": "members", "similarity": "similarity", "file order": "file"}
"""Row orders offered for the activity: label -> ``Browser.order_by``."""
NO_GROUPING = "(none)"
"""The condition column entry meaning: all presentations form one condition."""


class BrowserPanel(QWidget):
    """The controls of the SAE code browser, laid out; see :class:`~nwb_sae.napari._qt._widget.SaeBrowserWidget`."""

    def __init__(self):
        super().__init__()
        self.path_edit = QLineEdit(placeholderText="an NWB file written by nwb-sae")
        self.browse_button = QPushButton("…")
        self.browse_button.setToolTip("Choose an NWB file")
        self.module_combo = QComboBox(editable=True)
        self.module_combo.addItem("sae")
        self.module_combo.setToolTip("processing module holding the results")
        self.open_button = QPushButton("Open")
        file_row = QHBoxLayout()
        file_row.addWidget(self.path_edit, 1)
        file_row.addWidget(self.browse_button)
        file_row.addWidget(self.module_combo)
        file_row.addWidget(self.open_button)

        self.message = QLabel(wordWrap=True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()
        self.info = QLabel(wordWrap=True)
        self.presentation_label = QLabel(wordWrap=True)

        self.header = QLabel(wordWrap=True)
        self.header.setStyleSheet("font-weight: bold;")
        self.cells_hint = QLabel(wordWrap=True)
        self.cells_hint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cells_hint.hide()

        self.group_combo = QComboBox()
        self.group_combo.addItem(NO_GROUPING)
        self.normalise_combo = QComboBox()
        self.normalise_combo.addItems(list(NORMALISATIONS))
        self.normalise_combo.setToolTip("activity rows: z-scored per neuron, (F - F0) / F0 with F0 the 20th "
                                        "percentile, or the file's values")
        self.order_combo = QComboBox()
        self.order_combo.addItems(list(ROW_ORDERS))
        self.order_combo.setToolTip("activity rows: the selected ensemble's members on top (then similar "
                                    "neurons together), similar neurons together, or the file's order")
        form = QFormLayout()
        form.addRow("condition column", self.group_combo)
        form.addRow("activity shown as", self.normalise_combo)
        form.addRow("rows", self.order_combo)
        self.show_all = QCheckBox("show the latents not reported, with the reason")
        self.show_all.setToolTip("list every latent after the ensembles, each with why it is not reported")
        form.addRow(self.show_all)

        self.track_label = QLabel(wordWrap=True)
        self.track_label.setToolTip("the selected ensemble's track across sessions (nwb-sae track): its status "
                                    "and the sessions it is present in, this one in brackets")
        self.previous_session = QPushButton("◀ session")
        self.previous_session.setToolTip("open the previous session where this track is present")
        self.next_session = QPushButton("session ▶")
        self.next_session.setToolTip("open the next session where this track is present")
        self.track_row = QWidget()
        track_layout = QHBoxLayout(self.track_row)
        track_layout.setContentsMargins(0, 0, 0, 0)
        track_layout.addWidget(self.previous_session)
        track_layout.addWidget(self.track_label, 1)
        track_layout.addWidget(self.next_session)
        self.track_row.hide()

        self.latent_table = LatentTable(self)

        self.plots = PlotCanvas(self)
        self.top_list = QListWidget()
        self.top_list.setToolTip("presentations where the selected latent is most active; click to go there")
        self.top_label = QLabel("top presentations")
        self.top_list.setMaximumHeight(70)

        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(self.plots, 5)
        lower_layout.addWidget(self.top_label)
        lower_layout.addWidget(self.top_list, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.latent_table)
        splitter.addWidget(lower)
        splitter.setSizes([230, 620])

        layout = QVBoxLayout(self)
        layout.addLayout(file_row)
        layout.addWidget(self.message)
        layout.addWidget(self.info)
        layout.addWidget(self.cells_hint)
        layout.addLayout(form)
        layout.addWidget(self.header)
        layout.addWidget(self.presentation_label)
        layout.addWidget(self.track_row)
        layout.addWidget(splitter, 1)
        self.setMinimumWidth(360)

    def show_message(self, text: str) -> None:
        """Show a problem in the widget (in place of an exception)."""
        self.message.setText(text)
        self.message.setStyleSheet("color: #f0a040;")
        self.message.show()

    def current_column(self) -> str | None:
        """The presentation column chosen for condition averages and selectivity (None: no grouping)."""
        text = self.group_combo.currentText()
        return None if text in ("", NO_GROUPING) else text
