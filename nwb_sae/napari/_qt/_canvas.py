"""The browser's layers in a viewer: added once per file, then updated in place when the selection changes.

Layers are found by the role (``layer.metadata[ROLE]``) and the opened file (``layer.metadata[BROWSER]``)
they show, so a file opened by the reader before the dock was added is adopted, not duplicated.
"""

from __future__ import annotations

from nwb_sae.napari._layers import BROWSER, ROLE

COLORBARS = ("activity", "codes", "roi_weights")
"""Layers with a colour bar, in the order they are tiled at the bottom right of the canvas."""


def layers_of(viewer, browser) -> dict:
    """Role -> layer of ``browser``'s layers in ``viewer``."""
    return {layer.metadata.get(ROLE): layer for layer in viewer.layers if layer.metadata.get(BROWSER) is browser}


def put(viewer, browser, layer_data: tuple, keep_active: bool = True):
    """Add ``layer_data`` (data, kwargs, type) or, when a layer of its role exists, update that layer."""
    data, kwargs, kind = layer_data
    role = kwargs["metadata"][ROLE]
    layer = layers_of(viewer, browser).get(role)
    if layer is None:
        active = viewer.layers.selection.active
        layer = getattr(viewer, f"add_{kind}")(data, **kwargs)
        if keep_active and active is not None:
            viewer.layers.selection.active = active
        return layer
    if kind == "points":
        layer.data = data
        layer.features = kwargs["features"]
        layer.text = kwargs["text"]
    else:
        layer.data = data
    for name in ("scale", "translate"):
        if name in kwargs:
            setattr(layer, name, kwargs[name])
    layer.name = kwargs["name"]
    return layer


def show_colorbars(viewer, browser) -> None:
    """A colour bar (with its tick values) for every image, tiled side by side at the bottom right."""
    viewer.canvas.overlay_tiling.bottom_right = "horizontal"
    layers = layers_of(viewer, browser)
    for role in COLORBARS:
        layer = layers.get(role)
        if layer is None or not hasattr(layer, "colorbar"):
            continue
        bar = layer.colorbar
        bar.position = "bottom_right"
        bar.size = (12, 110)
        bar.font_size = 8
        bar.visible = True
