"""Matplotlib figures for a sparse autoencoder on neural recordings.

Training history, reconstructions, dictionary atoms, code statistics, the codes of one presentation
and condition tuning. Every function builds a :class:`matplotlib.figure.Figure` directly, never through
``pyplot``, so it works headless, in worker threads and inside GUI applications without touching any
global figure state. Each returns the figure; given ``path`` it also writes a PNG at 120 dpi.

Arrays follow the package conventions: activity dims ``(neurons, time, presentations)``, codes dims
``(latents, time, presentations)`` (any order; they are transposed), ``time`` in seconds relative to the
alignment event, dictionaries shaped ``(latents, neurons)``.

Examples
--------
>>> from nwb_sae.synthetic import make_recording
>>> rec = make_recording(n_neurons=12, n_atoms=16, n_time=10, n_presentations=8)
>>> fig = plot_code_statistics(rec.codes)
>>> len(fig.axes)
4
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from os import PathLike

import matplotlib
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from nwb_sae.errors import InputDataError
from nwb_sae.io.arrays import ACTIVITY_DIMS, CODE_DIMS
from nwb_sae.metrics import activation_frequency, cosine_matrix, fvu

__all__ = [
    "plot_code_statistics",
    "plot_codes",
    "plot_dictionary",
    "plot_history",
    "plot_reconstructions",
    "plot_tuning",
]

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


def _save(fig: Figure, path: str | PathLike | None) -> Figure:
    """Write ``fig`` as a PNG at :data:`DPI` when ``path`` is given; return it."""
    if path is not None:
        fig.savefig(path, dpi=DPI, format="png")
    return fig


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


def plot_history(history: Mapping, path: str | PathLike | None = None) -> Figure:
    """Training curves: losses, validation FVU, validation L0 and dead fraction against epoch.

    Parameters
    ----------
    history : Mapping
        Lists keyed ``'epoch'``, ``'train_loss'``, ``'val_loss'``, ``'val_fvu'``, ``'val_l0'``,
        ``'dead_fraction'``; any may be missing (its panel then says "not recorded") and entries may be
        ``None`` or NaN. Without an ``'epoch'`` list of the same length, epochs are counted from 0.
    path : str or path-like, optional
        Where to write the figure as a PNG.

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
    fig = Figure(figsize=(9, 6), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True).ravel()
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
                         n: int = 3, path: str | PathLike | None = None) -> Figure:
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

    fig = Figure(figsize=(10, 1.0 + 2.2 * index.size), layout="constrained")
    axes = fig.subplots(index.size, 2, sharex=True, sharey=True, squeeze=False)
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


def _as_matrix(values, name: str) -> np.ndarray:
    """``values`` as a finite-shaped 2-D float array (latents, neurons)."""
    matrix = np.asarray(values, dtype=float)
    if matrix.ndim != 2 or 0 in matrix.shape:
        raise InputDataError(f"{name} must be a non-empty 2-D array (latents, neurons), got shape {matrix.shape}.")
    return matrix


def _atom_rows(order, n: int, n_atoms: int) -> np.ndarray:
    """Positions of the atoms to draw: the first ``n`` of ``order`` (default 0..n_atoms-1)."""
    rows = np.arange(n_atoms) if order is None else np.asarray(order).ravel()
    if not np.issubdtype(rows.dtype, np.integer) or ((rows < 0) | (rows >= n_atoms)).any():
        raise InputDataError(f"order must hold integer atom positions between 0 and {n_atoms - 1}.")
    if int(n) < 1 or rows.size == 0:
        raise InputDataError(f"nothing to draw: n={n}, {rows.size} atoms in order.")
    return rows[: int(n)]


