"""Planted cell assemblies seen through a calcium indicator: two-photon-like ROI traces with a known answer.

The recipe of Mölter, Avitan & Goodhill (2018, BMC Biol 16:143), extended to what real imaging adds:
Poisson spikes with assembly events (:func:`~nwb_sae.synthetic.assemblies.make_assemblies`, the spiking
ground truth) sampled at the frame rate; a double-exponential kernel per neuron whose decay spans the
indicators in use (0.25 s, GCaMP8f-like, to 1.8 s, GCaMP6s-like) and a short rise; a gain per neuron;
Gaussian noise in units of one spike's peak; a slow baseline drift (bleaching, neuropil, focus); and
optionally the indicator's saturation. The data carry ``attrs["signal"] = "fluorescence"`` as the
readers mark ROI traces, so the default fit deconvolves them (:mod:`nwb_sae.preprocess`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy.signal import lfilter

from nwb_sae.errors import InputDataError
from nwb_sae.synthetic.assemblies import AssemblyRecording, make_assemblies


@dataclass
class ImagingRecording(AssemblyRecording):
    """A calcium-imaging recording with planted assemblies (:func:`make_imaging`)."""

    spikes: xr.DataArray | None = None
    """The spike counts behind the traces, dims (neurons, time, presentations)."""
    decay_times: np.ndarray | None = None
    """Each neuron's decay time constant (s)."""
    gains: np.ndarray | None = None
    """Each neuron's peak fluorescence per spike."""
    noise_std: np.ndarray | None = None
    """Each neuron's noise standard deviation (fluorescence units)."""


def _kernel_peak(decay: np.ndarray, rise: float, dt: float) -> np.ndarray:
    """Largest value over frames of ``exp(-t/decay) - exp(-t/rise)`` for each decay (peak normaliser)."""
    t = np.arange(1, 64)[None, :] * dt
    return (np.exp(-t / decay[:, None]) - np.exp(-t / rise)).max(axis=1)


