"""Figures of a training run: history and reconstructions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from nwb_sae.errors import InputDataError
from nwb_sae.io.recording.arrays import ACTIVITY_DIMS
from nwb_sae.metrics import fvu
from nwb_sae.viz._common import (
    _HISTORY_PANELS,
    _as_dims,
    _coord_values,
    _format,
    _heatmap,
    _label_rows,
    _limits,
    _panels,
    _pick_presentations,
    _presentation_title,
    _save,
    _time_axis,
)


def _history_series(history: Mapping, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, values) of one history entry; missing values and ``None`` become NaN.

    The ``epoch`` list gives the x values when it is as long as the entry, otherwise 0..n-1.
    """
    raw = history.get(key)
    values = np.array([np.nan if v is None else v for v in ([] if raw is None else raw)], dtype=float)
    epochs = history.get("epoch")
    if epochs is not None and len(epochs) == values.size:
        return np.asarray(epochs, dtype=float), values
    return np.arange(values.size, dtype=float), values


def _best_epoch(history: Mapping) -> float | None:
    """The epoch with the lowest finite validation loss, or None when there is none."""
    epochs, loss = _history_series(history, "val_loss")
    finite = np.isfinite(loss)
    if not finite.any():
        return None
    return float(epochs[finite][np.argmin(loss[finite])])


def _history_panel(ax: Axes, history: Mapping, title: str, keys: Sequence[str], log: bool) -> None:
    """Plot the given history entries against epoch; say so when none was recorded."""
    drawn = []
    for key in keys:
        epochs, values = _history_series(history, key)
        if np.isfinite(values).any():
            ax.plot(epochs, values, marker="." if values.size <= 50 else None, label=key.replace("_", " "))
            drawn.append(values[np.isfinite(values)])
    ax.set_title(title)
    if not drawn:
        ax.text(0.5, 0.5, "not recorded", transform=ax.transAxes, ha="center", va="center", color="0.5")
        return
    if log and all((v > 0).all() for v in drawn):
        ax.set_yscale("log")


def plot_history(history: Mapping, path: str | PathLike | None = None, ax=None) -> Figure:
    """Training curves: losses, validation FVU, validation L0 and dead fraction against epoch.

    Parameters
    ----------
    history : Mapping
        Lists keyed ``'epoch'``, ``'train_loss'``, ``'val_loss'``, ``'val_fvu'``, ``'val_l0'``,
        ``'dead_fraction'``; any may be missing (its panel then says "not recorded") and entries may be
        ``None`` or NaN. Without an ``'epoch'`` list of the same length, epochs are counted from 0.
    path : str or path-like, optional
        Where to write the figure as a PNG.
    ax : matplotlib Axes, sequence of Axes, Figure or SubFigure, optional
        Where to draw: four Axes (loss, FVU, L0, dead fraction), or a Figure/SubFigure to lay the panels out in; default a new Figure.

    Returns
    -------
    matplotlib.figure.Figure
        Four axes (2 x 2). The loss panel uses a log y axis when all losses are positive. The best
        epoch (lowest validation loss) is marked by a dashed vertical line in every panel.

    Examples
    --------
    >>> fig = plot_history({"epoch": [1, 2, 3], "train_loss": [1.0, 0.5, 0.4], "val_loss": [1.1, 0.6, 0.7]})
    >>> fig.axes[0].get_title()
    'loss (best epoch 2)'
    """
    if not isinstance(history, Mapping):
        raise InputDataError(f"history must be a mapping of lists, got {type(history).__name__}.")
    fig, axes = _panels(ax, 2, 2, (9, 6), "plot_history", sharex=True)
    axes = axes.ravel()
    best = _best_epoch(history)
    for ax, (title, keys, log) in zip(axes, _HISTORY_PANELS, strict=True):
        _history_panel(ax, history, title, keys, log)
        if best is not None:
            ax.axvline(best, color="0.3", ls="--", lw=1, label=f"best epoch {best:g}")
    if best is not None:
        axes[0].set_title(f"loss (best epoch {best:g})")
    if axes[0].has_data():
        axes[0].legend(fontsize="small")
    for ax in axes[2:]:
        ax.set_xlabel("epoch")
    return _save(fig, path)


# ---------------------------------------------------------------------------------------------------------
# reconstructions


def plot_reconstructions(data: xr.DataArray, recon: xr.DataArray, presentations: Sequence[int] | None = None,
                         n: int = 3, path: str | PathLike | None = None, ax=None) -> Figure:
    """Data next to its reconstruction, neurons x time, for a few presentations.

    Parameters
    ----------
    data, recon : xarray.DataArray
        Activity and its reconstruction, dims (neurons, time, presentations), the same shape.
    presentations : sequence of int, optional
        Positions (not labels) of the presentations to show; default the first ``n``.
    n : int
        How many presentations to show when ``presentations`` is not given.
    path : str or path-like, optional
        Where to write the figure as a PNG.
    ax : matplotlib Axes, sequence of Axes, Figure or SubFigure, optional
        Where to draw: two Axes (data, reconstruction) per presentation, or a Figure/SubFigure to lay the panels out in; default a new Figure.

    Returns
    -------
    matplotlib.figure.Figure
        ``2 * k + 1`` axes for ``k`` presentations: one row (data, reconstruction) per presentation and
        one shared colour bar. The reconstruction titles give the presentation's FVU, computed on its
        (time, neurons) samples.

    Raises
    ------
    InputDataError
        Wrong dims, different shapes, or presentation positions out of range.
    """
    data = _as_dims(data, ACTIVITY_DIMS, "data")
    recon = _as_dims(recon, ACTIVITY_DIMS, "recon")
    if data.shape != recon.shape:
        raise InputDataError(f"data {dict(data.sizes)} and recon {dict(recon.sizes)} differ in shape.")
    index = _pick_presentations(presentations, n, data.sizes["presentations"])
    x = np.asarray(data.isel(presentations=index).values, dtype=float)
    x_hat = np.asarray(recon.isel(presentations=index).values, dtype=float)
    vmin, vmax = _limits(x, x_hat)
    time = _time_axis(data)
    neurons = _coord_values(data, "neurons")

    fig, axes = _panels(ax, index.size, 2, (10, 1.0 + 2.2 * index.size), "plot_reconstructions",
                        sharex=True, sharey=True)
    for row, position in enumerate(index):
        left, right = axes[row]
        image = _heatmap(left, x[:, :, row], time, cmap="viridis", vmin=vmin, vmax=vmax)
        _heatmap(right, x_hat[:, :, row], time, cmap="viridis", vmin=vmin, vmax=vmax)
        score = fvu(x[:, :, row].T, x_hat[:, :, row].T)
        left.set_title(f"{_presentation_title(data, position)}: data", fontsize="medium")
        right.set_title(f"reconstruction, FVU = {_format(score)}", fontsize="medium")
        left.set_ylabel("neuron")
    _label_rows(axes[0, 0], neurons, max_ticks=10)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    fig.colorbar(image, ax=axes, label=str(data.name or "activity"), shrink=0.8)
    return _save(fig, path)


# ---------------------------------------------------------------------------------------------------------
# dictionary


