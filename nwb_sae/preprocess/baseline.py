"""Per-neuron baseline and noise of fluorescence traces: what deconvolution needs before it starts.

The baseline is suite2p's *maximin* (Pachitariu et al. 2017): smooth the trace a little, take the running
minimum, then the running maximum of that, over a window of about a minute. Slow drift (bleaching,
neuropil, z-motion) follows it; calcium transients, seconds long, do not. The noise is estimated from
the first differences, where a slow indicator's transients hardly show: the median absolute deviation
of ``diff(y)``, scaled to a standard deviation and divided by sqrt(2), is robust to the few large
differences at spike onsets.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter1d, minimum_filter1d

BASELINE_WINDOW = 60.0
"""Seconds of the running baseline's window (suite2p's ``win_baseline``)."""
BASELINE_SMOOTHING = 10
"""Frames of the Gaussian smoothing before the running minimum (suite2p's ``sig_baseline``)."""
MAD_TO_STD = 1.4826
"""Median absolute deviation of a Gaussian times this is its standard deviation."""


def maximin_baseline(traces: np.ndarray, frame_rate: float, window: float = BASELINE_WINDOW) -> np.ndarray:
    """suite2p's running baseline of each trace (rows of ``traces``).

    Parameters
    ----------
    traces : numpy.ndarray
        (neurons, time).
    frame_rate : float
        Frames per second.
    window : float
        Seconds of the running minimum and maximum (a shorter recording uses its whole length).

    Returns
    -------
    numpy.ndarray
        (neurons, time) baseline.

    Examples
    --------
    >>> t = np.arange(3000) / 30.0
    >>> trace = 0.01 * t + (np.abs(t - 50) < 1)        # slow drift plus one transient
    >>> base = maximin_baseline(trace[None], 30.0)[0]
    >>> bool(abs(base[1500] - 0.5) < 0.1)
    True
    """
    traces = np.asarray(traces, dtype=np.float64)
    size = int(max(1, min(round(window * frame_rate), traces.shape[-1])))
    low = gaussian_filter1d(traces, BASELINE_SMOOTHING, axis=-1, mode="nearest")
    low = minimum_filter1d(low, size, axis=-1, mode="nearest")
    return maximum_filter1d(low, size, axis=-1, mode="nearest")


def noise_level(traces: np.ndarray) -> np.ndarray:
    """Standard deviation of each trace's white noise, from its first differences (robust to transients).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> float(noise_level(rng.normal(0, 2.0, size=(1, 20000)))[0]).__round__(1)
    2.0
    """
    diffs = np.diff(np.asarray(traces, dtype=np.float64), axis=-1)
    centred = diffs - np.median(diffs, axis=-1, keepdims=True)
    return MAD_TO_STD * np.median(np.abs(centred), axis=-1) / np.sqrt(2.0)
