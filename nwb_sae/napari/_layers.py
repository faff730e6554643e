"""napari layer data (plain tuples) for an opened file: codes, activity and ROI weights, laid out side by side.

The codes (presentations, latents, time) and the activity (presentations, neurons, time) share the first
axis, so napari's one slider walks through presentations in both. They are stacked vertically with the
same time axis (codes on top); the field of view, painted by the selected latent's atom, sits to the right.
Nothing here imports napari: the tuples are what a reader returns and what the widget adds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nwb_sae.napari._logic import robust_limits
from nwb_sae.napari._masks import paint

ROLE = "nwb_sae_role"
"""Key of ``layer.metadata`` saying which part a layer shows: 'codes', 'activity' or 'roi_weights'."""
BROWSER = "nwb_sae_browser"
"""Key of ``layer.metadata`` holding the opened :class:`~nwb_sae.napari._data.Browser`."""


@dataclass
class Layout:
    """Where each layer sits in the world (rows, columns) of the viewer.

    Attributes
    ----------
    time_scale : float
        Width of one time bin in world units (so a short window is not a thin sliver beside many rows).
    activity_row : float
        World row where the activity starts (below the codes).
    fov_translate, fov_scale : tuple of float
        Placement of the field of view image (2-D), right of the codes.
    """

    time_scale: float
    activity_row: float
    fov_translate: tuple[float, float]
    fov_scale: tuple[float, float]


def make_layout(n_latents: int, n_neurons: int, n_time: int, fov_shape=None) -> Layout:
    """Place codes, activity and field of view without overlap.

    Examples
    --------
    >>> lay = make_layout(64, 16, 10, fov_shape=(32, 32))
    >>> lay.activity_row > 64, lay.fov_translate[1] > 10 * lay.time_scale
    (True, True)
    """
    gap = max(2.0, round(0.05 * (n_latents + n_neurons)))
    rows = n_latents + (gap + n_neurons if n_neurons else 0)
    time_scale = max(1.0, 0.6 * rows / max(n_time, 1))
    width = n_time * time_scale
    if fov_shape is None:
        return Layout(time_scale, n_latents + gap, (0.0, width + gap), (1.0, 1.0))
    s = rows / max(fov_shape[0], 1)
    return Layout(time_scale, n_latents + gap, (0.5 * s - 0.5, width + gap + 0.5 * s), (s, s))


def layer_data(browser, latent: int = 0) -> list[tuple]:
    """LayerData tuples for an opened file: what the reader returns and what the widget adds.

    Parameters
    ----------
    browser : Browser
        An opened file (see :func:`nwb_sae.napari._open.open_browser`).
    latent : int
        The latent whose atom paints the ROIs at first.

    Returns
    -------
    list of (data, kwargs, layer_type)
    """
    name = browser.path.name
    codes, activity = browser.codes, browser.activity
    n_latents = codes.shape[1] if codes is not None else 0
    n_neurons = activity.shape[1] if activity is not None else 0
    ref = codes if codes is not None else activity
    n_time = ref.shape[2] if ref is not None else 1
    fov = browser.masks.shape if browser.masks is not None and browser.dictionary is not None else None
    lay = make_layout(n_latents, n_neurons, n_time, fov)
    meta = {BROWSER: browser}
    layers = []
    if codes is not None:
        first = codes[browser.first_presentation]
        layers.append((codes, {
            "name": f"SAE codes ({name})", "colormap": "magma", "contrast_limits": browser.code_limits(first),
            "scale": (1.0, 1.0, lay.time_scale), "metadata": dict(meta, **{ROLE: "codes"}),
        }, "image"))
    if activity is not None:
        first = activity[browser.first_presentation]
        layers.append((activity, {
            "name": f"activity ({name})", "colormap": "viridis", "contrast_limits": robust_limits(first),
            "scale": (1.0, 1.0, lay.time_scale), "translate": (0.0, lay.activity_row if codes is not None
                                                                   else 0.0, 0.0),
            "metadata": dict(meta, **{ROLE: "activity"}),
        }, "image"))
    if fov is not None:
        weights = browser.dictionary[latent]
        layers.append((paint(browser.masks, weights), {
            "name": f"ROI weights ({name})", "colormap": weight_colormap(browser.dictionary),
            "contrast_limits": weight_limits(browser.dictionary, latent),
            "scale": lay.fov_scale, "translate": lay.fov_translate,
            "metadata": dict(meta, **{ROLE: "roi_weights"}),
        }, "image"))
    return layers


DIVERGING = {"name": "nwb_sae_weights",
             "colors": [[0.30, 0.62, 0.96, 1.0], [0.10, 0.10, 0.11, 1.0], [0.96, 0.63, 0.30, 1.0]]}
"""Blue (negative) - near black (0, also the background) - orange (positive), as in the atom plot."""


def _non_negative(dictionary: np.ndarray) -> bool:
    d = np.asarray(dictionary)
    return bool(d.min(initial=0.0) >= -1e-6 * max(float(np.abs(d).max(initial=0.0)), 1e-12))


def weight_colormap(dictionary: np.ndarray):
    """'inferno' for non-negative atoms; a dark-centred blue/orange map when weights take both signs."""
    return "inferno" if _non_negative(dictionary) else dict(DIVERGING)


def weight_limits(dictionary: np.ndarray, latent: int) -> tuple[float, float]:
    """Contrast limits for one atom painted on the ROIs (symmetric around 0 when weights take both signs)."""
    row = np.asarray(dictionary)[latent]
    m = float(np.abs(row).max(initial=0.0)) or 1.0
    return (0.0, m) if _non_negative(dictionary) else (-m, m)
