"""Figures of the dictionary: atoms over neurons and recovery of a known dictionary."""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure, FigureBase

from nwb_sae.errors import InputDataError
from nwb_sae.metrics import cosine_matrix
from nwb_sae.viz._common import (
    RECOVERY_THRESHOLD,
    _format,
    _label_rows,
    _panels,
    _save,
)


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


def _atom_heatmap(fig: FigureBase, ax: Axes, atoms: np.ndarray, rows: np.ndarray, neuron_labels,
                  significant: np.ndarray | None = None) -> None:
    """Atoms (rows) over neurons (columns) on a diverging colour map centred at 0; significant
    ensembles (when given) get a ``*`` after their latent number."""
    vmax = float(np.nanmax(np.abs(atoms))) or 1.0
    image = ax.imshow(atoms, aspect="auto", interpolation="nearest", cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    title = f"dictionary: {rows.size} atoms"
    if significant is not None:
        marked = np.asarray(significant, dtype=bool)[rows]
        _label_rows(ax, [f"{r}*" if m else str(r) for r, m in zip(rows, marked, strict=True)])
        title += f", {int(marked.sum())} significant ensembles (*)"
    else:
        _label_rows(ax, rows)
    _label_rows(ax, neuron_labels, axis="x")
    ax.set_xlabel("neuron")
    ax.set_ylabel("latent")
    ax.set_title(title)
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
                    path: str | PathLike | None = None, ax=None, significant: np.ndarray | None = None) -> Figure:
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
    ax : matplotlib Axes, sequence of Axes, Figure or SubFigure, optional
        Where to draw: one Axes (two with ``true_dictionary``: heatmap, histogram), or a Figure/SubFigure to lay the panels out in; default a new Figure.
    significant : array-like of bool, optional
        (latents,): the significant ensembles (``SAE.significant_``), marked ``*`` and counted in the title.

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
    if significant is not None and len(significant) != matrix.shape[0]:
        raise InputDataError(f"{len(significant)} significance flags for {matrix.shape[0]} atoms.")
    truth = None if true_dictionary is None else _as_matrix(true_dictionary, "true_dictionary")
    if truth is not None and truth.shape[1] != matrix.shape[1]:
        raise InputDataError(f"true_dictionary is over {truth.shape[1]} neurons, dictionary over {matrix.shape[1]}.")

    figsize = (11 if truth is not None else 8, 1.5 + 0.15 * rows.size + 1.5)
    if truth is None:
        fig, axes = _panels(ax, 1, 1, figsize, "plot_dictionary")
        _atom_heatmap(fig, axes[0, 0], matrix[rows], rows, labels, significant)
    else:
        fig, axes = _panels(ax, 1, 2, figsize, "plot_dictionary", width_ratios=[3, 1])
        _atom_heatmap(fig, axes[0, 0], matrix[rows], rows, labels, significant)
        _recovery_histogram(axes[0, 1], matrix, truth)
    return _save(fig, path)


# ---------------------------------------------------------------------------------------------------------
# code statistics


