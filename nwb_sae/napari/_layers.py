"""napari layer data (plain tuples) for an opened file: activity, codes, field of view, laid out on one canvas.

The activity (presentations, neurons, time) and the codes (presentations, latents, time) share the first
axis, so napari's one slider walks through presentations in both. Each panel gets a fixed share of one
world square whatever its number of rows (the activity, the part a person reads, the largest), so 400
latents do not squeeze 40 neurons into a few pixels: the activity on the top left, the codes below it,
the field of view (painted by the selected latent's atom, over the imaging plane's mean image when the
file has one) on the top right, a strip on the left for the row labels, the bottom right left free for
the colour bars. Nothing here imports napari: the tuples are what a reader returns and what the widget adds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nwb_sae.napari._logic import robust_limits
from nwb_sae.napari._masks import paint

ROLE = "nwb_sae_role"
"""Key of ``layer.metadata`` saying which part a layer shows: 'codes', 'activity', 'roi_weights', ..."""
BROWSER = "nwb_sae_browser"
"""Key of ``layer.metadata`` holding the opened :class:`~nwb_sae.napari._data.Browser`."""

HEIGHT, LABELS, GAP = 100.0, 12.0, 4.0
"""World height of the canvas, width of the row-label strip on the left, gap between panels."""
ACTIVITY_SHARE = 0.68
"""Share of the height the activity gets when the codes are shown below it."""
TIME_WIDTH = 62.0
"""World width of the activity and codes panels."""
FOV_SIDE = 42.0
"""World size of the field of view's longer side (the canvas stays about 1.3 times wider than high)."""


@dataclass
class Panel:
    """Where one image sits in the world: the world box (top, left, height, width) its pixels fill.

    ``scale`` and ``translate`` (for the image's last two axes) follow from the image's shape.
    """

    top: float
    left: float
    height: float
    width: float

    def scale(self, shape) -> tuple[float, float]:
        """World size of one pixel of an image of ``shape`` (rows, columns) filling the box."""
        return (self.height / max(shape[0], 1), self.width / max(shape[1], 1))

    def translate(self, shape) -> tuple[float, float]:
        """World position of the centre of pixel (0, 0) (napari puts pixel centres on integer data points)."""
        sy, sx = self.scale(shape)
        return (self.top + 0.5 * sy, self.left + 0.5 * sx)


@dataclass
class Layout:
    """The panels of one file: ``activity``, ``codes`` and ``fov`` (None when not shown)."""

    activity: Panel | None
    codes: Panel | None
    fov: Panel | None


def make_layout(n_latents: int, n_neurons: int, fov_shape=None) -> Layout:
    """Place activity, codes and field of view without overlap, each a fixed share of the canvas.

    Examples
    --------
    >>> lay = make_layout(384, 48, fov_shape=(32, 64))
    >>> lay.codes.top >= lay.activity.top + lay.activity.height, lay.fov.left > lay.codes.left + lay.codes.width
    (True, True)
    >>> lay.fov.height / lay.fov.width  # the field of view keeps its aspect
    0.5
    >>> extent(lay)
    (-4.0, 0.0, 104.0, 120.0)
    """
    both = n_latents > 0 and n_neurons > 0
    top_height = HEIGHT * ACTIVITY_SHARE if both else HEIGHT
    activity = Panel(0.0, LABELS, top_height, TIME_WIDTH) if n_neurons else None
    codes = (Panel(top_height + GAP if both else 0.0, LABELS, HEIGHT - top_height - GAP if both else HEIGHT,
                   TIME_WIDTH) if n_latents else None)
    fov = None
    if fov_shape is not None:
        side = FOV_SIDE / max(fov_shape)
        fov = Panel(0.0, LABELS + TIME_WIDTH + GAP, side * fov_shape[0], side * fov_shape[1])
    return Layout(activity, codes, fov)


def extent(layout: Layout) -> tuple[float, float, float, float]:
    """(top, left, bottom, right) of the world the browser draws in: the panels, the label strip on the
    left and a line above and below for the titles. The camera is fitted to it."""
    panels = [p for p in (layout.activity, layout.codes, layout.fov) if p is not None]
    if not panels:
        return (0.0, 0.0, 1.0, 1.0)
    top = min(p.top for p in panels) - GAP
    bottom = max(p.top + p.height for p in panels) + GAP
    right = max(p.left + p.width for p in panels)
    return (top, 0.0, bottom, right)


def _placed(panel: Panel, shape, leading: int = 0) -> dict:
    """``scale`` and ``translate`` of a layer whose last two axes fill ``panel`` (``leading`` axes before)."""
    return {"scale": (1.0,) * leading + panel.scale(shape), "translate": (0.0,) * leading + panel.translate(shape)}


def layout_of(browser) -> Layout:
    """The :class:`Layout` of an opened file."""
    n_latents = browser.codes.shape[1] if browser.codes is not None else 0
    n_neurons = browser.activity.shape[1] if browser.activity is not None else 0
    fov = browser.masks.shape if browser.masks is not None and browser.dictionary is not None else None
    return make_layout(n_latents, n_neurons, fov)


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
    lay = layout_of(browser)
    meta = {BROWSER: browser}
    layers = []
    if lay.fov is not None and browser.background is not None:
        image = browser.background.image
        layers.append((image, {
            "name": f"{browser.background.name} ({name})", "colormap": "gray",
            "contrast_limits": robust_limits(image, q=99.0), **_placed(lay.fov, image.shape),
            "metadata": dict(meta, **{ROLE: "background"}),
        }, "image"))
    if activity is not None:
        first = activity[browser.first_presentation]
        layers.append((activity, {
            "name": f"activity, {browser.normalisation} ({name})", "colormap": "viridis",
            "contrast_limits": activity_limits(first, browser.normalisation),
            **_placed(lay.activity, activity.shape[1:], leading=1), "metadata": dict(meta, **{ROLE: "activity"}),
        }, "image"))
    if codes is not None:
        first = codes[browser.first_presentation]
        layers.append((codes, {
            "name": f"SAE codes, a.u. ({name})", "colormap": "magma", "contrast_limits": browser.code_limits(first),
            **_placed(lay.codes, codes.shape[1:], leading=1), "metadata": dict(meta, **{ROLE: "codes"}),
        }, "image"))
    if lay.fov is not None:
        atoms = browser.member_atoms()  # each neuron in its own SDs: the members stand out, not the bright ROIs
        painted = paint(browser.masks, atoms[latent])
        layers.append((painted, {
            "name": f"ROI weights ({name})", "colormap": weight_colormap(atoms),
            "contrast_limits": weight_limits(atoms, latent), **_placed(lay.fov, painted.shape),
            "opacity": 0.8 if browser.background is not None else 1.0,
            "blending": "additive" if browser.background is not None else "translucent",
            "metadata": dict(meta, **{ROLE: "roi_weights"}),
        }, "image"))
    return layers


def activity_limits(first: np.ndarray, normalisation: str) -> tuple[float, float]:
    """Contrast limits of the activity: from 0 to a robust maximum for z-scores and dF/F (transients
    stand out, the noise below the mean is dark), the 0.5-99.5 percentiles for raw values."""
    lo, hi = robust_limits(first, q=99.5)
    if normalisation == "raw":
        return (lo, hi)
    return (0.0, max(hi, 1.0))


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
