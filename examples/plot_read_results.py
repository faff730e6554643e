"""
Reading results back: nwb-sae, pynwb and pynapple
=================================================

:func:`nwb_sae.write_nwb` adds the codes and the dictionary to a copy of the recording as ordinary NWB
objects in the processing module ``sae``. This example writes such a file and reads it back three
ways: with :func:`nwb_sae.read_results` (labelled xarray objects), with pynwb (plain NWB objects) and
with pynapple, where the codes are a ``TsdFrame`` on the recording's time base, ready for
``nap.compute_tuning_curves``.

With ``NWB_SAE_CORPUS`` set, the recording is a head-direction session from the test corpus (15 units
of the anterodorsal thalamus; pynapple's neurosuite example) and the codes are tuned to the head
direction; otherwise a synthetic two-photon recording, tuned to its trials' ``condition``.
"""

# %%
# Fit and write
# -------------
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pynapple as nap
from pynwb import NWBHDF5IO

import nwb_sae

QUICK = os.environ.get("NWB_SAE_EXAMPLE_QUICK") == "1"
CORPUS = os.environ.get("NWB_SAE_CORPUS")
scratch = tempfile.TemporaryDirectory(prefix="nwb_sae_example_", ignore_cleanup_errors=True)
workdir = Path(scratch.name)  # removed when the example ends

if CORPUS:
    source = Path(CORPUS) / "ecephys" / "pynapple-neurosuite__A2929-200711.nwb"
    # no trials: consecutive 2 s windows of spike counts in 100 ms bins
    data = nwb_sae.read_nwb(source, activity="units", window=2.0, bin_size=0.1)
else:
    rec = nwb_sae.synthetic.make_recording(n_neurons=32, n_atoms=16, n_time=20, n_conditions=4,
                                           n_presentations=60 if QUICK else 240, seed=2)
    source = nwb_sae.synthetic.write_nwb_recording(workdir / "recording.nwb", rec, kind="ophys")
    t = rec.data["time"].values
    data = nwb_sae.read_nwb(source, presentations="trials", window=(t[0], t[-1] + 0.05))

sae = nwb_sae.SAE(n_latents=24, k=2, epochs=3 if QUICK else 30, seed=0, progress=False).fit(data)
out = nwb_sae.write_nwb(sae, source, workdir / "recording_sae.nwb")
print(out.name)

# %%
# 1. nwb_sae.read_results
# -----------------------
# Codes over the whole recording (lazy, dims ``time`` x ``latents``), the dictionary labelled by the
# source neuron ids, per-latent statistics and the provenance (settings, normalisation, metrics,
# versions).
with nwb_sae.read_results(out) as results:
    print(results.codes)
    print(results.latent_stats.to_dataframe().head())
    print(sorted(results.provenance))
    strongest = int(results.latent_stats["activation_frequency"].argmax("latents"))
    print(f"neurons of latent {strongest}:")
    print(results.dictionary.sel(latents=strongest).to_series().abs().nlargest(5))

# %%
# 2. pynwb
# --------
# The same objects as any NWB tool sees them: the codes are a ``TimeSeries``, the dictionary, the
# neurons and the provenance are ``DynamicTable`` objects.
with NWBHDF5IO(out, "r") as io:
    module = io.read().processing["sae"]
    print(module)
    series = module["codes"]
    print(series.data.shape, series.rate or "timestamps", series.starting_time)
    dictionary = module["dictionary"].to_dataframe()
    print(dictionary.drop(columns="weights").head())

# %%
# 3. pynapple
# -----------
# ``nap.load_file`` reads the codes as a ``TsdFrame`` (one column per latent) next to the recording's
# own objects.
session = nap.load_file(str(out))
codes = session["codes"]
print(codes.shape, codes.time_support)

if CORPUS:
    # head direction (radians) while the animal explores: the "wake" epoch
    feature = session["ry"]
    wake = session["epochs"][session["epochs"]["tags"] == "wake"]
    tuning = nap.compute_tuning_curves(codes, feature, bins=36, range=(0, 2 * np.pi), epochs=wake,
                                       feature_names=["head direction (rad)"])
else:
    # each code sample labelled by the condition of the trial it falls in
    trials = session["trials"]
    in_trials = codes.restrict(trials)
    trial_of_sample = np.searchsorted(trials.start, in_trials.t, side="right") - 1
    condition = np.asarray(trials["condition"], dtype=float)[trial_of_sample]
    feature = nap.Tsd(t=in_trials.t, d=condition)
    tuning = nap.compute_tuning_curves(in_trials, feature, bins=np.arange(-0.5, 4.5),
                                       feature_names=["trial condition"])
print(tuning.dims, tuning.shape)

# %%
# Tuning curves of the most active latents
# ----------------------------------------
used = np.argsort(-(np.asarray(codes.values) > 0).mean(axis=0))[:6]
session.close()  # the codes TsdFrame reads from the file: close it when done
fig, ax = plt.subplots(figsize=(7, 3.5), constrained_layout=True)
feature_name = tuning.dims[1]
for latent in used:
    ax.plot(tuning[feature_name].values, tuning.values[latent], marker="o", ms=3, label=f"latent {latent}")
ax.set_xlabel(feature_name)
ax.set_ylabel("mean code")
ax.legend(fontsize="small", ncols=2)
ax.set_title(f"{out.name}: codes tuned with pynapple")
plt.show()
