"""Figure of the model selection: how many trustworthy ensembles each candidate finds."""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from nwb_sae.errors import InputDataError
from nwb_sae.viz._common import _save

_SWEEPS = (("k", "k (mean active latents per time bin)", True), ("n_latents", "number of latents", True))


def plot_selection(curve: pd.DataFrame, ax: Sequence[Axes] | None = None,
                   path: str | PathLike | None = None) -> Figure:
    """The selection curve: trustworthy latents and masked held-out error of every candidate.

    Parameters
    ----------
    curve : pandas.DataFrame
        ``EnsembleResult.selection_curve`` (columns ``sweep``, ``n_latents``, ``k``, ``trustworthy``,
        ``masked_error``, ``chosen``). Rows of the dense path (``sweep == "dense k"``) are drawn in
        the ``k`` panel as triangles.
    ax : pair of matplotlib Axes, optional
        Where to draw the ``k`` sweep and the ``n_latents`` sweep; a new two-panel figure by default.
    path : path, optional
        Also write the figure as a PNG there.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> curve = pd.DataFrame(dict(sweep=["k", "k", "n_latents", "n_latents"], n_latents=[8, 8, 4, 8],
    ...                           k=[0.25, 0.5, 0.25, 0.25], trustworthy=[4, 3, 3, 4],
    ...                           masked_error=[0.9, 0.8, 0.95, 0.9], chosen=[True, False, False, True]))
    >>> len(plot_selection(curve).axes)
    4
    """
    missing = {"sweep", "n_latents", "k", "trustworthy", "masked_error", "chosen"} - set(curve.columns)
    if missing:
        raise InputDataError(f"selection curve lacks column(s) {sorted(missing)}; pass "
                             "EnsembleResult.selection_curve (or sae.selection_curve_).")
    if ax is None:
        fig = Figure(figsize=(9, 3.5), layout="constrained")
        axes = fig.subplots(1, 2)
    else:
        axes = list(ax)
        if len(axes) != 2:
            raise InputDataError(f"plot_selection draws two panels; ax holds {len(axes)} Axes.")
        fig = axes[0].figure
    for axis, (sweep, label, log2) in zip(axes, _SWEEPS, strict=True):
        rows = curve[curve["sweep"] == sweep].sort_values(sweep)
        x = rows[sweep].to_numpy(dtype=float)
        axis.plot(x, rows["trustworthy"], "o-", color="C0")
        chosen = rows[rows["chosen"].astype(bool)]
        axis.plot(chosen[sweep], chosen["trustworthy"], "o", ms=12, mfc="none", mec="C3", label="chosen")
        if log2:
            axis.set_xscale("log", base=2)
        axis.set_xlabel(label)
        axis.set_ylabel("replicated significant latents", color="C0")
        twin = axis.twinx()
        twin.plot(x, rows["masked_error"], "s--", color="C1", ms=4)
        twin.set_ylabel("masked held-out error", color="C1")
        if sweep == "k":
            _draw_dense(axis, twin, curve[curve["sweep"] == "dense k"].sort_values("k"))
        axis.legend(loc="lower left", frameon=False)
    return _save(fig, path)


def _draw_dense(axis: Axes, twin: Axes, rows: pd.DataFrame) -> None:
    """The dense path's ``k`` candidates (per-sample TopK; only the ``k`` it kept was vetted), if it ran."""
    if rows.empty:
        return
    x = rows["k"].to_numpy(dtype=float)
    axis.plot(x, rows["trustworthy"], "^", color="C2", label=f"dense TopK, {int(rows['n_latents'].iloc[0])} latents")
    chosen = rows[rows["chosen"].astype(bool)]
    axis.plot(chosen["k"], chosen["trustworthy"], "o", ms=12, mfc="none", mec="C3")
    twin.plot(x, rows["masked_error"], "^--", color="C2", ms=4)
