"""npe2 reader: an ``.nwb`` file as napari layers (activity, SAE codes, ROI weights).

The activity is shaped (presentations, neurons, time) and, when the file holds nwb-sae results, the
codes (presentations, latents, time), both aligned to the trials when there is a trials table; with
ROI masks, the field of view painted by the first latent's atom. Layers read presentations on demand,
so a long recording shows its first presentation without loading the rest.
"""

from __future__ import annotations

from pathlib import Path


def napari_get_reader(path):
    """Return :func:`read_nwb_layers` for a single ``.nwb`` path, None for anything else.

    Parameters
    ----------
    path : str or list of str

    Returns
    -------
    callable or None
    """
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    if not str(path).lower().endswith(".nwb"):
        return None
    return read_nwb_layers


def read_nwb_layers(path, module: str = "sae") -> list[tuple]:
    """Open an NWB file and return its layers as napari LayerData tuples.

    Parameters
    ----------
    path : str or Path (or a one-element list of them)
    module : str
        Processing module holding the SAE results.

    Returns
    -------
    list of (data, kwargs, layer_type)
        Each layer's ``metadata`` holds the opened file (``nwb_sae_browser``), which the
        "SAE code browser" widget picks up.

    Raises
    ------
    NwbSaeError
        The file cannot be read, or holds no activity nwb-sae can show (napari shows the message).
    """
    from nwb_sae.napari._layers import layer_data
    from nwb_sae.napari._open import open_browser

    if isinstance(path, (list, tuple)):
        path = path[0]
    browser = open_browser(Path(path), module=module)
    return layer_data(browser)
