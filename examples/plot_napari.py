"""
Browse the ensembles in napari
==============================

Open a recording with its nwb-sae results in napari, with the "SAE code browser" docked: the codes
(latents x time) and the activity (neurons x time) cut into presentations and walked by one slider,
the ROIs painted by the chosen latent's dictionary weights, and a table of the latents.

.. image:: /napari_widget.png
   :alt: napari with the SAE code browser docked beside the codes, the activity and the painted ROIs

This page is not executed when the documentation is built (it opens a window); the picture above
was made by ``examples/make_screenshot.py``. From a shell, the same is ``nwb-sae view FILE.nwb``.
Needs the napari extra: ``pip install "nwb-sae[napari]"``.
"""

# sphinx_gallery_thumbnail_path = "napari_widget.png"

# %%
# A file with results
# -------------------
# The roiextractors test file of the corpus (15 ROIs with image masks) when ``NWB_SAE_CORPUS`` is set,
# otherwise the built-in synthetic two-photon recording, encoded by a small model.
import os
import tempfile
from pathlib import Path

import napari

import nwb_sae

QUICK = os.environ.get("NWB_SAE_EXAMPLE_QUICK") == "1"
CORPUS = os.environ.get("NWB_SAE_CORPUS")
scratch = tempfile.TemporaryDirectory(prefix="nwb_sae_example_", ignore_cleanup_errors=True)
workdir = Path(scratch.name)  # removed when the example ends

if CORPUS:
    source = Path(CORPUS) / "ophys" / "roiextractors-segmentation__nwb_test.nwb"
    data = nwb_sae.read_nwb(source, window=2.0)
else:
    rec = nwb_sae.synthetic.make_recording(n_neurons=32, n_atoms=16, n_time=20,
                                           n_presentations=60 if QUICK else 200, seed=3)
    source = nwb_sae.synthetic.write_nwb_recording(workdir / "recording.nwb", rec, kind="ophys")
    t = rec.data["time"].values
    data = nwb_sae.read_nwb(source, presentations="trials", window=(t[0], t[-1] + 0.05))

sae = nwb_sae.SAE(n_latents=24, k=2, epochs=3 if QUICK else 30, seed=0, progress=False).fit(data)
results = nwb_sae.write_nwb(sae, source, workdir / "recording_sae.nwb")

# %%
# Open napari
# -----------
# The nwb-sae plugin reads the file (``viewer.open(path, plugin="nwb-sae")`` gives the layers alone)
# and its dock widget adds the browser. The napari window stays open until you close it.
viewer = napari.Viewer(title=f"nwb-sae: {results.name}", show=not QUICK)
_, browser = viewer.window.add_plugin_dock_widget("nwb-sae", "SAE code browser")
browser.load(results)
print([layer.name for layer in viewer.layers])

if QUICK:  # the tests only check that the browser opens the file
    viewer.close()
else:
    napari.run()
