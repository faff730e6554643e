"""The fit's reason for every latent it does not report travels with the results: written to NWB, read back."""

from __future__ import annotations

import numpy as np

from nwb_sae import SAE, read_nwb, read_results, write_nwb
from nwb_sae.synthetic import make_recording, write_nwb_recording


def test_reason_column_is_written_and_read_back(tmp_path):
    rec = make_recording(n_neurons=24, n_atoms=8, n_time=20, n_presentations=80, seed=2)
    source = write_nwb_recording(tmp_path / "r.nwb", rec, kind="ophys")
    t = rec.data["time"].values
    x = read_nwb(source, presentations="trials", window=(t[0], t[-1] + 0.05))
    sae = SAE(n_latents=24, activation="topk", k=2, epochs=2, seed=0, progress=False).fit(x)
    table = sae.latent_table_
    assert ((table["reason"] == "") == table["significant"]).all()
    written = read_results(write_nwb(sae, source, tmp_path / "o.nwb")).latent_table
    np.testing.assert_array_equal(written["reason"].to_numpy(dtype=str), table["reason"].to_numpy(dtype=str))
    # one seed: the "not replicated" and "composite" rules do not apply to a topk fit
    assert set(written["reason"]) <= {"", "not significant", "never active", "one neuron"}