def _drift(n_neurons: int, n_frames: int, dt: float, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """Slow baseline drift: a few sinusoids with periods of 1-5 minutes and a bleaching-like slope."""
    t = np.arange(n_frames) * dt
    out = np.zeros((n_neurons, n_frames))
    for _ in range(3):
        period = rng.uniform(60.0, 300.0, size=(n_neurons, 1))
        phase = rng.uniform(0, 2 * np.pi, size=(n_neurons, 1))
        out += np.sin(2 * np.pi * t / period + phase) / 3
    out -= rng.uniform(0.0, 1.0, size=(n_neurons, 1)) * t / max(t[-1], dt)  # bleaching
    return amplitude * out


def make_imaging(n_neurons: int = 100, n_assemblies: int = 8, members: int = 10, frame_rate: float = 30.0,
                 duration: float = 600.0, decay_range: tuple[float, float] = (0.25, 1.8), rise_time: float = 0.05,
                 gain_range: tuple[float, float] = (0.5, 2.0), noise: float = 0.3, drift: float = 1.0,
                 saturation: float | None = None, n_presentations: int = 100, seed: int = 0,
                 **assembly_settings) -> ImagingRecording:
    """Simulate ROI fluorescence traces of neurons with planted assemblies.

    Parameters
    ----------
    n_neurons, n_assemblies, members
        As in :func:`~nwb_sae.synthetic.assemblies.make_assemblies` (the spikes behind the traces).
    frame_rate : float
        Frames per second (two-photon rigs: 2 to 30 Hz); the spikes are binned at the frame period.
    duration : float
        Seconds of recording, cut into ``n_presentations`` consecutive windows.
    decay_range : (float, float)
        Each neuron's decay time constant (s) is drawn uniformly from this range.
    rise_time : float
        Rise time constant (s) of the double-exponential kernel.
    gain_range : (float, float)
        Each neuron's peak fluorescence per spike is drawn uniformly from this range.
    noise : float
        Noise standard deviation in units of one spike's peak (0.1 clean to 1.0 very noisy).
    drift : float
        Amplitude of the slow baseline drift, in units of one spike's peak.
    saturation : float, optional
        Fluorescence ``F`` becomes ``F / (1 + F / saturation)`` (saturation in units of one spike's peak);
        None: linear.
    n_presentations : int
        Consecutive windows the recording is cut into.
    seed : int
        Seed of everything random.
    **assembly_settings
        Anything else :func:`~nwb_sae.synthetic.assemblies.make_assemblies` takes (``background_rate``,
        ``overlap``, ...). Here ``activation_rate`` defaults to 0.5 events per second (at 2 Hz frames, one
        assembly event in four frames) and ``n_selective`` to 0 (no stimulus-locked assembly).

    Returns
    -------
    ImagingRecording
        ``data``: the traces (neurons, time, presentations), ``attrs["signal"] = "fluorescence"``;
        ``assemblies`` / ``members`` / ``activations``: the planted answer; ``spikes``, ``decay_times``,
        ``gains``, ``noise_std``: what made the traces.

    Examples
    --------
    >>> rec = make_imaging(n_neurons=30, n_assemblies=3, frame_rate=7.5, duration=120, n_presentations=10)
    >>> rec.data.shape, rec.data.attrs["signal"], rec.assemblies.shape
    ((30, 90, 10), 'fluorescence', (3, 30))
    """
    if frame_rate <= 0 or duration <= 0 or noise < 0:
        raise InputDataError(f"frame_rate and duration must be positive and noise >= 0, got "
                             f"{frame_rate}, {duration}, {noise}.")
    dt = 1.0 / frame_rate
    assembly_settings = {"activation_rate": 0.5, "n_selective": 0, **assembly_settings}
    spiking = make_assemblies(n_neurons=n_neurons, n_assemblies=n_assemblies, members=members, bin_size=dt,
                              duration=duration, n_presentations=n_presentations, seed=seed, **assembly_settings)
    rng = np.random.default_rng([seed, 17])
    counts = spiking.data.values.astype(np.float64)
    n_t, n_p = counts.shape[1], counts.shape[2]
    flat = counts.transpose(0, 2, 1).reshape(n_neurons, -1)  # presentations end to end: one recording
    decay = rng.uniform(*decay_range, size=n_neurons)
    gain = rng.uniform(*gain_range, size=n_neurons)
    peak = _kernel_peak(decay, rise_time, dt)
    trace = np.empty_like(flat)
    for i in range(n_neurons):  # h[k] = exp(-k dt / decay) - exp(-k dt / rise): two first-order filters
        slow = lfilter([0.0, 1.0], [1.0, -np.exp(-dt / decay[i])], flat[i])
        fast = lfilter([0.0, 1.0], [1.0, -np.exp(-dt / rise_time)], flat[i])
        trace[i] = (slow - fast) / peak[i]
    if saturation is not None:
        trace = trace / (1.0 + trace / saturation)
    trace = trace + _drift(n_neurons, trace.shape[1], dt, drift, rng)
    trace = gain[:, None] * (trace + rng.normal(0.0, noise, size=trace.shape))
    values = trace.reshape(n_neurons, n_p, n_t).transpose(0, 2, 1).astype(np.float32)
    attrs = {**spiking.data.attrs, "source": "nwb_sae.synthetic.make_imaging", "kind": "imaging",
             "signal": "fluorescence", "frame_rate": float(frame_rate), "noise": float(noise)}
    data = spiking.data.copy(data=values)
    data.attrs = attrs
    spikes = spiking.data.copy()
    return ImagingRecording(data, spiking.assemblies, spiking.members, spiking.activations, spiking.selective,
                            spiking.background_rates, spikes=spikes, decay_times=decay, gains=gain,
                            noise_std=gain * noise)
