"""Non-negative AR(1) deconvolution without a sparsity penalty, exact and fast in pure NumPy/SciPy.

The problem suite2p solves with OASIS (Friedrich, Zhou & Paninski 2017, with no penalty: Pachitariu,
Stringer & Harris 2018): given a baseline-free trace ``y``, find the calcium ``c`` closest to ``y`` in least
squares whose spikes ``s_t = c_t - g c_{t-1}`` are all non-negative (``s_0 = c_0``). OASIS is GPL-3.0 and a
per-sample loop, so it is not used here. Instead: substituting ``c_t = g**t u_t`` turns the constraint
into ``u`` non-decreasing and non-negative and the objective into ``sum g**(2t) (y_t g**-t - u_t)**2``, a
weighted isotonic regression that :func:`scipy.optimize.isotonic_regression` solves in compiled code
(pool adjacent violators). The weights ``g**(2t)`` leave floating point after a few hundred decay times, so
the trace is solved in chunks short enough for them, and the chunks are joined exactly: the solution of
two adjacent segments together keeps every pool of each segment's own solution and only merges the pools
that meet at the junction (the pools of a pool-adjacent-violators solution never split), so joining is
a short loop over the merges at each junction, in OASIS's own pool arithmetic. The cost is one compiled
call per chunk (a recording of 30 min has a few dozen chunks per neuron) and no Python loop per sample.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import isotonic_regression

WEIGHT_RANGE = 1e-200
"""Smallest weight ``g**(2t)`` inside one chunk (relative to its first sample): the products the fit
forms (``g**t y``, at least 1e-100 of ``y``) and the weights stay far from float64's underflow (1e-308),
so every chunk is solved to full precision; a chunk spans about 230 decay times."""


def chunk_length(g: float) -> int:
    """Samples per chunk for AR coefficient ``g``: the weights ``g**(2t)`` stay above :data:`WEIGHT_RANGE`."""
    if g <= 0:
        return 1 << 30
    return int(max(1, min(1 << 30, np.log(WEIGHT_RANGE) / (2 * np.log(g)))))


def _chunk_pools(y: np.ndarray, g: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pools (start, length, value at start, weight) of the solution on one chunk ``y`` on its own."""
    n = len(y)
    decay = g ** np.arange(n)
    fit = isotonic_regression(y / decay, weights=decay * decay)
    starts = np.asarray(fit.blocks[:-1], dtype=np.int64)
    lengths = np.diff(np.asarray(fit.blocks, dtype=np.int64))
    values = fit.x[starts] * decay[starts]
    weights = (1 - g ** (2 * lengths)) / (1 - g * g) if g < 1 else lengths.astype(float)
    return starts, lengths, values, weights


def _merge(v1, w1, l1, v2, w2, l2, g):
    """Two adjacent pools as one (OASIS's update: the least-squares value of a longer decay)."""
    gl = g ** l1
    w = w1 + gl * gl * w2
    return (v1 * w1 + gl * v2 * w2) / w, w, l1 + l2


def ar1_pools(y: np.ndarray, g: float, chunk: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pools of the unpenalised non-negative AR(1) fit to ``y``: (starts, lengths, values at start).

    Within a pool the calcium decays freely (``c_{t0+k} = v g**k``); a spike is where a pool starts.
    ``chunk`` overrides the chunk length (:func:`chunk_length`; the result does not depend on it).
    """
    y = np.asarray(y, dtype=np.float64)
    size = chunk or chunk_length(g)
    starts: list[int] = []
    lengths: list[int] = []
    values: list[float] = []
    weights: list[float] = []
    for begin in range(0, len(y), size):
        c_starts, c_lengths, c_values, c_weights = _chunk_pools(y[begin:begin + size], g)
        c_starts = c_starts + begin
        i, n = 0, len(c_starts)  # the chunk's pools from i on are not yet on the stack
        while i < n:
            # the junction: merge while the last pool on the stack and the next one violate s >= 0
            if starts and c_values[i] < g ** lengths[-1] * values[-1]:
                values[-1], weights[-1], lengths[-1] = _merge(values[-1], weights[-1], lengths[-1],
                                                              c_values[i], c_weights[i], c_lengths[i], g)
                i += 1
                while len(starts) > 1 and values[-1] < g ** lengths[-2] * values[-2]:
                    v, w, length = _merge(values[-2], weights[-2], lengths[-2], values[-1], weights[-1],
                                          lengths[-1], g)
                    del starts[-1], lengths[-1], values[-1], weights[-1]
                    values[-1], weights[-1], lengths[-1] = v, w, length
                continue
            # no violation at the junction: the rest of the chunk's pools are final relative to the stack
            starts.extend(c_starts[i:].tolist())
            lengths.extend(c_lengths[i:].tolist())
            values.extend(c_values[i:].tolist())
            weights.extend(c_weights[i:].tolist())
            break
    return np.asarray(starts, dtype=np.int64), np.asarray(lengths, dtype=np.int64), np.asarray(values)


def deconvolve_ar1(y: np.ndarray, g: float) -> tuple[np.ndarray, np.ndarray]:
    """Unpenalised non-negative AR(1) deconvolution of one baseline-free trace.

    Parameters
    ----------
    y : numpy.ndarray
        (time,) trace with its baseline removed.
    g : float
        AR(1) coefficient, ``exp(-frame period / decay time)``, in [0, 1).

    Returns
    -------
    calcium : numpy.ndarray
        (time,) the fitted calcium ``c``, non-negative.
    spikes : numpy.ndarray
        (time,) ``s_t = c_t - g c_{t-1}`` (``s_0 = c_0``), non-negative.

    Examples
    --------
    >>> y = np.array([0.0, 1.0, 0.5, 0.25, 0.125, 2.0, 1.0])
    >>> c, s = deconvolve_ar1(y, 0.5)
    >>> s.round(6).tolist()
    [0.0, 1.0, 0.0, 0.0, 0.0, 1.9375, 0.0]
    """
    y = np.asarray(y, dtype=np.float64)
    if not len(y):
        return y.copy(), y.copy()
    starts, lengths, values = ar1_pools(y, float(g))
    values = np.maximum(values, 0.0)  # u >= 0: the bounded isotonic fit clips the (leading) negative pools
    offset = np.arange(len(y)) - np.repeat(starts, lengths)
    calcium = np.repeat(values, lengths) * float(g) ** offset
    spikes = calcium.copy()
    spikes[1:] -= g * calcium[:-1]
    return calcium, np.maximum(spikes, 0.0)
