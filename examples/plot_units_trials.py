"""
Spike-sorted units with trials: ensembles and their stimulus selectivity
========================================================================

Bin the spike trains of a Units table around the start of each presentation of an interval table,
fit a sparse autoencoder on the population vectors, and ask which ensembles prefer which stimulus
category.

With ``NWB_SAE_CORPUS`` set, the recording is the Rutishauser lab's human medial temporal lobe
session from the test corpus (35 units, 90 movie clips in ``intervals/encoding_table``, column
``stimCategory``); otherwise a synthetic spiking recording with planted ensembles and a ``trials``
table whose ``condition`` column selects the preferred ensembles.
"""

# %%
# Find a recording
# ----------------
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import nwb_sae

QUICK = os.environ.get("NWB_SAE_EXAMPLE_QUICK") == "1"
CORPUS = os.environ.get("NWB_SAE_CORPUS")
scratch = tempfile.TemporaryDirectory(prefix="nwb_sae_example_", ignore_cleanup_errors=True)
workdir = Path(scratch.name)  # removed when the example ends

if CORPUS:
    path = Path(CORPUS) / "ecephys" / "rutishauser-cb__sub-4_ses-4_ecephys+image.nwb"
    table, category, window = "encoding_table", "stimCategory", (-0.5, 1.5)
else:
    rec = nwb_sae.synthetic.make_recording(n_neurons=48, n_atoms=16, n_time=40, n_conditions=3,
                                           n_presentations=60 if QUICK else 240, seed=1)
    path = nwb_sae.synthetic.write_nwb_recording(workdir / "units_demo.nwb", rec, kind="units")
    table, category = "trials", "condition"
    window = (-0.4, 1.6)  # the demo's trials: 0.4 s of baseline, 1.6 s after onset

# %%
# Spike counts aligned to the presentations
# -----------------------------------------
# ``window=(-0.5, 1.5)`` takes 0.5 s before to 1.5 s after each presentation's ``start_time``, binned at
# 50 ms: ``round((1.5 - -0.5) / 0.05) = 40`` bins, the first at ``start_time - 0.5``. The interval
# table's columns become coordinates of the ``presentations`` dimension.
data = nwb_sae.read_nwb(path, activity="units", presentations=table, window=window, bin_size=0.05)
print(data.sizes)
print(data[category].to_series().value_counts().sort_index())

# %%
# Fit
# ---
# A sparse code of the population vectors (35 or 48 units per 50 ms bin). Units that never fire in
# these windows are dropped first (they cannot be z-scored).
data = data.isel(neurons=(data.std(("time", "presentations")) > 0).values)
sae = nwb_sae.SAE(n_latents=32, k=2, epochs=3 if QUICK else 40, seed=0, progress=False).fit(data)
codes = sae.encode(data)
print(sae, "validation FVU", round(sae.metrics_["fvu"], 3))

# %%
# Per-category mean code
# ----------------------
# For each latent, its mean code after stimulus onset (0 to 1.5 s) in the presentations of each category,
# divided by its mean over all presentations. This is a description, not a test: a permutation test over
# presentation labels with false-discovery control comes with the ensemble statistics (see
# :doc:`/method`).
after_onset = codes.sel(time=slice(0.0, None)).mean("time")
# latents active in at least 5% of the bins (the rarer ones give noisy ratios)
used = np.flatnonzero((codes > 0).mean(("time", "presentations")).values >= 0.05)
by_category = after_onset.isel(latents=used).groupby(category).mean()
relative = by_category / after_onset.isel(latents=used).mean("presentations")
order = np.argsort(-relative.max(category).values)

fig, ax = plt.subplots(figsize=(8, 3.2), constrained_layout=True)
shown = ax.imshow(relative.values[order].T, aspect="auto", cmap="magma")
ax.set_xticks(range(len(used)), used[order], fontsize="small")
ax.set_yticks(range(relative.sizes[category]), relative[category].values)
ax.set_xlabel("latent (most category-selective first)")
ax.set_ylabel(category)
fig.colorbar(shown, ax=ax, label="mean code / overall mean")
ax.set_title(f"{path.name}: code after onset, by {category}")

# %%
# Time course of the most selective ensemble
# ------------------------------------------
# Its mean code around presentation onset per category (smoothed over 3 bins, 150 ms), and the units
# that make it up. A latent whose weight sits on one unit describes that neuron rather than an
# ensemble; on real recordings many do, which is why ensembles are to be reported only after the
# null-model test of :doc:`/method`.
best = int(used[order[0]])
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5), constrained_layout=True)
for value, group in codes.sel(latents=best).groupby(category):
    mean = group.mean("presentations").rolling(time=3, center=True, min_periods=1).mean()
    mean.plot(ax=left, label=f"{category} = {value}")
left.axvline(0.0, color="k", lw=0.5)
left.set_xlabel("time from presentation start (s)")
left.set_ylabel("mean code")
left.set_title(f"latent {best}")
left.legend(fontsize="small")
atom = sae.dictionary[best]
strongest = np.argsort(-np.abs(atom))[:10]
right.bar(range(len(strongest)), atom[strongest])
right.set_xticks(range(len(strongest)), data["neurons"].values[strongest], fontsize="small")
right.set_xlabel("unit id")
right.set_ylabel("weight (spikes per bin)")
right.set_title(f"the 10 strongest units of latent {best}")
plt.show()
