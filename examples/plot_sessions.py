"""
Ensembles across sessions: the same ensemble tracked over days
==============================================================

Experiments are days of sessions, and the question is "is ensemble 12 of Monday ensemble 7 of
Friday; did it drift; did new ensembles appear with learning?". Each session is fitted on its own
(as :func:`nwb_sae.batch` does); :func:`nwb_sae.track_ensembles` links the ensembles through a
**neuron registry** (which local neuron of which session is which global neuron), with a null that
permutes the global ids, and gives each track a status: persistent, drifting, new or vanished.

The sessions here are synthetic: one pool of neurons recorded over five days, each day observing a
random 60-80% of it under its own unit ids, with planted assemblies that stay, drift, are born on day
3 or die after day 2. They are written as real NWB files whose Units table carries a ``global_id``
column, the registry a registration tool (CellReg, ROICaT, UnitMatch) would give.
"""

# %%
# Five sessions written as NWB files
# ----------------------------------
import os
import tempfile
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import nwb_sae
from nwb_sae.sessions import project_template
from nwb_sae.synthetic import make_sessions, write_sessions_nwb

QUICK = os.environ.get("NWB_SAE_EXAMPLE_QUICK") == "1"
scratch = tempfile.TemporaryDirectory(prefix="nwb_sae_example_", ignore_cleanup_errors=True)
workdir = Path(scratch.name)  # removed when the example ends

truth = make_sessions(n_pool=100 if QUICK else 200, members=12,
                      kinds={"stable": 2, "drifting": 1, "born": 1, "dying": 1},
                      duration=60 if QUICK else 180, n_presentations=12 if QUICK else 36, seed=7)
paths = write_sessions_nwb(truth, workdir / "sessions")
print([p.name for p in paths])
print(truth.assemblies.assign(planted_in=[np.flatnonzero(r > 0).tolist() for r in truth.rates]))

# %%
# The registry, from the files' global-id column
# ----------------------------------------------
# Local ids are whatever each session's spike sorter called its units; the registry maps them to global
# ids, and its hash pins the version (registrations change when they are re-run).
registry = nwb_sae.Registry.from_nwb_column(paths, column="global_id")
print(registry)
print(registry.to_frame().head())
print("neurons registered on both day 0 and day 4:", len(registry.shared("s0", "s4")))

# %%
# One fit per session
# -------------------
data = {}
for path in paths:
    trial = float(truth.data[path.stem]["time"].values[-1]) + 0.025
    data[path.stem] = nwb_sae.read_nwb(path, presentations="trials", window=(0.0, trial), bin_size=0.025)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    fits = {name: nwb_sae.SAE(progress=False).fit(arr) for name, arr in data.items()}
print({name: int(fit.significant_.sum()) for name, fit in fits.items()}, "ensembles per session")

# %%
# Tracks
# ------
# Every pair of sessions is matched on the neurons both registered; a link needs a q-value below 0.05
# under the permuted-id null. The ceiling (how similar a session's ensembles are across the fit's own
# seeds) is reported beside the cross-session cosines, so fit noise is not read as drift.
tracks = nwb_sae.track_ensembles(fits, registry=registry)
print(tracks["latent"].to_pandas())
print(tracks["status"].to_pandas().value_counts())
print(f"ceiling (seed stability): {tracks.attrs['ceiling']:.2f}")
nwb_sae.viz.plot_tracks(tracks)

# %%
# A template followed over the days
# ---------------------------------
# The ensemble that is born on day 3 (``s2``), projected on every day's activity: its activation
# strength (Lopes-dos-Santos 2013) is near zero before it exists.
new = [t for t in range(tracks.sizes["track"]) if tracks["status"].values[t] == "new"]
if new:
    t = new[0]
    first = str(tracks["session"].values[np.flatnonzero(tracks["latent"].values[t] >= 0)[0]])
    latent = int(tracks["latent"].sel(session=first).values[t])
    strength = [float(project_template(fits[first], first, latent, data[s], s, registry).mean())
                for s in data]
    fig, ax = plt.subplots(figsize=(4, 2.5))
    ax.bar(list(data), strength, color="tab:green")
    ax.set_ylabel("mean activation strength")
    ax.set_title(f"template of {first} latent {latent}")
    fig.tight_layout()

# %%
# Written where users look
# ------------------------
# ``nwb-sae track --results OUT --registry registry.csv --output_dir tracked`` does the same after
# ``nwb-sae batch``; each session's results module then holds ``tracks``, ``registry`` and ``sessions``
# tables, which :func:`nwb_sae.read_results` returns.
print("nwb-sae track --results OUT --registry_column global_id --output_dir tracked")
