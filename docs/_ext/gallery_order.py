"""The order of the gallery: the examples named here first, any other example after them by name."""

from __future__ import annotations

FIRST = ("plot_two_photon.py", "plot_units_trials.py", "plot_read_results.py")
LAST = ("plot_napari.py",)


class ExampleOrder:
    """Sort key for sphinx-gallery's ``within_subsection_order`` (called with each file name)."""

    def __init__(self, src_dir: str = "") -> None:
        self.src_dir = src_dir

    def __call__(self, filename: str) -> tuple:
        if filename in FIRST:
            return (0, FIRST.index(filename), filename)
        if filename in LAST:
            return (2, LAST.index(filename), filename)
        return (1, 0, filename)

    def __repr__(self) -> str:  # sphinx caches the configuration by its repr
        return "ExampleOrder()"
