"""The deconvolution of a block of continuous traces (neurons, time): baseline, noise, decay, spikes.

Arrays in, arrays out, no labels: :mod:`nwb_sae.preprocess.frontend` decides what is continuous and
calls these on each continuous run of the recording. Fitting estimates each neuron's noise and decay
(:func:`fit_parameters`); the same parameters are then applied to any run of the same neurons
(:func:`deconvolve_block`), which is also what ``encode`` does with a fitted model's parameters.
"""

from __future__ import annotations

import numpy as np

from nwb_sae.preprocess.baseline import BASELINE_WINDOW, maximin_baseline, noise_level
from nwb_sae.preprocess.decay import ar_coefficient, estimate_decay
from nwb_sae.preprocess.deconvolve import deconvolve_ar1

NOISE_FLOOR = 1e-12
"""A neuron without noise (a constant trace) is divided by 1 instead of 0."""


def remove_baseline(runs: list[np.ndarray], frame_rate: float, window: float = BASELINE_WINDOW) -> list[np.ndarray]:
    """Each continuous run (neurons, time) minus its own running baseline."""
    return [run - maximin_baseline(run, frame_rate, window) for run in runs]


def fit_parameters(runs: list[np.ndarray], frame_rate: float, decay_time=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-neuron noise, decay time and whether the decay came from the neuron's own trace.

    Parameters
    ----------
    runs : list of numpy.ndarray
        Continuous runs (neurons, time) of the same neurons, baseline removed.
    frame_rate : float
        Frames per second.
    decay_time : float or array, optional
        Decay time(s) in seconds; None estimates each neuron's (:func:`~nwb_sae.preprocess.decay.estimate_decay`).

    Returns
    -------
    noise, decay, own : numpy.ndarray
        (neurons,) each: noise standard deviation, decay time (s), and (estimates only) whether
        the neuron's own trace gave it.
    """
    joined = np.concatenate(runs, axis=-1)
    noise = noise_level(joined)
    if decay_time is not None:
        decay = np.broadcast_to(np.asarray(decay_time, dtype=np.float64), noise.shape).copy()
        return noise, decay, np.zeros(len(noise), dtype=bool)
    decay, own = estimate_decay(joined, frame_rate)
    return noise, decay, own


def deconvolve_block(run: np.ndarray, g: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Spikes of each baseline-free trace of ``run`` (neurons, time), in units of its noise (float32).

    Examples
    --------
    >>> run = np.array([[0.0, 2.0, 1.0, 0.5, 0.25]])
    >>> deconvolve_block(run, np.array([0.5]), np.array([2.0])).tolist()
    [[0.0, 1.0, 0.0, 0.0, 0.0]]
    """
    out = np.empty(run.shape, dtype=np.float32)
    for i in range(run.shape[0]):
        out[i] = deconvolve_ar1(run[i], float(g[i]))[1] / max(float(noise[i]), NOISE_FLOOR)
    return out


def deconvolve_runs(runs: list[np.ndarray], frame_rate: float, decay_time=None, noise=None,
                    window: float = BASELINE_WINDOW) -> tuple[list[np.ndarray], dict]:
    """The whole pipeline on continuous runs of the same neurons: spikes in noise units, and the parameters.

    Parameters
    ----------
    runs : list of numpy.ndarray
        Continuous runs (neurons, time), raw fluorescence or dF/F.
    frame_rate : float
        Frames per second.
    decay_time : float or array, optional
        Seconds, per neuron or for all; None estimates it.
    noise : array, optional
        Per-neuron noise to divide by (a fitted model's); None estimates it.
    window : float
        Seconds of the running baseline.

    Returns
    -------
    spikes : list of numpy.ndarray
        float32, the shapes of ``runs``.
    parameters : dict
        ``noise``, ``decay_time``, ``ar_coefficients`` and ``own_decay`` (numpy arrays over neurons).
    """
    flat = remove_baseline([np.asarray(r, dtype=np.float64) for r in runs], frame_rate, window)
    est_noise, decay, own = fit_parameters(flat, frame_rate, decay_time)
    noise = est_noise if noise is None else np.asarray(noise, dtype=np.float64)
    g = ar_coefficient(decay, frame_rate)
    spikes = [deconvolve_block(run, g, noise) for run in flat]
    return spikes, {"noise": noise, "decay_time": decay, "ar_coefficients": g, "own_decay": own}
