"""
pynapple objects in and out
===========================

pynapple users hold a session as a ``TsGroup`` of spike trains and ``IntervalSet`` s of trials.
:func:`nwb_sae.from_pynapple` turns them into the ``(neurons, time, presentations)`` array nwb-sae
trains on -- exactly the array :func:`nwb_sae.read_nwb` gives for the NWB file they came from (the same
window rule, the same spike binning, the trials' columns as presentation coordinates) -- and
:func:`nwb_sae.to_pynapple` turns the codes back into a ``TsdFrame`` on the session's time base, where
pynapple's own tools (``restrict``, ``compute_tuning_curves``, ``compute_perievent``) apply.

With ``NWB_SAE_CORPUS`` set, the session is the Rutishauser human MTL recording of the test corpus
(35 units; movie clips of three categories in ``encoding_table``); otherwise a synthetic session with
planted assemblies, some of them locked to one of three stimuli.
"""

# %%
# A session as pynapple objects
# -----------------------------
import os
import tempfile
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pynapple as nap

import nwb_sae

QUICK = os.environ.get("NWB_SAE_EXAMPLE_QUICK") == "1"
CORPUS = os.environ.get("NWB_SAE_CORPUS")
scratch = tempfile.TemporaryDirectory(prefix="nwb_sae_example_", ignore_cleanup_errors=True)

if CORPUS:
    path = Path(CORPUS) / "ecephys" / "rutishauser-cb__sub-4_ses-4_ecephys+image.nwb"
    table, label, window = "encoding_table", "stimCategory", (-0.5, 1.5)
else:
    rec = nwb_sae.synthetic.make_assemblies(n_neurons=40, n_assemblies=6, members=6, n_stimuli=3,
                                            n_selective=3, duration=120.0 if QUICK else 600.0,
                                            n_presentations=60 if QUICK else 300, seed=1)
    path = nwb_sae.synthetic.write_nwb_recording(Path(scratch.name) / "session.nwb", rec, kind="units")
    table, label, window = "trials", "stimulus", (0.0, 2.0)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pynwb's remarks about objects of the file this example does not use
    session = nap.load_file(str(path))
units, trials = session["units"], session[table]
print(units)
print(trials[:5])

# %%
# Into nwb-sae
# ------------
# Spike counts in 50 ms bins in a window around each trial's start; the trials' metadata (here the
# stimulus of each trial) become presentation coordinates.
data = nwb_sae.from_pynapple(units, presentations=trials, window=window, bin_size=0.05)
print(data)

# the very array read_nwb gives for the file
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    same = nwb_sae.read_nwb(path, activity="units", presentations=table, window=window, bin_size=0.05)
print("equal to read_nwb:", bool((same.values == data.values).all()))

# %%
# Fit, and codes back into pynapple
# ---------------------------------
# ``SAE.fit`` and ``encode`` also take a ``TsGroup`` directly (then cut into consecutive windows); here
# the trial-aligned array. ``to_pynapple`` places each window of codes at its own times in the session:
# a ``TsdFrame`` with one column per latent, whose ``time_support`` holds one interval per trial with
# the trials' metadata.
sae = nwb_sae.SAE(n_latents=64, k=3, epochs=5 if QUICK else 40, seed=0, progress=False).fit(data)
codes = nwb_sae.to_pynapple(sae.encode(data))
print(codes.shape)
print(codes.time_support[:3])

# %%
# Tuning of the codes to the stimulus, with pynapple
# --------------------------------------------------
# A ``Tsd`` of the stimulus shown at each code sample (from the interval each sample falls in), and
# ``nap.compute_tuning_curves``: the mean code of each latent per stimulus.
support = codes.time_support
stimuli, stimulus_index = np.unique(np.asarray(support[label]).astype(str), return_inverse=True)
feature = nap.Tsd(t=codes.t, d=stimulus_index[support.in_interval(codes).astype(int)].astype(float))
tuning = nap.compute_tuning_curves(codes, feature, bins=np.arange(len(stimuli) + 1) - 0.5,
                                   feature_names=["stimulus"])
print(tuning.dims, tuning.shape)

active = np.flatnonzero((np.asarray(codes.values) > 0).mean(axis=0) >= 0.02)
spread = tuning.values[active].max(axis=1) - tuning.values[active].min(axis=1)
shown = active[np.argsort(-spread)[:6]]
fig, ax = plt.subplots(figsize=(7, 3.5), constrained_layout=True)
for latent in shown:
    ax.plot(stimuli, tuning.values[latent], marker="o", label=f"latent {latent}")
ax.set_xlabel(label)
ax.set_ylabel("mean code")
ax.legend(fontsize="small", ncols=2)
ax.set_title("the most stimulus-dependent latents (active in >= 2% of bins)")
plt.show()

# %%
# Codes around the trial onset
# ----------------------------
# ``relative=True`` gives the codes as ``nap.compute_perievent`` gives aligned data: a ``TsdTensor``
# (time relative to the event, trials, latents).
aligned = nwb_sae.to_pynapple(sae.encode(data), relative=True)
print(type(aligned).__name__, aligned.shape)
fig, ax = plt.subplots(figsize=(7, 3), constrained_layout=True)
for latent in shown[:3]:
    for s, stimulus in enumerate(stimuli):
        mean = np.asarray(aligned.values)[:, stimulus_index == s, latent].mean(axis=1)
        ax.plot(aligned.t, mean, color=f"C{list(shown).index(latent)}", alpha=0.4 + 0.3 * s,
                label=f"latent {latent}, {stimulus}")
ax.axvline(0, color="k", lw=0.5)
ax.set_xlabel("time from trial start (s)")
ax.set_ylabel("mean code")
ax.legend(fontsize="x-small", ncols=3)
plt.show()
session.close()
