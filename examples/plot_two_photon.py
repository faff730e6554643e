"""
Two-photon ROIs: ensembles painted on the field of view
=======================================================

Fit a sparse autoencoder on ROI fluorescence traces, then paint each ensemble (a dictionary atom: one
weight per ROI) on the ROI image masks stored in the file's ``PlaneSegmentation``.

The recording is suite2p's own NWB export from the test corpus when the environment variable
``NWB_SAE_CORPUS`` points to it, otherwise a synthetic two-photon recording with planted ensembles
written as a real NWB file by :func:`nwb_sae.synthetic.write_nwb_recording`.
"""

# %%
# Find a recording
# ----------------
# ``NWB_SAE_EXAMPLE_QUICK=1`` shrinks the example (the tests and the documentation's CI build set it).
import os
import tempfile
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from pynwb import NWBHDF5IO

import nwb_sae

QUICK = os.environ.get("NWB_SAE_EXAMPLE_QUICK") == "1"
CORPUS = os.environ.get("NWB_SAE_CORPUS")
scratch = tempfile.TemporaryDirectory(prefix="nwb_sae_example_", ignore_cleanup_errors=True)
workdir = Path(scratch.name)  # removed when the example ends

if CORPUS:
    path = Path(CORPUS) / "ophys" / "suite2p-export__2022_08_08.nwb"
    # no trials in this file: cut the recording into consecutive 2 s windows
    read_args = dict(window=2.0)
else:
    rec = nwb_sae.synthetic.make_recording(n_neurons=64, n_atoms=24, n_time=20,
                                           n_presentations=60 if QUICK else 300, seed=0)
    path = nwb_sae.synthetic.write_nwb_recording(workdir / "two_photon_demo.nwb", rec, kind="ophys")
    t = rec.data["time"].values
    read_args = dict(presentations="trials", window=(t[0], t[-1] + rec.data.attrs["bin_size"]))

# %%
# Read the ROI traces
# -------------------
# :func:`nwb_sae.read_nwb` finds the ROI fluorescence, handles files that store it transposed, and
# returns a labelled ``(neurons, time, presentations)`` array. The ROI ids are the ``neurons``
# coordinate; ``attrs["neuron_table"]`` names the ``PlaneSegmentation`` they are rows of.
# (suite2p users would usually keep only the ROIs it classified as cells with ``neurons="iscell"``;
# this short export has only 20 of them, so all ROIs are used here.)
data = nwb_sae.read_nwb(path, **read_args)
print(data.sizes, data.attrs["activity"], data.attrs["neuron_table"])

# %%
# Keep the ROIs whose trace varies in at least half of the windows. A trace that never changes carries
# no information and cannot be z-scored; one that moves in a single window gets a tiny training
# variance, and z-scoring then blows up its other windows (in this short suite2p export, many ROIs are
# flat for most of the recording).
varies = (data.std("time") > 0).mean("presentations") >= 0.5
data = data.isel(neurons=varies.values)
print(f"{data.sizes['neurons']} ROIs vary in at least half of the windows")

# %%
# Fit the sparse autoencoder
# --------------------------
# A small dictionary (48 latents) keeps the example fast; each population vector (the activity of all
# ROIs in one time bin) is coded by ``k`` latents.
sae = nwb_sae.SAE(n_latents=48, k=3, epochs=3 if QUICK else 30, seed=0, progress=False).fit(data)
codes = sae.encode(data)
print(sae, {k: round(float(v), 3) for k, v in sae.metrics_.items() if k in ("fvu", "l0")})

# %%
# On the demo recording the answer is known: how close does each planted ensemble come to a learned
# atom (MMCS, mean over planted ensembles of the best cosine; 1 is perfect)?
if not CORPUS:
    print("MMCS vs the planted ensembles:", round(nwb_sae.metrics.mmcs(sae.dictionary, rec.dictionary), 3))

