"""The package's public names: explicit, importable, light (reading never imports torch)."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import nwb_sae


def test_every_public_name_resolves_and_dir_lists_them():
    for name in nwb_sae.__all__:
        assert getattr(nwb_sae, name) is not None, name
    assert sorted(dir(nwb_sae)) == sorted(nwb_sae.__all__)
    assert nwb_sae.__version__ == version("nwb-sae")


def test_reading_nwb_does_not_import_torch():
    code = ("import sys, nwb_sae; nwb_sae.read_nwb; nwb_sae.open_activity; nwb_sae.read_results; "
            "nwb_sae.describe_file; nwb_sae.read_hdf5; nwb_sae.load_data; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
