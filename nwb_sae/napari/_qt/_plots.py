"""The two small plots of the widget (dictionary atom, condition time courses), drawn with matplotlib.

A plain ``matplotlib.figure.Figure`` (no pyplot state) inside a Qt canvas; the drawing functions only
take numbers, so tests can read the artists' data back.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

BACKGROUND = "#262930"  # napari's dark theme
FOREGROUND = "#d6d0ce"


class PlotCanvas(FigureCanvasQTAgg):
    """Atom over neurons (top) and mean code per condition over time (bottom).

    Attributes
    ----------
    atom_bars : matplotlib.container.BarContainer or None
        One bar per neuron, height = the selected latent's weight on it.
    condition_lines : list of matplotlib.lines.Line2D
        One line per condition.
    """

    def __init__(self, parent=None):
        fig = Figure(figsize=(4, 4.2), facecolor=BACKGROUND)
        super().__init__(fig)
        self.setParent(parent)
        self.ax_atom, self.ax_cond = fig.subplots(2, 1)
        fig.subplots_adjust(left=0.13, right=0.97, top=0.93, bottom=0.1, hspace=0.6)
        for ax in (self.ax_atom, self.ax_cond):
            ax.set_facecolor(BACKGROUND)
            ax.tick_params(colors=FOREGROUND, labelsize=7)
            for spine in ax.spines.values():
                spine.set_color(FOREGROUND)
        self.atom_bars = None
        self.condition_lines = []
        self.clear()

    def _title(self, ax, text: str) -> None:
        ax.set_title(text, color=FOREGROUND, fontsize=8, loc="left")

    def clear(self, message: str = "") -> None:
        """Empty both plots, optionally with a note."""
        for ax in (self.ax_atom, self.ax_cond):
            for artist in list(ax.lines) + list(ax.patches) + list(ax.texts) + list(ax.collections):
                artist.remove()
            if ax.get_legend() is not None:
                ax.get_legend().remove()
        self.atom_bars = None
        self.condition_lines = []
        self._title(self.ax_atom, "dictionary atom")
        self._title(self.ax_cond, "mean code per condition")
        if message:
            self.ax_atom.text(0.5, 0.5, message, color=FOREGROUND, fontsize=7, ha="center", va="center",
                              wrap=True, transform=self.ax_atom.transAxes)
        self.draw_idle()

    def show_atom(self, weights: np.ndarray | None, latent: int, neuron_labels=None) -> None:
        """Bar plot of one atom's weights over the neurons (None: say why there is none)."""
        ax = self.ax_atom
        for artist in list(ax.patches) + list(ax.texts) + list(ax.lines):
            artist.remove()
        self.atom_bars = None
        if weights is None:
            self._title(ax, f"latent {latent}: no atom for this recording's neurons")
        else:
            weights = np.asarray(weights, dtype=float)
            x = np.arange(weights.size)
            colors = np.where(weights >= 0, "#f6a04d", "#4d9df6")
            self.atom_bars = ax.bar(x, weights, width=0.9, color=colors)
            ax.axhline(0, color=FOREGROUND, lw=0.5)
            ax.set_xlim(-0.5, weights.size - 0.5)
            if neuron_labels is not None and weights.size <= 40:
                ax.set_xticks(x, [str(v) for v in neuron_labels], rotation=90, fontsize=6)
            self._title(ax, f"latent {latent}: atom over {weights.size} neurons")
            ax.set_xlabel("neuron", color=FOREGROUND, fontsize=7)
        self.draw_idle()

    def show_conditions(self, time: np.ndarray, curves: np.ndarray | None, levels, column: str | None,
                        latent: int, note: str = "") -> None:
        """Mean code time course of ``latent`` for each condition (curves: conditions x time)."""
        ax = self.ax_cond
        for artist in list(ax.lines) + list(ax.texts):
            artist.remove()
        if ax.get_legend() is not None:
            ax.get_legend().remove()
        self.condition_lines = []
        if curves is None or not len(curves):
            self._title(ax, note or "mean code over presentations")
        else:
            colors = _palette(len(curves))
            for curve, level, color in zip(curves, levels, colors, strict=True):
                (line,) = ax.plot(time, curve, color=color, lw=1.2, label=str(level))
                self.condition_lines.append(line)
            ax.axvline(0, color=FOREGROUND, lw=0.5, ls=":")
            if len(curves) <= 12:
                legend = ax.legend(fontsize=6, ncols=2, frameon=False, labelcolor=FOREGROUND,
                                   title=column, title_fontsize=6)
                legend.get_title().set_color(FOREGROUND)
            ax.relim()
            ax.autoscale_view()
            what = f"per {column}" if column else "over all presentations"
            self._title(ax, f"latent {latent}: mean code {what}")
            ax.set_xlabel("time from event (s)", color=FOREGROUND, fontsize=7)
        self.draw_idle()


def _palette(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "viridis"]
    return [cmap(i if n <= 10 else i / max(n - 1, 1)) for i in range(n)]
