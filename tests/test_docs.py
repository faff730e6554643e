"""The documentation site builds with warnings as errors, its gallery executed in the small form.

The docs, examples and README are copied to a temporary folder first, because sphinx-gallery and the
page generators write into the source tree. Skipped when Sphinx or sphinx-gallery is not installed
(``pip install -e ".[docs]"``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("sphinx_gallery")
pytest.importorskip("numpydoc")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def built_site(tmp_path_factory) -> Path:
    tree = tmp_path_factory.mktemp("site")
    shutil.copytree(ROOT / "docs", tree / "docs", ignore=shutil.ignore_patterns(
        "_build", "auto_examples", "generated", "sg_execution_times.rst"))
    shutil.copytree(ROOT / "examples", tree / "examples")
    shutil.copy(ROOT / "README.md", tree / "README.md")
    env = {**os.environ, "MPLBACKEND": "Agg", "NWB_SAE_EXAMPLE_QUICK": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = tree / "docs" / "_build" / "html"
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q",
                           str(tree / "docs"), str(out)], env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, f"sphinx-build -W failed:\n{done.stdout[-3000:]}\n{done.stderr[-8000:]}"
    return out


@pytest.mark.slow
def test_gallery_pages_are_executed(built_site):
    pages = {p.stem for p in (built_site / "auto_examples").glob("plot_*.html")}
    assert {"plot_two_photon", "plot_units_trials", "plot_read_results", "plot_napari", "plot_baselines",
            "plot_pynapple"} <= pages
    figures = {p.name.split("_00")[0] for p in (built_site / "_images").glob("sphx_glr_plot_*_0*.png")}
    assert {"sphx_glr_plot_two_photon", "sphx_glr_plot_units_trials", "sphx_glr_plot_read_results"} <= figures


@pytest.mark.slow
def test_api_reference_covers_the_public_api(built_site):
    import nwb_sae

    html = (built_site / "generated" / "api.html").read_text(encoding="utf-8")
    for name in ["read_nwb", "open_activity", "read_hdf5", "SAE", "load", "write_nwb", "read_results",
                 "from_pynapple", "to_pynapple"]:
        assert f'id="nwb_sae.{name}"' in html, name
    for name in nwb_sae.__all__:  # every public name, including ones added later
        if not name.startswith("_") and not isinstance(getattr(nwb_sae, name), type(nwb_sae)):
            assert f'id="nwb_sae.{name}"' in html, name
    assert 'id="nwb_sae.synthetic.make_recording"' in html and 'id="nwb_sae.metrics.mmcs"' in html


@pytest.mark.slow
def test_cli_page_shows_every_verb_with_its_flags(built_site):
    from nwb_sae.cli import build_parser

    html = (built_site / "generated" / "cli.html").read_text(encoding="utf-8")
    parser = build_parser()
    verbs = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices
    for verb, sub in verbs.items():
        assert f"nwb-sae {verb}" in html, verb
        for action in sub._actions:
            for flag in action.option_strings:
                assert flag in html, f"{verb} {flag}"


@pytest.mark.slow
def test_schema_page_lists_the_results_module(built_site):
    html = (built_site / "generated" / "schema.html").read_text(encoding="utf-8")
    for name in ["codes", "dictionary", "neurons", "provenance", "weights", "source_id", "TimeSeries",
                 "DynamicTable"]:
        assert name in html, name
