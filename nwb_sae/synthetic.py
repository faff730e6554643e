"""Ground-truth recordings: planted neuron ensembles with sparse, trial-structured activity.

The data are ``x[:, t, p] = sum_i a_i(t, p) * d_i + noise`` where each atom ``d_i`` is a unit-norm,
non-negative pattern over a small set of member neurons (an ensemble), and the activations ``a_i`` are
sparse and non-negative: a few ensembles are active in each time bin, preferably those tuned to the
presentation's condition, with a bump in time after stimulus onset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from nwb_sae.io.arrays import ACTIVITY_DIMS


@dataclass
class SyntheticRecording:
    """A recording with a known answer."""

    data: xr.DataArray
    """Activity, dims (neurons, time, presentations); presentations carry a ``condition`` coordinate."""
    dictionary: np.ndarray
    """The planted atoms, shaped (atoms, neurons), unit-norm rows."""
    codes: xr.DataArray
    """The planted activations, dims (latents, time, presentations)."""
    noise_std: float
    """Standard deviation of the added Gaussian noise."""


def make_ensembles(n_neurons: int, n_atoms: int, members: int, rng: np.random.Generator) -> np.ndarray:
    """Random non-negative unit-norm atoms, each over ``members`` randomly chosen neurons."""
    atoms = np.zeros((n_atoms, n_neurons))
    for i in range(n_atoms):
        idx = rng.choice(n_neurons, size=members, replace=False)
        atoms[i, idx] = np.abs(rng.normal(1.0, 0.3, size=members)) + 0.1
    return atoms / np.linalg.norm(atoms, axis=1, keepdims=True)


def make_recording(
    n_neurons: int = 64,
    n_atoms: int = 256,
    n_time: int = 50,
    n_presentations: int = 400,
    active: tuple[int, int] = (3, 8),
    snr_db: float = 10.0,
    members: int | None = None,
    n_conditions: int = 8,
    bin_size: float = 0.05,
    seed: int = 0,
) -> SyntheticRecording:
    """Simulate a trial-structured recording with planted ensembles.

    Parameters
    ----------
    n_neurons, n_atoms : int
        Size of the population and number of planted ensembles.
    n_time, n_presentations : int
        Time bins per presentation and number of presentations (trials).
    active : (int, int)
        Inclusive range of the number of ensembles active in each time bin.
    snr_db : float
        Signal-to-noise ratio in decibels (signal power over noise power, per element).
    members : int, optional
        Neurons per ensemble (default ``max(4, n_neurons // 8)``).
    n_conditions : int
        Number of stimulus conditions; each prefers its own subset of ensembles.
    bin_size : float
        Seconds per time bin; time runs from ``-0.2 * n_time * bin_size`` (pre-stimulus baseline).
    seed : int
        Seed of everything random.

    Returns
    -------
    SyntheticRecording

    Examples
    --------
    >>> rec = make_recording(n_neurons=16, n_atoms=32, n_time=10, n_presentations=20)
    >>> rec.data.dims, rec.dictionary.shape
    (('neurons', 'time', 'presentations'), (32, 16))
    """
    rng = np.random.default_rng(seed)
    members = members or max(4, n_neurons // 8)
    dictionary = make_ensembles(n_neurons, n_atoms, members, rng)

    condition = rng.integers(0, n_conditions, size=n_presentations)
    preferred = np.stack([rng.choice(n_atoms, size=max(1, n_atoms // n_conditions), replace=False)
                          for _ in range(n_conditions)])
    onset = int(0.2 * n_time)
    time = (np.arange(n_time) - onset) * bin_size
    # After onset, half the probability mass of choosing an ensemble goes to the condition's preferred ones.
    gain = np.where(np.arange(n_time) >= onset, 1.0, 0.0)

    n_samples = n_time * n_presentations
    n_active = rng.integers(active[0], active[1] + 1, size=n_samples)
    cond_of_sample = np.repeat(condition[None, :], n_time, axis=0).ravel()
    gain_of_sample = np.repeat(gain[:, None], n_presentations, axis=1).ravel()
    codes = np.zeros((n_samples, n_atoms), dtype=np.float32)
    chunk = 20000
    for start in range(0, n_samples, chunk):
        stop = min(start + chunk, n_samples)
        m = stop - start
        logits = np.zeros((m, n_atoms))
        boost = np.zeros((m, n_atoms))
        np.put_along_axis(boost, preferred[cond_of_sample[start:stop]], 1.0, axis=1)
        logits += np.log1p(boost * 3.0 * gain_of_sample[start:stop, None])
        keys = logits + rng.gumbel(size=(m, n_atoms))  # Gumbel top-k: weighted sampling without replacement
        order = np.argsort(-keys, axis=1)[:, : active[1]]
        amplitude = rng.uniform(0.5, 1.5, size=(m, active[1]))
        amplitude[np.arange(active[1])[None, :] >= n_active[start:stop, None]] = 0.0
        np.put_along_axis(codes[start:stop], order, amplitude.astype(np.float32), axis=1)

    signal = codes @ dictionary.astype(np.float32)
    noise_std = float(np.sqrt(np.mean(signal**2) / 10 ** (snr_db / 10)))
    x = signal + rng.normal(0.0, noise_std, size=signal.shape).astype(np.float32)

    # samples were laid out (time, presentations); arrays are (neurons, time, presentations)
    x = x.reshape(n_time, n_presentations, n_neurons).transpose(2, 0, 1)
    codes = codes.reshape(n_time, n_presentations, n_atoms).transpose(2, 0, 1)
    coords = {
        "neurons": np.arange(n_neurons),
        "time": time,
        "presentations": np.arange(n_presentations),
        "condition": ("presentations", condition),
    }
    data = xr.DataArray(x.astype(np.float32), dims=ACTIVITY_DIMS, coords=coords, name="activity",
                        attrs={"source": "nwb_sae.synthetic", "bin_size": bin_size, "snr_db": snr_db,
                               "seed": seed})
    code_coords = dict(coords, latents=np.arange(n_atoms))
    del code_coords["neurons"]
    codes_da = xr.DataArray(codes, dims=("latents", "time", "presentations"), coords=code_coords,
                            name="true_codes")
    return SyntheticRecording(data, dictionary, codes_da, noise_std)
