"""Tracks over sessions: which ensembles persist, drift, appear and vanish.

One row per track, one column per session. A marker where the track is present (its size the
ensemble's activation rate, its colour the track's status), a line between consecutive presences (its
shade the cosine to the previous session), so a drifting track fades and a new one starts late. The
ceiling (how similar a session's ensembles are to themselves) is drawn in the title, beside the numbers
it qualifies.
"""

from __future__ import annotations

from os import PathLike

import numpy as np
import xarray as xr

from nwb_sae.errors import InputDataError
from nwb_sae.viz._common import _panels, _save

STATUS_COLOURS = {"persistent": "tab:blue", "drifting": "tab:orange", "new": "tab:green", "vanished": "tab:red"}


def plot_tracks(tracks: xr.Dataset, path: str | PathLike | None = None, ax=None, *, max_tracks: int = 60):
    """Tracks of :func:`nwb_sae.track_ensembles` over sessions.

    Parameters
    ----------
    tracks : xarray.Dataset
        The output of :func:`nwb_sae.track_ensembles` (dims track, session).
    path : str or Path, optional
        Also write the figure as a PNG.
    ax : Axes, Figure or SubFigure, optional
        Where to draw (a new figure by default).
    max_tracks : int
        Most tracks drawn (the ones present in most sessions first).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(tracks, xr.Dataset) or not {"latent", "status", "cosine"} <= set(tracks.data_vars):
        raise InputDataError("plot_tracks draws the Dataset nwb_sae.track_ensembles returns "
                             "(variables latent, status, cosine over track, session).")
    latent = tracks["latent"].values
    order = np.argsort(-(latent >= 0).sum(axis=1), kind="stable")[:max_tracks]
    n_sessions = latent.shape[1]
    fig, axes = _panels(ax, 1, 1, (1.2 + 0.9 * n_sessions, 1.0 + 0.28 * len(order)), "plot_tracks")
    axis = axes[0, 0]
    rate = tracks["rate"].values if "rate" in tracks else np.ones(latent.shape)
    top = np.nanmax(rate) if np.isfinite(rate).any() else 1.0
    cosine = tracks["cosine"].values
    for y, t in enumerate(order):
        colour = STATUS_COLOURS.get(str(tracks["status"].values[t]), "grey")
        on = np.flatnonzero(latent[t] >= 0)
        for a, b in zip(on[:-1], on[1:], strict=True):
            shade = float(np.clip(cosine[t, b], 0, 1)) if np.isfinite(cosine[t, b]) else 0.2
            axis.plot([a, b], [y, y], color=colour, alpha=0.15 + 0.85 * shade, linewidth=2.5)
        sizes = 20 + 120 * np.nan_to_num(rate[t, on] / top, nan=0.3)
        axis.scatter(on, np.full(len(on), y), s=sizes, color=colour, zorder=3)
        for s in on:
            axis.annotate(str(latent[t, s]), (s, y), textcoords="offset points", xytext=(0, 6), ha="center",
                          fontsize=6)
    axis.set_xticks(range(n_sessions), [str(s) for s in tracks["session"].values])
    axis.set_yticks(range(len(order)), [f"track {int(tracks['track'].values[t])}" for t in order], fontsize=7)
    axis.set_ylim(len(order) - 0.5, -0.7)
    axis.set_xlim(-0.5, n_sessions - 0.5)
    for status, colour in STATUS_COLOURS.items():
        axis.scatter([], [], color=colour, label=f"{status} ({int((tracks['status'].values == status).sum())})")
    axis.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    ceiling = tracks.attrs.get("ceiling")
    measured = tracks.attrs.get("ceiling_measured", False)
    axis.set_title("ensembles across sessions (marker: rate; line shade: cosine to previous)"
                   + (f"\nceiling {ceiling:.2f}" if measured and ceiling is not None else ""), fontsize=8)
    axis.set_xlabel("session")
    return _save(fig, path)
