"""
Many sessions at once with nwb_sae.batch
========================================

A lab's dataset is tens of sessions. :func:`nwb_sae.batch` (``nwb-sae batch`` on the command line)
trains, encodes and writes back every session as a task on a Dask cluster (a local one here; any
Dask cluster by its scheduler address), writes ``summary.csv`` with one row per session, reports a
broken session without stopping the others, and skips finished sessions when run again.

The sessions here are synthetic spike-sorted recordings with planted cell assemblies, written as real
NWB files (a Units table and a trials table), plus one truncated file standing in for an interrupted
download. The same call takes a glob (``"sessions/*.nwb"``), a list of paths, or URLs.
"""

# %%
# Three sessions and a broken file
# --------------------------------
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
from distributed import LocalCluster

import nwb_sae

QUICK = os.environ.get("NWB_SAE_EXAMPLE_QUICK") == "1"
scratch = tempfile.TemporaryDirectory(prefix="nwb_sae_example_", ignore_cleanup_errors=True)
workdir = Path(scratch.name)  # removed when the example ends
sessions = workdir / "sessions"
sessions.mkdir()

for seed in range(3):
    rec = nwb_sae.synthetic.make_assemblies(n_neurons=30, n_assemblies=3, members=6, duration=60 if QUICK else 240,
                                            n_presentations=40, seed=seed)
    nwb_sae.synthetic.write_nwb_recording(sessions / f"mouse{seed}.nwb", rec, kind="units", seed=seed)
first = (sessions / "mouse0.nwb").read_bytes()
(sessions / "mouse9.nwb").write_bytes(first[: len(first) // 2])  # an interrupted copy
print(sorted(p.name for p in sessions.iterdir()))

# %%
# Run the batch
# -------------
# Each session is read aligned to its trials (25 ms bins of spike counts), fitted with the default
# settings (size and sparsity chosen from the data, every latent tested against circular shifts) and
# written to ``OUT/<session>/<session>_sae.nwb`` with its checkpoint, metrics and figures.
#
# ``workers=2`` starts a local cluster of two worker processes (from a script, do that under
# ``if __name__ == "__main__":``, as for any multiprocessing code). This page joins a cluster by its
# address instead, as one would join a cluster on a SLURM allocation (dask-jobqueue): here a local
# one whose workers are threads of this process.
cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                       dashboard_address=None)
settings = dict(n_latents=6, k=0.5, epochs=3) if QUICK else {}
trial = float(rec.data["time"].values[-1]) + 0.025
summary = nwb_sae.batch(str(sessions / "*.nwb"), workdir / "out", scheduler=cluster.scheduler_address,
                        presentations="trials", window=(0.0, trial), bin_size=0.025, figures=False,
                        progress=False, **settings)
print(summary[["session", "status", "neurons", "ensembles", "fvu", "seconds"]].to_string(index=False))
print(summary.loc[summary["status"] == "failed", "error"].iloc[0])

# %%
# Ensembles found per session
# ---------------------------
done = summary[summary["status"] == "done"]
fig, ax = plt.subplots(figsize=(4, 2.5))
ax.bar(done["session"], done["ensembles"], color="tab:blue")
ax.axhline(3, color="k", lw=0.8, ls="--", label="planted")
ax.set_ylabel("significant ensembles")
ax.legend(frameon=False)
fig.tight_layout()

# %%
# Run it again
# ------------
# Finished sessions are skipped (their results and settings are recorded in ``done.json``); the broken
# one is tried again and fails again.
again = nwb_sae.batch(str(sessions / "*.nwb"), workdir / "out", scheduler=cluster.scheduler_address,
                      presentations="trials", window=(0.0, trial), bin_size=0.025, figures=False,
                      progress=False, **settings)
print(again[["session", "status"]].to_string(index=False))
cluster.close()
