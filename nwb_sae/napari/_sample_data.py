"""Sample data: a small synthetic 2-photon recording with planted ensembles, encoded by a small SAE.

The file is made once per machine (a few seconds: simulate, write NWB, train, write the results) and
kept in the temporary folder, so later openings are instant.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

SAMPLE_NAME = "nwb_sae_planted_ensembles"
SAMPLE_SIZE = {"n_neurons": 24, "n_atoms": 16, "n_presentations": 80, "n_time": 20, "n_latents": 48, "epochs": 6}
"""Size of the sample (small enough to simulate, train and write in seconds on a laptop CPU)."""


def make_sample_file(folder=None, *, n_neurons: int = 24, n_atoms: int = 16, n_presentations: int = 80,
                     n_time: int = 20, n_latents: int = 48, epochs: int = 6, kind: str = "ophys",
                     seed: int = 0, overwrite: bool = False) -> Path:
    """Write (or reuse) a synthetic NWB recording with nwb-sae results in processing/sae.

    Parameters
    ----------
    folder : str or Path, optional
        Where to write; a folder in the system's temporary directory by default.
    n_neurons, n_atoms, n_presentations, n_time : int
        Size of the simulated recording (see :func:`nwb_sae.synthetic.make_recording`).
    n_latents, epochs : int
        Size and training length of the SAE.
    kind : {'ophys', 'units'}
        Imaging (ROI masks in a PlaneSegmentation) or spike trains (Units).
    seed : int
    overwrite : bool
        Make the file again even if it exists.

    Returns
    -------
    Path
        The NWB file with the results (the recording without results lies beside it).
    """
    from nwb_sae import SAE, read_nwb, write_nwb
    from nwb_sae.synthetic import make_recording, write_nwb_recording

    folder = Path(folder) if folder is not None else Path(tempfile.gettempdir()) / SAMPLE_NAME
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{kind}_{n_neurons}n_{n_presentations}p_{n_latents}l_s{seed}"
    out = folder / f"{stem}_sae.nwb"
    if out.exists() and not overwrite:
        return out
    rec = make_recording(n_neurons=n_neurons, n_atoms=n_atoms, n_time=n_time, n_presentations=n_presentations,
                         seed=seed)
    source = folder / f"{stem}.nwb"
    write_nwb_recording(source, rec, kind=kind)
    data = read_nwb(source, presentations="trials", window=_window(rec))
    # planted activity written as dF/F without a calcium kernel: nothing for the front end to undo
    sae = SAE(n_latents=n_latents, k=4, epochs=epochs, batch_size=128, progress=False, seed=seed,
              preprocess="none").fit(data)
    return write_nwb(sae, source, out, overwrite=True)  # atomic: another process sees the whole file or none


def _window(rec) -> tuple[float, float]:
    t = rec.data["time"].values
    dt = float(t[1] - t[0]) if t.size > 1 else float(rec.data.attrs.get("bin_size", 0.05))
    return (float(t[0]), float(t[0] + t.size * dt))


def make_sample_data() -> list[tuple]:
    """npe2 sample-data command: the layers of the sample file (activity, codes, ROI weights)."""
    from nwb_sae.napari._reader import read_nwb_layers

    return read_nwb_layers(make_sample_file())
