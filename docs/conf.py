"""Sphinx configuration of the nwb-sae documentation.

Build (warnings are errors): ``sphinx-build -W -b html docs docs/_build/html``. The gallery runs every
``examples/plot_*.py`` except the napari one (it opens a window); ``NWB_SAE_EXAMPLE_QUICK=1`` makes
them small, ``NWB_SAE_CORPUS`` makes them use the real test corpus. The API, command-line, schema and
benchmark pages are generated at build time by the extensions in ``_ext/`` (into ``generated/``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
os.environ.setdefault("MPLBACKEND", "Agg")

import nwb_sae  # noqa: E402

project = "nwb-sae"
author = "nwb-sae contributors"
copyright = "nwb-sae contributors"
version = release = nwb_sae.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "api_page",
    "cli_help",
    "readme_sections",
    "results_schema",
]

exclude_patterns = ["_build", "CONTRACTS.md", "**/*.ipynb", "auto_examples/*.py", "auto_examples/*.zip"]
root_doc = "index"
html_theme = "alabaster"
html_theme_options = {"description": "Sparse neuron ensembles in NWB recordings", "fixed_sidebar": True}
html_static_path: list[str] = []

# -- autodoc / numpydoc ---------------------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # numpydoc sections already state the types
numpydoc_show_class_members = False  # autodoc's :members: lists them; no autosummary stubs
numpydoc_class_members_toctree = False
intersphinx_mapping = {}  # never fetched: the docs build offline

# -- sphinx-gallery -------------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(HERE.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_(?!napari)",  # executed: every plot_ script but the napari one
    "ignore_pattern": r"make_screenshot\.py",  # a tool that remakes napari_widget.png, not an example
    "within_subsection_order": "gallery_order.example_order",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "matplotlib_animations": False,
    "capture_repr": (),
    "show_memory": False,
}


def _skip_sklearn_routing(app, what, name, obj, skip, options):
    """scikit-learn adds ``set_*_request`` (metadata routing) to every estimator; they are not ours."""
    if name.startswith("set_") and name.endswith("_request") or name == "set_output":
        return True
    return skip


def setup(app):
    app.connect("autodoc-skip-member", _skip_sklearn_routing)