# %%
# Read the ROI masks from the PlaneSegmentation
# ---------------------------------------------
# ``image_mask`` holds one ``(x, y)`` image per ROI; suite2p writes ``pixel_mask`` (lists of
# ``(x, y, weight)``) instead. Either way, keep the pixels of each ROI.
with NWBHDF5IO(path, "r") as io, warnings.catch_warnings():
    # pynwb warns that suite2p stores its traces transposed (nwb-sae's reader handles that)
    warnings.filterwarnings("ignore", message=".*oriented incorrectly", category=UserWarning)
    nwbfile = io.read()
    _, module, *inner = data.attrs["neuron_table"].split("/")
    segmentation = nwbfile.processing[module]
    for name in inner:
        segmentation = segmentation[name]
    roi_ids = list(segmentation.id[:])
    if "image_mask" in segmentation.colnames:
        pixels = [np.nonzero(np.asarray(mask) > 0) for mask in segmentation["image_mask"][:]]
        field_size = np.asarray(segmentation["image_mask"][0]).shape
    else:
        pixels = [tuple(np.asarray([(x, y) for x, y, _ in mask], dtype=int).T)
                  for mask in segmentation["pixel_mask"][:]]
        field_size = tuple(max(int(p[axis].max()) for p in pixels) + 1 for axis in (0, 1))

# the dictionary's columns follow data.neurons (ROI ids); the masks follow the PlaneSegmentation's rows
pixels = [pixels[roi_ids.index(roi)] for roi in data["neurons"].values]
print(f"{len(pixels)} ROIs on a {field_size[0]} x {field_size[1]} field of view")


def paint(weights):
    """An image of the field of view with each ROI's pixels set to its weight (the strongest on top)."""
    image = np.full(field_size, np.nan)
    for roi in np.argsort(np.abs(weights)):
        image[pixels[roi]] = weights[roi]
    return image.T  # x to the right


# %%
# Paint the most used ensembles on the field of view
# --------------------------------------------------
# Each panel colours every ROI by its weight in one atom (``sae.dictionary``, in the data's units).
# Latents are ranked here by how often they are active; ranking by a significance test comes with
# the ensemble statistics (see :doc:`/method`). (The segmentation of the short suite2p test export
# also holds long, ring-shaped ROIs that are not cells; they are painted like any other ROI.)
usage = (codes > 0).mean(("time", "presentations")).values
top = np.argsort(-usage)[:6]
limit = np.abs(sae.dictionary[top]).max()  # one colour scale for all panels
fig, axes = plt.subplots(2, 3, figsize=(10, 6.5), constrained_layout=True)
for ax, latent in zip(axes.flat, top, strict=True):
    ax.set_facecolor("0.85")
    shown = ax.imshow(paint(sae.dictionary[latent]), cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_title(f"latent {latent}: active in {usage[latent]:.0%} of bins")
    ax.set_xticks([])
    ax.set_yticks([])
fig.colorbar(shown, ax=axes, shrink=0.6, label="weight (data units)")
fig.suptitle(f"{path.name}: ensembles on the ROI masks")

# %%
# When the ensembles are active
# -----------------------------
# The codes keep the input's labels (``latents``, ``time``, ``presentations``). Here: the codes of the
# same latents through the first 20 windows (presentations), laid end to end, as the recording ran.
shown = codes.sel(latents=top).isel(presentations=slice(0, 20))
n_time = shown.sizes["time"]
fig, ax = plt.subplots(figsize=(10, 2.8), constrained_layout=True)
image = ax.imshow(shown.transpose("latents", "presentations", "time").values.reshape(len(top), -1),
                  aspect="auto", cmap="viridis", interpolation="nearest")
ax.set_yticks(range(len(top)), [f"latent {latent}" for latent in top])
ax.set_xticks(np.arange(0, shown.sizes["presentations"] * n_time, 5 * n_time),
              shown["presentations"].values[::5])
ax.set_xlabel("presentation (window)")
fig.colorbar(image, ax=ax, label="code")
ax.set_title("codes of the most used latents, window after window")
plt.show()