def _atom_heatmap(fig: Figure, ax: Axes, atoms: np.ndarray, rows: np.ndarray, neuron_labels) -> None:
    """Atoms (rows) over neurons (columns) on a diverging colour map centred at 0."""
    vmax = float(np.nanmax(np.abs(atoms))) or 1.0
    image = ax.imshow(atoms, aspect="auto", interpolation="nearest", cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    _label_rows(ax, rows)
    _label_rows(ax, neuron_labels, axis="x")
    ax.set_xlabel("neuron")
    ax.set_ylabel("latent")
    ax.set_title(f"dictionary: {rows.size} atoms")
    fig.colorbar(image, ax=ax, label="weight", shrink=0.8)


def _recovery_histogram(ax: Axes, dictionary: np.ndarray, true_dictionary: np.ndarray) -> None:
    """Histogram of each true atom's best cosine to any learned atom, with the MMCS in the title."""
    best = cosine_matrix(dictionary, true_dictionary).max(axis=1)
    low = 0.0 if best.min() >= 0 else -1.0
    ax.hist(best, bins=np.linspace(low, 1.0, 21 if low == 0 else 41), histtype="stepfilled", color="0.4")
    ax.axvline(RECOVERY_THRESHOLD, color="tab:red", ls="--", lw=1)
    recovered = int(np.sum(best > RECOVERY_THRESHOLD))
    ax.set_title(f"MMCS = {_format(float(best.mean()))}\n{recovered}/{best.size} above {RECOVERY_THRESHOLD}")
    ax.set_xlabel("best cosine to a learned atom")
    ax.set_ylabel("true atoms")


def plot_dictionary(dictionary: np.ndarray, order: Sequence[int] | None = None, n: int = 32,
                    neuron_labels: Sequence | None = None, true_dictionary: np.ndarray | None = None,
                    path: str | PathLike | None = None) -> Figure:
    """Dictionary atoms over neurons and, given the planted dictionary, how well it is recovered.

    Parameters
    ----------
    dictionary : array-like
        Learned atoms, shaped (latents, neurons).
    order : sequence of int, optional
        Atom positions in the order to draw them (e.g. by activation frequency); default as given.
    n : int
        Number of atoms to draw: the first ``n`` of ``order``.
    neuron_labels : sequence, optional
        One label per neuron for the x axis (e.g. unit or ROI ids); default the coordinate of a
        DataArray dictionary, else positions.
    true_dictionary : array-like, optional
        Known atoms, shaped (atoms, neurons). Adds a histogram of each true atom's best cosine match
        with a line at 0.9 and the MMCS (over the whole dictionary, not only the drawn atoms) in its title.
    path : str or path-like, optional
        Where to write the figure as a PNG.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes (heatmap, colour bar), three with ``true_dictionary``.

    Raises
    ------
    InputDataError
        Not 2-D, bad ``order``, or neuron counts that do not match.
    """
    if neuron_labels is None and isinstance(dictionary, xr.DataArray) and "neurons" in dictionary.coords:
        neuron_labels = np.asarray(dictionary["neurons"].values)
    matrix = _as_matrix(dictionary, "dictionary")
    labels = np.arange(matrix.shape[1]) if neuron_labels is None else np.asarray(neuron_labels)
    if labels.size != matrix.shape[1]:
        raise InputDataError(f"{labels.size} neuron labels for a dictionary over {matrix.shape[1]} neurons.")
    rows = _atom_rows(order, n, matrix.shape[0])
    truth = None if true_dictionary is None else _as_matrix(true_dictionary, "true_dictionary")
    if truth is not None and truth.shape[1] != matrix.shape[1]:
        raise InputDataError(f"true_dictionary is over {truth.shape[1]} neurons, dictionary over {matrix.shape[1]}.")

    fig = Figure(figsize=(11 if truth is not None else 8, 1.5 + 0.15 * rows.size + 1.5), layout="constrained")
    if truth is None:
        _atom_heatmap(fig, fig.subplots(), matrix[rows], rows, labels)
    else:
        heat_ax, hist_ax = fig.subplots(1, 2, width_ratios=[3, 1])
        _atom_heatmap(fig, heat_ax, matrix[rows], rows, labels)
        _recovery_histogram(hist_ax, matrix, truth)
    return _save(fig, path)


# ---------------------------------------------------------------------------------------------------------
# code statistics


def _code_samples(codes: xr.DataArray) -> np.ndarray:
    """Codes (latents, time, presentations) as samples (time * presentations, latents)."""
    values = np.asarray(codes.transpose("time", "presentations", "latents").values, dtype=float)
    return values.reshape(-1, codes.sizes["latents"])


def _frequency_panel(ax: Axes, frequency: np.ndarray) -> None:
    """Histogram of log10 activation frequency of the live latents; dead latents counted in the title."""
    alive = frequency > 0
    n_dead = int(np.sum(~alive))
    ax.set_title(f"{n_dead} of {frequency.size} latents dead ({100 * n_dead / frequency.size:.0f}%)")
    ax.set_xlabel("log10 activation frequency")
    ax.set_ylabel("latents")
    if alive.any():
        ax.hist(np.log10(frequency[alive]), bins=30, histtype="stepfilled", color="tab:blue")
    else:
        ax.text(0.5, 0.5, "no latent is ever active", transform=ax.transAxes, ha="center", va="center")


def _l0_panel(ax: Axes, samples: np.ndarray) -> None:
    """Histogram of the number of active latents per sample."""
    counts = np.count_nonzero(samples, axis=1)
    ax.hist(counts, bins=np.arange(counts.max() + 2) - 0.5, histtype="stepfilled",
            color="tab:green")
    ax.set_title(f"L0 per sample (mean {counts.mean():.2f})")
    ax.set_xlabel("active latents")
    ax.set_ylabel("samples")


def _activation_panel(ax: Axes, samples: np.ndarray, frequency: np.ndarray) -> None:
    """Mean activation when active against activation frequency, one point per live latent."""
    alive = frequency > 0
    ax.set_title("activation vs frequency")
    ax.set_xlabel("activation frequency")
    ax.set_ylabel("mean activation when active")
    if not alive.any():
        ax.text(0.5, 0.5, "no latent is ever active", transform=ax.transAxes, ha="center", va="center")
        return
    active_counts = np.count_nonzero(samples[:, alive], axis=0)
    mean_active = samples[:, alive].sum(axis=0) / active_counts
    ax.scatter(frequency[alive], mean_active, s=8, alpha=0.7, color="tab:purple")
    ax.set_xscale("log")


def _time_panel(ax: Axes, codes: xr.DataArray) -> None:
    """Mean number of active latents per time bin (over presentations) against time."""
    time = _time_axis(codes)
    active = np.count_nonzero(np.asarray(codes.values), axis=0).mean(axis=1)
    ax.plot(time, active, marker="." if time.size <= 50 else None, color="tab:orange")
    _mark_onset(ax, time)
    ax.set_title("active latents over time")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mean active latents")


def plot_code_statistics(codes: xr.DataArray, path: str | PathLike | None = None) -> Figure:
    """Health of a sparse code: activation frequencies, L0, activation sizes and activity over time.

    Parameters
    ----------
    codes : xarray.DataArray
        Latent activations, dims (latents, time, presentations).
    path : str or path-like, optional
        Where to write the figure as a PNG.

    Returns
    -------
    matplotlib.figure.Figure
        Four axes (2 x 2): histogram of log10 activation frequency (title: number of dead latents),
        histogram of L0 per sample, mean activation when active against frequency, and mean number of
        active latents against time.
    """
    codes = _as_dims(codes, CODE_DIMS, "codes")
    samples = _code_samples(codes)
    frequency = activation_frequency(samples)
    fig = Figure(figsize=(9, 6.5), layout="constrained")
    axes = fig.subplots(2, 2)
    _frequency_panel(axes[0, 0], frequency)
    _l0_panel(axes[0, 1], samples)
    _activation_panel(axes[1, 0], samples, frequency)
    _time_panel(axes[1, 1], codes)
    return _save(fig, path)


# ---------------------------------------------------------------------------------------------------------
# codes of one presentation


def _most_active(values: np.ndarray, top: int) -> np.ndarray:
    """Positions of the ``top`` rows with the largest total absolute activation, most active first."""
    if int(top) < 1:
        raise InputDataError(f"top must be at least 1, got {top}.")
    total = np.nansum(np.abs(values), axis=1)
    return np.argsort(-total, kind="stable")[: int(top)]


def _check_matching_data(data: xr.DataArray, codes: xr.DataArray) -> xr.DataArray:
    """``data`` transposed to (neurons, time, presentations), checked against the codes' time and trials."""
    data = _as_dims(data, ACTIVITY_DIMS, "data")
    for dim in ("time", "presentations"):
        if data.sizes[dim] != codes.sizes[dim]:
            raise InputDataError(f"data has {data.sizes[dim]} {dim} values, codes have {codes.sizes[dim]}.")
    return data


def plot_codes(codes: xr.DataArray, presentation: int, data: xr.DataArray | None = None, top: int = 20,
               path: str | PathLike | None = None) -> Figure:
    """The most active latents of one presentation over time, optionally under its activity.

    Parameters
    ----------
    codes : xarray.DataArray
        Latent activations, dims (latents, time, presentations).
    presentation : int
        Position (not label) of the presentation to show.
    data : xarray.DataArray, optional
        Activity, dims (neurons, time, presentations), with the codes' time bins and presentations;
        drawn above the codes.
    top : int
        Number of latents to show: those with the largest summed absolute activation in this
        presentation, most active at the top.
    path : str or path-like, optional
        Where to write the figure as a PNG.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes (codes, colour bar), four with ``data`` (activity and its colour bar above).
    """
    codes = _as_dims(codes, CODE_DIMS, "codes")
    position = int(_pick_presentations([presentation], 1, codes.sizes["presentations"])[0])
    data = None if data is None else _check_matching_data(data, codes)
    values = np.asarray(codes.isel(presentations=position).values, dtype=float)
    rows = _most_active(values, top)
    time = _time_axis(codes)

    fig = Figure(figsize=(9, 7 if data is not None else 4), layout="constrained")
    axes = fig.subplots(2 if data is not None else 1, 1, sharex=True, squeeze=False)[:, 0]
    if data is not None:
        activity = np.asarray(data.isel(presentations=position).values, dtype=float)
        image = _heatmap(axes[0], activity, time, cmap="viridis", vmin=_limits(activity)[0],
                         vmax=_limits(activity)[1])
        _label_rows(axes[0], _coord_values(data, "neurons"), max_ticks=12)
        axes[0].set_ylabel("neuron")
        fig.colorbar(image, ax=axes[0], label=str(data.name or "activity"))
    shown = values[rows]
    vmax = float(np.nanmax(shown)) if np.nanmax(shown) > 0 else 1.0
    image = _heatmap(axes[-1], shown, time, cmap="magma", vmin=min(0.0, float(np.nanmin(shown))), vmax=vmax)
    _label_rows(axes[-1], _coord_values(codes, "latents")[rows], max_ticks=25)
    axes[-1].set_ylabel("latent")
    axes[-1].set_xlabel("time (s)")
    fig.colorbar(image, ax=axes[-1], label="activation")
    axes[0].set_title(f"{_presentation_title(codes, position)}: top {rows.size} latents")
    return _save(fig, path)


# ---------------------------------------------------------------------------------------------------------
# tuning


def _presentation_coords(da: xr.DataArray) -> list[str]:
    """Names of the coordinates that run along ``presentations``."""
    return [str(name) for name, coord in da.coords.items() if coord.dims == ("presentations",)]


def _condition_groups(codes: xr.DataArray, by: str) -> tuple[np.ndarray, np.ndarray]:
    """(group of each presentation, sorted distinct values) of the presentation coordinate ``by``."""
    available = _presentation_coords(codes)
    if by not in available:
        raise InputDataError(f"codes have no presentation coordinate {by!r}; available: {available}. "
                             "Pass one of those as `by`, or assign it with codes.assign_coords(...).")
    values = np.asarray(codes[by].values)
    try:
        groups, uniques = pd.factorize(values, sort=True)
    except TypeError:  # mixed types cannot be sorted: keep order of appearance
        groups, uniques = pd.factorize(values, sort=False)
    if len(uniques) == 0:
        raise InputDataError(f"presentation coordinate {by!r} holds no values (all missing).")
    return groups, np.asarray(uniques)


def _condition_means(values: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Mean over the presentations of each group: (latents, time, presentations) -> (latents, time, groups)."""
    return np.stack([values[:, :, groups == g].mean(axis=2) for g in range(n_groups)], axis=2)


def _tuning_latents(latents, means: np.ndarray) -> np.ndarray:
    """The given latent positions (validated), else the most variable across conditions."""
    n_latents = means.shape[0]
    if latents is None:
        spread = means.var(axis=2).mean(axis=1)
        return np.argsort(-spread, kind="stable")[:MAX_TUNING_LATENTS]
    chosen = np.atleast_1d(np.asarray(latents)).ravel()
    if chosen.size == 0 or chosen.size > MAX_TUNING_LATENTS:
        raise InputDataError(f"give between 1 and {MAX_TUNING_LATENTS} latents, got {chosen.size}.")
    if not np.issubdtype(chosen.dtype, np.integer) or ((chosen < 0) | (chosen >= n_latents)).any():
        raise InputDataError(f"latents must be integer positions between 0 and {n_latents - 1}, got {latents!r}.")
    return chosen


def _condition_colours(n: int) -> list:
    """One colour per condition: categorical up to 10, a sequential map beyond."""
    if n <= 10:
        return [matplotlib.colormaps["tab10"](i) for i in range(n)]
    return [matplotlib.colormaps["viridis"](i / (n - 1)) for i in range(n)]


def plot_tuning(codes: xr.DataArray, by: str, latents: Sequence[int] | None = None,
                path: str | PathLike | None = None) -> Figure:
    """Mean code time course per condition, for a few latents.

    Parameters
    ----------
    codes : xarray.DataArray
        Latent activations, dims (latents, time, presentations).
    by : str
        A coordinate along ``presentations`` (e.g. ``'condition'``, ``'stimulus'``); one line per
        distinct value, presentations where it is missing are left out.
    latents : sequence of int, optional
        Positions (not labels) of up to 6 latents; default the 6 whose condition means differ most
        (variance across conditions, averaged over time).
    path : str or path-like, optional
        Where to write the figure as a PNG.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per latent (at most 6, three per row) and a figure legend titled ``by``.

    Raises
    ------
    InputDataError
        A ``ValueError``: ``by`` is not a presentation coordinate (the message lists those there are),
        or bad ``latents``.
    """
    codes = _as_dims(codes, CODE_DIMS, "codes")
    groups, conditions = _condition_groups(codes, by)
    means = _condition_means(np.asarray(codes.values, dtype=float), groups, conditions.size)
    chosen = _tuning_latents(latents, means)
    time = _time_axis(codes)
    labels = _coord_values(codes, "latents")
    colours = _condition_colours(conditions.size)

    ncols = min(3, chosen.size)
    nrows = math.ceil(chosen.size / ncols)
    fig = Figure(figsize=(3.6 * ncols + 1.5, 2.8 * nrows + 0.5), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[chosen.size:]:
        ax.remove()
    for i, (ax, latent) in enumerate(zip(axes[: chosen.size], chosen, strict=True)):
        for j, condition in enumerate(conditions):
            ax.plot(time, means[latent, :, j], color=colours[j], label=str(condition))
        _mark_onset(ax, time)
        ax.set_title(f"latent {labels[latent]}")
        if i + ncols >= chosen.size:  # nothing drawn below this panel
            ax.set_xlabel("time (s)")
        if i % ncols == 0:
            ax.set_ylabel("mean activation")
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, title=by, loc="outside right upper", fontsize="small",
               ncols=1 + conditions.size // 16)
    return _save(fig, path)
