"""The plots of the widget (dictionary atom, the ensemble over time, ensemble membership), drawn with matplotlib.

A plain ``matplotlib.figure.Figure`` (no pyplot state) inside a Qt canvas; the drawing functions only
take numbers, so tests can read the artists' data back.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

BACKGROUND = "#262930"  # napari's dark theme
FOREGROUND = "#d6d0ce"
HIGHLIGHT = "#00e5ff"
BAND = "#9a9a9a"


class PlotCanvas(FigureCanvasQTAgg):
    """Atom over neurons (top), the selected latent over time (middle), ensembles x neurons (bottom).

    Attributes
    ----------
    atom_bars : matplotlib.container.BarContainer or None
        One bar per neuron, height = the selected latent's weight on it.
    condition_lines : list of matplotlib.lines.Line2D
        One line per condition (trial data) or the session trace (continuous data).
    band_line : matplotlib.lines.Line2D or None
        The 95th percentile of the circular-shift null.
    window_line : matplotlib.lines.Line2D or None
        The current presentation's window on the session trace.
    membership : matplotlib.image.AxesImage or None
        Ensembles (rows, in ``membership_latents`` order) x neurons: the atoms' weights.
    """

    def __init__(self, parent=None):
        fig = Figure(figsize=(4, 6.2), facecolor=BACKGROUND)
        super().__init__(fig)
        self.setParent(parent)
        self.ax_atom, self.ax_cond, self.ax_members = fig.subplots(3, 1, height_ratios=[1, 1.3, 1.1])
        fig.subplots_adjust(left=0.14, right=0.97, top=0.95, bottom=0.07, hspace=0.75)
        for ax in (self.ax_atom, self.ax_cond, self.ax_members):
            ax.set_facecolor(BACKGROUND)
            ax.tick_params(colors=FOREGROUND, labelsize=7)
            for spine in ax.spines.values():
                spine.set_color(FOREGROUND)
        self.atom_bars = None
        self.condition_lines = []
        self.band_line = self.window_line = None
        self.membership = None
        self.membership_latents = np.zeros(0, dtype=np.int64)
        self._on_pick = None
        self.mpl_connect("button_press_event", self._pressed)
        self.clear()

    def _title(self, ax, text: str) -> None:
        ax.set_title(text, color=FOREGROUND, fontsize=8, loc="left")

    def _label(self, ax, x: str, y: str) -> None:
        ax.set_xlabel(x, color=FOREGROUND, fontsize=7)
        ax.set_ylabel(y, color=FOREGROUND, fontsize=7)

    def clear(self, message: str = "") -> None:
        """Empty the plots, optionally with a note."""
        for ax in (self.ax_atom, self.ax_cond):
            _empty(ax)
        self.atom_bars = None
        self.condition_lines = []
        self.band_line = self.window_line = None
        self._title(self.ax_atom, "dictionary atom")
        self._title(self.ax_cond, "the latent over time")
        if message:
            self.ax_atom.text(0.5, 0.5, message, color=FOREGROUND, fontsize=7, ha="center", va="center",
                              wrap=True, transform=self.ax_atom.transAxes)
        self.draw_idle()

    def show_atom(self, weights: np.ndarray | None, latent: int, neuron_labels=None, members=None) -> None:
        """Bar plot of one atom's weights over the neurons (None: say why there is none); members highlighted."""
        ax = self.ax_atom
        _empty(ax)
        self.atom_bars = None
        if weights is None:
            self._title(ax, f"latent {latent}: no atom for this recording's neurons")
        else:
            weights = np.asarray(weights, dtype=float)
            x = np.arange(weights.size)
            colors = np.where(weights >= 0, "#f6a04d", "#4d9df6").astype(object)
            if members is not None and len(members):
                colors[np.asarray(members)] = HIGHLIGHT
            self.atom_bars = ax.bar(x, weights, width=0.9, color=colors.tolist())
            ax.axhline(0, color=FOREGROUND, lw=0.5)
            ax.set_xlim(-0.5, weights.size - 0.5)
            if neuron_labels is not None and weights.size <= 40:
                ax.set_xticks(x, [str(v) for v in neuron_labels], rotation=90, fontsize=6)
            n = 0 if members is None else len(members)
            self._title(ax, f"latent {latent}: atom over {weights.size} neurons ({n} members, cyan)")
            self._label(ax, "neuron (file order)", "weight (neuron SDs)")
        self.draw_idle()

    def show_conditions(self, time: np.ndarray, curves: np.ndarray | None, levels, column: str | None,
                        latent: int, note: str = "", sem: np.ndarray | None = None,
                        band: np.ndarray | None = None) -> None:
        """Mean code of ``latent`` per condition (curves: conditions x time) with SEM and the null band."""
        ax = self._reset_time_axes()
        if curves is None or not len(curves):
            self._title(ax, note or "mean code over presentations")
        else:
            colors = _palette(len(curves))
            for i, (curve, level, color) in enumerate(zip(curves, levels, colors, strict=True)):
                (line,) = ax.plot(time, curve, color=color, lw=1.2, label=str(level))
                if sem is not None:
                    ax.fill_between(time, curve - sem[i], curve + sem[i], color=color, alpha=0.25, lw=0)
                self.condition_lines.append(line)
            if band is not None:
                (self.band_line,) = ax.plot(time, band, color=BAND, lw=1, ls="--", label="95% null")
            ax.axvline(0, color=FOREGROUND, lw=0.5, ls=":")
            if len(curves) <= 12:
                legend = ax.legend(fontsize=6, ncols=2, frameon=False, labelcolor=FOREGROUND,
                                   title=column, title_fontsize=6)
                legend.get_title().set_color(FOREGROUND)
            ax.relim()
            ax.autoscale_view()
            what = f"per {column}" if column else "over all presentations"
            self._title(ax, f"latent {latent}: mean code {what} ± SEM")
            self._label(ax, "time from event (s)", "code (a.u.)")
        self.draw_idle()

    def show_session(self, times: np.ndarray, trace: np.ndarray, band: float, latent: int,
                     window: tuple[float, float] | None = None) -> None:
        """The latent's code over the whole session with its null level and the current window."""
        ax = self._reset_time_axes()
        (line,) = ax.plot(times, trace, color="#f6a04d", lw=0.8)
        self.condition_lines.append(line)
        (self.band_line,) = ax.plot([times[0], times[-1]], [band, band], color=BAND, lw=1, ls="--",
                                    label="95% of circular shifts")
        ax.legend(fontsize=6, frameon=False, labelcolor=FOREGROUND, loc="upper right")
        self.mark_window(window)
        ax.relim()
        ax.autoscale_view()
        self._title(ax, f"latent {latent} over the session (current window shaded)")
        self._label(ax, "time in the recording (s)", "code (a.u.)")
        self.draw_idle()

    def mark_window(self, window: tuple[float, float] | None) -> None:
        """Shade the current presentation's window on the session trace."""
        if self.window_line is not None:
            self.window_line.remove()
            self.window_line = None
        if window is not None and self.band_line is not None:
            self.window_line = self.ax_cond.axvspan(*window, color=HIGHLIGHT, alpha=0.3, lw=0)
        self.draw_idle()

    def _reset_time_axes(self):
        ax = self.ax_cond
        _empty(ax)
        self.condition_lines = []
        self.band_line = self.window_line = None
        return ax

    def show_membership(self, weights: np.ndarray, latents: np.ndarray, selected: int | None,
                        on_pick=None) -> None:
        """Ensembles (rows) x neurons: each atom scaled to its largest weight; click a row to select it."""
        ax = self.ax_members
        _empty(ax)
        for image in list(ax.images):
            image.remove()
        self.membership_latents = np.asarray(latents, dtype=np.int64)
        self._on_pick = on_pick
        if not len(latents):
            self.membership = None
            self._title(ax, "no ensembles to overview")
            self.draw_idle()
            return
        w = np.asarray(weights, dtype=float)
        w = w / np.maximum(np.abs(w).max(axis=1, keepdims=True), 1e-12)
        self.membership = ax.imshow(np.clip(w, 0, 1), aspect="auto", cmap="magma", vmin=0, vmax=1,
                                    interpolation="nearest")
        if selected is not None and selected in set(self.membership_latents.tolist()):
            row = int(np.flatnonzero(self.membership_latents == selected)[0])
            ax.axhline(row, color=HIGHLIGHT, lw=0.8, alpha=0.8)
        step = max(1, len(latents) // 10)
        ax.set_yticks(np.arange(0, len(latents), step), [str(v) for v in latents[::step]], fontsize=6)
        self._title(ax, f"{len(latents)} ensembles × neurons (weight / top weight); click to select")
        self._label(ax, "neuron (file order)", "latent")
        self.draw_idle()

    def _pressed(self, event) -> None:
        if event.inaxes is not self.ax_members or self.membership is None or event.ydata is None:
            return
        row = int(round(event.ydata))
        if 0 <= row < len(self.membership_latents) and self._on_pick is not None:
            self._on_pick(int(self.membership_latents[row]))


def _empty(ax) -> None:
    for artist in list(ax.lines) + list(ax.patches) + list(ax.texts) + list(ax.collections):
        artist.remove()
    if ax.get_legend() is not None:
        ax.get_legend().remove()


def _palette(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "viridis"]
    return [cmap(i if n <= 10 else i / max(n - 1, 1)) for i in range(n)]
