"""Keep every layer in view: fit the camera whenever the canvas changes size, until the user moves it.

A view fitted when the layers are added is fitted to the canvas as it is then; docking the browser
narrows the canvas afterwards (the dock is laid out on the next pass of Qt's event loop), which left
the first view clipped. napari reports every size the canvas takes (``viewer.canvas.events.size``,
emitted after the canvas has it), so the fit follows the layout, a resized window and a moved
splitter. Once the user pans or zooms, the camera is theirs and is left alone.
"""

from __future__ import annotations

import numpy as np

MARGIN = 0.03
"""Blank border around the layers, as a fraction of the canvas."""


class ViewFitter:
    """Fits ``viewer``'s camera to its layers now and after every change of the canvas size.

    Attributes
    ----------
    fits : int
        How many times the camera was fitted (for tests).
    on_fit : list of callable
        Called after every fit.
    """

    def __init__(self, viewer):
        self.viewer = viewer
        self.fits = 0
        self.on_fit = []  # called after every fit (the widget sizes its text to the new zoom)
        self._camera = None  # (center, zoom) the last fit set
        viewer.canvas.events.size.connect(self._on_size)

    def fit(self) -> None:
        """Fit the camera to all layers now and follow the canvas size from here on."""
        self.viewer.reset_view(margin=MARGIN)
        camera = self.viewer.scene.camera
        self._camera = (np.asarray(camera.center, dtype=float), float(camera.zoom))
        self.fits += 1
        for callback in self.on_fit:
            callback()

    def user_moved(self) -> bool:
        """Whether the camera moved since the last fit (the user panned or zoomed)."""
        if self._camera is None:
            return True
        center, zoom = self._camera
        camera = self.viewer.scene.camera
        return not (np.allclose(camera.center, center, rtol=1e-6, atol=1e-6)
                    and np.isclose(camera.zoom, zoom, rtol=1e-6))

    def _on_size(self, event=None) -> None:
        if not self.user_moved():
            self.fit()

    def disconnect(self) -> None:
        """Stop following the canvas size."""
        self.viewer.canvas.events.size.disconnect(self._on_size)
