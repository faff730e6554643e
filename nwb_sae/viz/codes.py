"""Figures of the codes: statistics, one presentation, condition tuning."""

from __future__ import annotations

import math
from collections.abc import Sequence
from os import PathLike

import matplotlib
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure, FigureBase

from nwb_sae.errors import InputDataError
from nwb_sae.io.recording.arrays import ACTIVITY_DIMS, CODE_DIMS
from nwb_sae.metrics import activation_frequency
from nwb_sae.viz._common import (
    MAX_TUNING_LATENTS,
    _as_dims,
    _coord_values,
    _heatmap,
    _label_rows,
    _limits,
    _mark_onset,
    _panels,
    _pick_presentations,
    _presentation_title,
    _save,
    _time_axis,
)


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


def _activation_panel(ax: Axes, samples: np.ndarray, frequency: np.ndarray,
                      significant: np.ndarray | None = None) -> None:
    """Mean activation when active against activation frequency, one point per live latent; significant
    ensembles (when given) drawn larger, in red, and counted in the legend."""
    alive = frequency > 0
    ax.set_title("activation vs frequency")
    ax.set_xlabel("activation frequency")
    ax.set_ylabel("mean activation when active")
    if not alive.any():
        ax.text(0.5, 0.5, "no latent is ever active", transform=ax.transAxes, ha="center", va="center")
        return
    active_counts = np.count_nonzero(samples[:, alive], axis=0)
    mean_active = samples[:, alive].sum(axis=0) / active_counts
    if significant is None:
        ax.scatter(frequency[alive], mean_active, s=8, alpha=0.7, color="tab:purple")
    else:
        sig = np.asarray(significant, dtype=bool)[alive]
        ax.scatter(frequency[alive][~sig], mean_active[~sig], s=8, alpha=0.5, color="0.5",
                   label=f"not significant ({int((~sig).sum())})")
        ax.scatter(frequency[alive][sig], mean_active[sig], s=24, color="tab:red",
                   label=f"significant ensembles ({int(sig.sum())})")
        ax.legend(fontsize="small")
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


def plot_code_statistics(codes: xr.DataArray, path: str | PathLike | None = None, ax=None,
                         significant: np.ndarray | None = None) -> Figure:
    """Health of a sparse code: activation frequencies, L0, activation sizes and activity over time.

    Parameters
    ----------
    codes : xarray.DataArray
        Latent activations, dims (latents, time, presentations).
    path : str or path-like, optional
        Where to write the figure as a PNG.
    ax : matplotlib Axes, sequence of Axes, Figure or SubFigure, optional
        Where to draw: four Axes, or a Figure/SubFigure to lay the panels out in; default a new Figure.
    significant : array-like of bool, optional
        (latents,): the significant ensembles (``SAE.significant_``), marked in the activation panel.

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
    fig, axes = _panels(ax, 2, 2, (9, 6.5), "plot_code_statistics")
    _frequency_panel(axes[0, 0], frequency)
    _l0_panel(axes[0, 1], samples)
    if significant is not None and len(significant) != len(frequency):
        raise InputDataError(f"{len(significant)} significance flags for {len(frequency)} latents.")
    _activation_panel(axes[1, 0], samples, frequency, significant)
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
               path: str | PathLike | None = None, ax=None) -> Figure:
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
    ax : matplotlib Axes, sequence of Axes, Figure or SubFigure, optional
        Where to draw: one Axes (two with ``data``: activity above codes), or a Figure/SubFigure to lay the panels out in; default a new Figure.

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

    fig, axes = _panels(ax, 2 if data is not None else 1, 1, (9, 7 if data is not None else 4), "plot_codes",
                        sharex=True)
    axes = axes[:, 0]
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
                path: str | PathLike | None = None, ax=None) -> Figure:
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
    ax : matplotlib Axes, sequence of Axes, Figure or SubFigure, optional
        Where to draw: one Axes per latent (the legend then goes into the first), or a Figure/SubFigure to lay the panels out in; default a new Figure.

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

    given_axes = ax is not None and not isinstance(ax, FigureBase)
    ncols = 1 if given_axes else min(3, chosen.size)
    nrows = math.ceil(chosen.size / ncols)
    fig, axes = _panels(ax, nrows, ncols, (3.6 * ncols + 1.5, 2.8 * nrows + 0.5), "plot_tuning")
    axes = axes.ravel()
    for panel in axes[chosen.size:]:
        panel.remove()
    for i, (panel, latent) in enumerate(zip(axes[: chosen.size], chosen, strict=True)):
        for j, condition in enumerate(conditions):
            panel.plot(time, means[latent, :, j], color=colours[j], label=str(condition))
        _mark_onset(panel, time)
        panel.set_title(f"latent {labels[latent]}")
        if given_axes or i + ncols >= chosen.size:  # nothing of ours drawn below this panel
            panel.set_xlabel("time (s)")
        if given_axes or i % ncols == 0:
            panel.set_ylabel("mean activation")
    legend = dict(title=by, fontsize="small", ncols=1 + conditions.size // 16)
    if given_axes:  # the caller's figure may hold other plots: keep the legend inside our panel
        axes[0].legend(**legend)
    else:
        handles, names = axes[0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside right upper", **legend)
    return _save(fig, path)

