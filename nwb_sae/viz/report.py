"""Figure bundles written after training and after inference, as PNG files in one folder.

The command line (``nwb-sae train``, ``inference``, ``demo``) calls these; they are plain library
functions, usable from a notebook on any fitted :class:`nwb_sae.SAE`.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np
import xarray as xr

from nwb_sae.viz.codes import plot_code_statistics, plot_codes
from nwb_sae.viz.dictionary import plot_dictionary
from nwb_sae.viz.selection import plot_selection
from nwb_sae.viz.training import plot_history, plot_reconstructions

TRAINING_FIGURES = ("history.png", "reconstructions.png", "dictionary.png", "code_statistics.png")
SELECTION_FIGURE = "selection.png"
"""Added to the training figures when the fit selected its size and sparsity (``SAE.selection_curve_``)."""
"""File names written by :func:`save_training_figures`, in order."""


def save_training_figures(sae, data: xr.DataArray, folder: str | PathLike) -> list[Path]:
    """History, reconstructions, dictionary atoms (most active first) and code statistics of a fit.

    Parameters
    ----------
    sae : nwb_sae.SAE
        A fitted model (``history_``, ``dictionary``, ``neuron_coords_``, ``encode``, ``decode``; the
        significant ensembles ``significant_`` come first and are marked; ``selection_curve_`` adds
        :data:`SELECTION_FIGURE`).
    data : xarray.DataArray
        The activity it was trained on, dims (neurons, time, presentations) (the neurons the model
        dropped as constant may be included; they are left out).
    folder : str or path-like
        Created when missing.

    Returns
    -------
    list of Path
        The PNG files, named as in :data:`TRAINING_FIGURES` (+ :data:`SELECTION_FIGURE`).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = sae.select_neurons(data)  # without the constant neurons fit dropped
    codes = sae.encode(data)
    recon = sae.decode(codes)
    significant = getattr(sae, "significant_", None)
    activity = codes.mean(dim=("time", "presentations")).values
    # significant ensembles first, then by mean activation
    order = np.lexsort((-activity, ~significant)) if significant is not None else activity.argsort()[::-1]
    paths = [folder / name for name in TRAINING_FIGURES]
    plot_history(sae.history_, path=paths[0])
    plot_reconstructions(data, recon, path=paths[1])
    plot_dictionary(sae.dictionary, order=order, neuron_labels=sae.neuron_coords_.get("id"), path=paths[2],
                    significant=significant)
    plot_code_statistics(codes, path=paths[3], significant=significant)
    if getattr(sae, "selection_curve_", None) is not None:
        paths.append(folder / SELECTION_FIGURE)
        plot_selection(sae.selection_curve_, path=paths[-1])
    return paths


def save_inference_figures(data: xr.DataArray, recon: xr.DataArray, codes: xr.DataArray,
                           folder: str | PathLike, num_samples: int) -> list[Path]:
    """Reconstructions and codes of the first ``num_samples`` presentations, and code statistics.

    Parameters
    ----------
    data, recon : xarray.DataArray
        Activity and its reconstruction, dims (neurons, time, presentations).
    codes : xarray.DataArray
        Codes, dims (latents, time, presentations).
    folder : str or path-like
        Created when missing.
    num_samples : int
        Presentations to draw (fewer when the data have fewer).

    Returns
    -------
    list of Path
        ``reconstructions.png``, ``codes_presentation_<p>.png`` per presentation, ``code_statistics.png``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n = min(num_samples, data.sizes["presentations"])
    chosen = list(range(n))
    paths = [folder / "reconstructions.png"]
    plot_reconstructions(data, recon, presentations=chosen, n=n, path=paths[0])
    for p in chosen:
        paths.append(folder / f"codes_presentation_{p}.png")
        plot_codes(codes, p, data=data, path=paths[-1])
    paths.append(folder / "code_statistics.png")
    plot_code_statistics(codes, path=paths[-1])
    return paths
