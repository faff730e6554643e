"""The unpenalised non-negative AR(1) deconvolution: exact against a generic solver, chunking invisible,
and (where the GPL package is installed) the same answer as OASIS."""

import numpy as np
import pytest
from scipy.optimize import nnls
from scipy.signal import lfilter

from nwb_sae.preprocess import ar_coefficient, deconvolve_ar1, estimate_decay, maximin_baseline, noise_level
from nwb_sae.preprocess.deconvolve import ar1_pools, chunk_length


def calcium_trace(n, g, rate=0.1, noise=0.5, seed=0, offset=0.0):
    rng = np.random.default_rng(seed)
    spikes = rng.poisson(rate, n).astype(float)
    return lfilter([1.0], [1.0, -g], spikes) + rng.normal(0, noise, n) + offset, spikes


def nnls_spikes(y, g):
    """The same problem by a generic solver: min ||y - K s|| with s >= 0, K the AR(1) kernel matrix."""
    n = len(y)
    lag = np.subtract.outer(np.arange(n), np.arange(n))
    kernel = np.where(lag >= 0, float(g) ** np.maximum(lag, 0), 0.0)
    return nnls(kernel, y)[0]


@pytest.mark.parametrize("g", [0.2, 0.7, 0.95])
@pytest.mark.parametrize("chunk", [None, 1, 5, 17])
def test_matches_a_generic_non_negative_least_squares_solver(g, chunk):
    for seed in range(5):
        y, _ = calcium_trace(90, g, seed=seed, offset=-0.2)
        starts, lengths, values = ar1_pools(y, g, chunk)
        calcium = np.repeat(np.maximum(values, 0), lengths) * g ** (np.arange(len(y)) - np.repeat(starts, lengths))
        spikes = calcium.copy()
        spikes[1:] -= g * calcium[:-1]
        np.testing.assert_allclose(spikes, nnls_spikes(y, g), atol=1e-6)


def test_chunks_join_exactly_on_a_long_trace():
    g = 0.9
    y, _ = calcium_trace(20_000, g, seed=3)
    whole = deconvolve_ar1(y, g)[1]
    starts, lengths, values = ar1_pools(y, g, chunk=333)
    assert chunk_length(g) > 2000
    calcium = np.repeat(np.maximum(values, 0), lengths) * g ** (np.arange(len(y)) - np.repeat(starts, lengths))
    np.testing.assert_allclose(calcium, deconvolve_ar1(y, g)[0], atol=1e-8)
    assert np.all(whole >= 0)


def test_recovers_the_spikes_of_a_clean_trace():
    g = ar_coefficient(0.5, 30.0)
    y, spikes = calcium_trace(5000, g, noise=0.01, seed=1)
    estimate = deconvolve_ar1(y, g)[1]
    assert np.corrcoef(estimate, spikes)[0, 1] > 0.95


def test_baseline_follows_drift_and_noise_is_robust_to_transients():
    rate, g = 30.0, ar_coefficient(1.0, 30.0)
    y, _ = calcium_trace(36_000, g, rate=0.02, noise=0.3, seed=2)
    drift = 2.0 * np.sin(np.arange(len(y)) / rate / 200.0)
    base = maximin_baseline((y + drift)[None], rate)[0]
    assert np.median(np.abs((y + drift - base) - y)) < 0.3
    assert abs(noise_level(y[None])[0] - 0.3) < 0.03


def test_decay_estimated_per_neuron():
    rate = 15.0
    decays = np.array([0.3, 0.8, 1.5])
    traces = np.stack([calcium_trace(27_000, ar_coefficient(d, rate), rate=0.05, noise=0.2, seed=i)[0]
                       for i, d in enumerate(decays)])
    estimate, own = estimate_decay(traces, rate)
    assert own.all()
    np.testing.assert_allclose(estimate, decays, rtol=0.3)


def test_same_answer_as_oasis_where_installed():
    oasis = pytest.importorskip("oasis.functions", reason="oasis-deconv (GPL, the optional extra 'oasis') is not installed")
    g = 0.95
    y, _ = calcium_trace(3000, g, seed=4)
    c_ours, s_ours = deconvolve_ar1(y, g)
    c_oasis, s_oasis = oasis.oasisAR1(y, g, lam=0, s_min=0)
    np.testing.assert_allclose(c_ours, c_oasis, atol=1e-5)
    np.testing.assert_allclose(s_ours, s_oasis, atol=1e-5)
