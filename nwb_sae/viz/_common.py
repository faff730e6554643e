"""Helpers and constants shared by the figure modules."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure, FigureBase

from nwb_sae.errors import InputDataError
from nwb_sae.io.safe_write import atomic_write

DPI = 120
"""Resolution of every PNG written by this module."""
RECOVERY_THRESHOLD = 0.9
"""Cosine above which a true atom counts as recovered."""
MAX_TUNING_LATENTS = 6
"""Most latents one tuning figure shows."""
MAX_TICKS = 32
"""Most tick labels drawn along a heatmap axis by default; longer axes get every k-th label."""

# (panel title, history keys, log y) of plot_history, in panel order.
_HISTORY_PANELS = (
    ("loss", ("train_loss", "val_loss"), True),
    ("validation FVU", ("val_fvu",), False),
    ("validation L0", ("val_l0",), False),
    ("dead fraction", ("dead_fraction",), False),
)


# ---------------------------------------------------------------------------------------------------------
# shared helpers


def _save(fig: FigureBase, path: str | PathLike | None) -> Figure:
    """Write the figure holding ``fig`` (a Figure or SubFigure) as a PNG at :data:`DPI` when ``path``
    is given; return that (root) Figure."""
    while not isinstance(fig, Figure):  # a SubFigure: climb to the figure that can be saved
        fig = fig.figure
    if path is not None:  # rendered first, so the free-space check knows the exact size
        png = io.BytesIO()
        fig.savefig(png, dpi=DPI, format="png")
        atomic_write(path, lambda tmp: Path(tmp).write_bytes(png.getvalue()), expected_bytes=png.tell())
    return fig


def _panels(ax, nrows: int, ncols: int, figsize: tuple[float, float], name: str,
            **subplots) -> tuple[FigureBase, np.ndarray]:
    """The (figure, axes shaped (nrows, ncols)) a plot draws its panels into.

    ``ax`` is what the caller passed as ``ax=``: None (a new :class:`Figure` of ``figsize``), a Figure
    or SubFigure (the panels are laid out inside it), or one Axes per panel (an Axes, or any sequence
    or array of them, in row order). ``subplots`` (sharex, width_ratios, ...) apply to new panels only.
    """
    if ax is None:
        ax = Figure(figsize=figsize, layout="constrained")
    if isinstance(ax, FigureBase):
        return ax, ax.subplots(nrows, ncols, squeeze=False, **subplots)
    given = np.array([ax] if isinstance(ax, Axes) else list(np.ravel(np.asarray(ax, dtype=object))), dtype=object)
    if given.size != nrows * ncols or not all(isinstance(a, Axes) for a in given):
        raise InputDataError(
            f"{name} draws {nrows * ncols} panel(s) here, so ax must be {nrows * ncols} matplotlib Axes "
            f"(got {given.size} object(s)), a Figure or a SubFigure (e.g. fig.subfigures(1, 2)[0]).")
    return given[0].get_figure(), given.reshape(nrows, ncols)


def _as_dims(da: xr.DataArray, dims: tuple[str, ...], name: str) -> xr.DataArray:
    """Check that ``da`` is a non-empty DataArray with exactly ``dims`` and transpose it to that order."""
    if not isinstance(da, xr.DataArray):
        raise InputDataError(f"{name} must be an xarray.DataArray with dims {dims}, got {type(da).__name__}.")
    if set(da.dims) != set(dims):
        raise InputDataError(f"{name} must have dims {dims}, got {da.dims}; rename or transpose it first.")
    empty = [d for d in dims if da.sizes[d] == 0]
    if empty:
        raise InputDataError(f"{name} is empty along {empty}; there is nothing to plot.")
    return da.transpose(*dims)


def _coord_values(da: xr.DataArray, dim: str) -> np.ndarray:
    """The coordinate values of ``dim``, or positions 0..n-1 when it has none."""
    if dim in da.coords:
        return np.asarray(da[dim].values)
    return np.arange(da.sizes[dim])


def _time_axis(da: xr.DataArray) -> np.ndarray:
    """The ``time`` coordinate as floats (seconds), or bin positions when it is missing or not numeric."""
    try:
        return np.asarray(_coord_values(da, "time"), dtype=float)
    except (TypeError, ValueError):
        return np.arange(da.sizes["time"], dtype=float)


def _extent(time: np.ndarray, n_rows: int) -> tuple[float, float, float, float]:
    """``imshow`` extent putting bin centres at ``time`` and row ``i`` at ``y = i``."""
    step = float(np.median(np.diff(time))) if time.size > 1 else 1.0
    if not np.isfinite(step) or step == 0:
        step = 1.0
    return (time[0] - step / 2, time[-1] + step / 2, n_rows - 0.5, -0.5)


def _heatmap(ax: Axes, values: np.ndarray, time: np.ndarray, **style):
    """Draw rows x time ``values`` with time (seconds) on the x axis; return the image."""
    return ax.imshow(values, aspect="auto", interpolation="nearest",
                     extent=_extent(time, values.shape[0]), **style)


def _limits(*arrays: np.ndarray) -> tuple[float, float]:
    """A robust shared colour range (1st to 99th percentile of the finite values of all ``arrays``)."""
    finite = np.concatenate([np.asarray(a, dtype=float).ravel() for a in arrays])
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, [1, 99])
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return float(lo), float(hi)


def _label_rows(ax: Axes, labels: Sequence, axis: str = "y", max_ticks: int = MAX_TICKS) -> None:
    """Label heatmap rows (or columns) by ``labels``, every k-th one so that at most ``max_ticks`` show."""
    positions = np.arange(0, len(labels), math.ceil(len(labels) / max_ticks))
    texts = [str(labels[i]) for i in positions]
    if axis == "y":
        ax.set_yticks(positions, texts)
    else:
        ax.set_xticks(positions, texts, rotation=90)


def _mark_onset(ax: Axes, time: np.ndarray) -> None:
    """A faint vertical line at time 0 (the alignment event) when it lies inside the time range."""
    if time.size and time.min() <= 0 <= time.max():
        ax.axvline(0.0, color="0.6", lw=0.8, ls=":")


def _pick_presentations(presentations, n: int, total: int) -> np.ndarray:
    """Positional presentation indices: the given ones (validated) or the first ``n``."""
    if presentations is None:
        if int(n) < 1:
            raise InputDataError(f"n must be at least 1, got {n}.")
        return np.arange(min(int(n), total))
    index = np.atleast_1d(np.asarray(presentations)).ravel()
    if index.size == 0 or not np.issubdtype(index.dtype, np.integer):
        raise InputDataError(f"presentations must be a non-empty list of integer positions, got {presentations!r}.")
    bad = index[(index < 0) | (index >= total)]
    if bad.size:
        raise InputDataError(f"presentation positions {bad.tolist()} are out of range; there are {total} "
                             f"presentations (0 to {total - 1}).")
    return index


def _presentation_title(da: xr.DataArray, index: int) -> str:
    """``'presentation 5 (condition=2)'``: the label of one presentation and its scalar columns."""
    label = _coord_values(da, "presentations")[index]
    extras = [f"{name}={np.asarray(coord.values)[index]}" for name, coord in da.coords.items()
              if coord.dims == ("presentations",) and name != "presentations"]
    return f"presentation {label}" + (f" ({', '.join(extras[:3])})" if extras else "")


def _format(value: float) -> str:
    """A short number for titles (``nan`` stays readable)."""
    return f"{value:.3f}" if np.isfinite(value) else "nan"


# ---------------------------------------------------------------------------------------------------------
# training history


