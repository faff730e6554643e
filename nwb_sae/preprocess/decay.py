"""The decay time of the calcium indicator, and the AR(1) coefficient it gives at the frame rate.

Deconvolution needs each neuron's decay. In order of trust: the user's value; the indicator the file
names (a GCaMP variant: suite2p's recommended time constants); or an estimate from the trace itself.
The estimate uses the autocovariance at lags of one frame and more, where white noise does not
reach: for calcium ``c`` driven by uncorrelated spikes and decaying as ``g**k``, it falls as ``g**k``,
so a straight-line fit of its logarithm over the lags until it has fallen to 30 % of lag one gives the
decay. Slow drift left by the baseline would lengthen it, so the trace is first high-passed at
:data:`DRIFT_SECONDS`. A neuron whose autocovariance is lost in noise (silent, or too short a recording)
gets the median decay of the others.
"""

from __future__ import annotations

import re

import numpy as np
from scipy.ndimage import uniform_filter1d

INDICATOR_DECAY = {"gcamp6f": 0.7, "gcamp6m": 1.0, "gcamp6s": 1.5}
"""Decay time constants (s) by indicator: suite2p's recommended ``tau`` for the GCaMP6 family. Other
indicators (and the jGCaMP7/8 variants, whose decays vary with the preparation) are estimated."""
DECAY_RANGE = (0.05, 5.0)
"""Seconds an estimated decay is clipped to."""
DEFAULT_DECAY = 1.0
"""Seconds used when no neuron's decay can be estimated (suite2p's default ``tau``)."""
DRIFT_SECONDS = 60.0
"""Width (s) of the running mean (applied twice) whose output, the slow component, is removed before
estimating the decay."""
MAX_LAG_SECONDS = 6.0
"""Longest lag (s) of the autocovariance the estimate looks at."""


def ar_coefficient(decay_time, frame_rate: float) -> np.ndarray:
    """``exp(-1 / (decay_time * frame_rate))``: the AR(1) coefficient of an exponential decay per frame.

    Examples
    --------
    >>> float(ar_coefficient(1.0, 10.0).round(4))
    0.9048
    """
    return np.exp(-1.0 / (np.asarray(decay_time, dtype=np.float64) * float(frame_rate)))


def indicator_decay(indicator: str) -> float | None:
    """The decay time (s) of a named indicator (``"GCaMP6s"``, ``"AAV-GCaMP6f"``, ...), or None if unknown.

    Examples
    --------
    >>> indicator_decay("AAV1.Syn.GCaMP6s.WPRE"), indicator_decay("OGB-1")
    (1.5, None)
    """
    name = re.sub(r"[^a-z0-9]", "", str(indicator or "").lower())
    for key, value in INDICATOR_DECAY.items():
        if key in name:
            return value
    return None


def _autocovariance(traces: np.ndarray, max_lag: int) -> np.ndarray:
    """(neurons, max_lag + 1) autocovariance of each centred row, by FFT."""
    n = traces.shape[-1]
    size = 1 << int(np.ceil(np.log2(n + max_lag)))  # no wrap-around up to max_lag
    spectrum = np.fft.rfft(traces, size, axis=-1)
    return np.fft.irfft(np.abs(spectrum) ** 2, size, axis=-1)[:, : max_lag + 1] / n


def estimate_decay(traces: np.ndarray, frame_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Each trace's decay time (s) from its autocovariance, and whether it was estimated from the trace.

    Parameters
    ----------
    traces : numpy.ndarray
        (neurons, time), baseline removed.
    frame_rate : float
        Frames per second.

    Returns
    -------
    decay : numpy.ndarray
        (neurons,) seconds; neurons whose own estimate is unreliable get the median of the others
        (:data:`DEFAULT_DECAY` when none is reliable).
    reliable : numpy.ndarray
        (neurons,) bool: the decay came from the neuron's own trace.

    Examples
    --------
    >>> from scipy.signal import lfilter
    >>> rng = np.random.default_rng(0)
    >>> spikes = rng.poisson(0.05, size=(3, 30000)).astype(float)
    >>> calcium = lfilter([1.0], [1.0, -np.exp(-1 / (0.8 * 30))], spikes, axis=1)
    >>> decay, ok = estimate_decay(calcium + rng.normal(0, 0.2, calcium.shape), 30.0)
    >>> bool(np.all(np.abs(decay - 0.8) < 0.2)), bool(ok.all())
    (True, True)
    """
    x = np.asarray(traces, dtype=np.float64)
    n_neurons, n = x.shape
    width = int(max(1, min(DRIFT_SECONDS * frame_rate, n)))  # a running mean, twice: a cheap smooth low-pass
    x = x - uniform_filter1d(uniform_filter1d(x, width, axis=-1, mode="nearest"), width, axis=-1, mode="nearest")
    x = x - x.mean(axis=-1, keepdims=True)
    max_lag = int(max(3, min(MAX_LAG_SECONDS * frame_rate, n // 4)))
    acov = _autocovariance(x, max_lag)
    decay = np.full(n_neurons, np.nan)
    # lag-1 covariance clearly above its sampling error (about var / sqrt(n)) and decaying
    reliable = (acov[:, 1] > 4 * acov[:, 0] / np.sqrt(max(n, 1))) & (acov[:, 2] > 0) & (acov[:, 2] < acov[:, 1])
    lags = np.arange(max_lag + 1)
    for i in np.flatnonzero(reliable):
        ratio = acov[i, 1:] / acov[i, 1]
        below = np.flatnonzero(ratio < 0.3)
        stop = int(below[0]) if len(below) else len(ratio)
        if stop < 2:  # decays within one frame: the two lags give the decay
            slope = np.log(max(ratio[1], 1e-6)) if len(ratio) > 1 else -10.0
        else:
            slope = np.polyfit(lags[:stop], np.log(ratio[:stop]), 1)[0]
        decay[i] = -1.0 / (slope * frame_rate) if slope < 0 else DECAY_RANGE[1]
    decay = np.clip(decay, *DECAY_RANGE)
    fallback = float(np.median(decay[reliable])) if reliable.any() else DEFAULT_DECAY
    return np.where(reliable, decay, fallback), reliable
