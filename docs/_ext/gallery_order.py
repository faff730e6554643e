"""The order of the gallery: the examples named here first, any other example after them by name.

A new ``examples/plot_*.py`` needs no edit anywhere to be built, run by the tests and listed; name it
here only to give it a place.
"""

from __future__ import annotations

FIRST = ("plot_two_photon.py", "plot_units_trials.py", "plot_read_results.py")
LAST = ("plot_napari.py",)


def example_order(filename: str) -> tuple:
    """Sort key for sphinx-gallery's ``within_subsection_order`` (given each example's file name)."""
    if filename in FIRST:
        return (0, FIRST.index(filename), filename)
    if filename in LAST:
        return (2, LAST.index(filename), filename)
    return (1, 0, filename)
