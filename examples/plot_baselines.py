"""
nwb-sae vs PCA/ICA assemblies vs NMF on planted assemblies
==========================================================

Cell assemblies -- groups of neurons that fire together -- are classically found with PCA/ICA
(Lopes-dos-Santos et al. 2013): the number of assemblies is the number of principal components above
the Marchenko-Pastur bound, and ICA turns those components into assembly patterns. NMF gives
non-negative patterns. The sparse autoencoder of nwb-sae learns an overcomplete dictionary instead,
so it can report more ensembles than neurons and ensembles that share neurons.

This example plants assemblies in Poisson spike counts (:func:`nwb_sae.synthetic.make_assemblies`),
fits the three methods with their defaults on the same recording, and scores the patterns each one
*reports* against the planted ones with :mod:`nwb_sae.metrics`: the Hungarian-matched mean cosine,
the fraction of planted assemblies found (cosine above 0.9), the precision of what is reported and
the BestMatch score of the member sets. The same comparison over a family of recordings is
``python benchmarks/assemblies.py``.
"""

# %%
# A recording with planted assemblies
# -----------------------------------
# 60 neurons, 8 assemblies of 8 neurons; pairs of assemblies share about one neuron. Each assembly
# fires about once a second, adding a spike to each of its members in that 25 ms bin, on top of the
# neurons' own background firing (1 to 5 Hz).
import os
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np

import nwb_sae
from nwb_sae import metrics

QUICK = os.environ.get("NWB_SAE_EXAMPLE_QUICK") == "1"

rec = nwb_sae.synthetic.make_assemblies(n_neurons=60, n_assemblies=8, members=8, overlap=1.0,
                                        duration=90.0 if QUICK else 300.0, n_presentations=60, seed=3)
data = rec.data
print(dict(data.sizes), f"mean overlap {rec.mean_overlap:.2f} neurons per pair")

order = np.argsort(np.argmax(rec.assemblies, axis=0) + 100 * (rec.assemblies.max(axis=0) == 0))
fig, ax = plt.subplots(figsize=(7, 3), constrained_layout=True)
ax.imshow(data.isel(presentations=0).values[order], aspect="auto", cmap="Greys", interpolation="nearest",
          extent=(float(data.time[0]), float(data.time[-1]), len(order), 0))
ax.set_xlabel("time in presentation 0 (s)")
ax.set_ylabel("neuron (grouped by assembly)")
ax.set_title("spike counts: the assemblies fire as vertical stripes")
plt.show()

# %%
# Fit the three methods
# ---------------------
# Each with its defaults (the SAE smaller and shorter in the quick run). The SAE reports the latents
# that passed its significance test when it marks them (``significant_``); otherwise every latent that
# fires on the data. PCA/ICA and NMF report every component: their count already is a null test (the
# Marchenko-Pastur bound).
sae_settings = dict(n_latents=128, epochs=10) if QUICK else {}
methods = {
    "nwb-sae": nwb_sae.SAE(progress=False, **sae_settings),
    "PCA/ICA": nwb_sae.ICAAssemblies(),
    "NMF": nwb_sae.NMFEnsembles(clip_negative=True),
}


def reported(model) -> np.ndarray:
    """The patterns a method shows: its significant latents if it marks them, else those that fire."""
    atoms = np.asarray(model.dictionary)
    significant = getattr(model, "significant_", None)
    if significant is None:
        keep = np.asarray(model.encode(data).values != 0).any(axis=(1, 2))
    else:
        keep = np.asarray(significant, dtype=bool)
    return atoms[keep]


scores, patterns = {}, {}
for name, model in methods.items():
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FastICA / NMF convergence chatter: the scores tell the story
        model.fit(data)
    patterns[name] = reported(model)
    scores[name] = {**metrics.assembly_report(patterns[name], rec.assemblies),
                    "seconds": time.perf_counter() - start}

# %%
# Scores
# ------
# ``found_0.9``: planted assemblies recovered (cosine > 0.9); ``precision``: how planted the reported
# patterns are; ``best_match``: Jaccard index of the member sets; ``n_reported`` against the 8 planted.
table = getattr(methods["nwb-sae"], "latent_table_", None)
if table is not None:
    print("the SAE's latent table (first rows):")
    print(table.head())
print(f"{'method':<10}" + "".join(f"{k:>22}" for k in next(iter(scores.values()))))
for name, row in scores.items():
    print(f"{name:<10}" + "".join(f"{v:>22.3g}" for v in row.values()))

# %%
# Planted vs found, pattern by pattern
# ------------------------------------
# Each planted assembly (column) next to the reported pattern matched to it one-to-one (Hungarian
# matching on the absolute cosine); the title gives the matched cosines' mean.
fig, axes = plt.subplots(1, len(patterns) + 1, figsize=(10, 4), sharey=True, constrained_layout=True)
axes[0].imshow(rec.assemblies.T[order], aspect="auto", cmap="viridis")
axes[0].set_title("planted")
axes[0].set_ylabel("neuron (grouped by assembly)")
for ax, (name, found) in zip(axes[1:], patterns.items(), strict=True):
    shown = np.zeros_like(rec.assemblies)
    if len(found):
        found = metrics.orient(found)  # the sign of an ICA pattern is arbitrary
        match = metrics.match_dictionaries(found, rec.assemblies)
        shown[match.true_index] = found[match.learned_index]
    ax.imshow(shown.T[order], aspect="auto", cmap="viridis")
    ax.set_title(f"{name}\nmatched cosine {scores[name]['hungarian_mean_cosine']:.2f}")
    ax.set_xlabel("assembly")
axes[0].set_xlabel("assembly")
plt.show()
