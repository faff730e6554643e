"""Property-based tests (Hypothesis) of the window rule and of spike binning against brute force.

Times are drawn on dyadic grids (multiples of 1/64 s, 1/256 s), which floats hold exactly, so the
brute-force references can compare with ``<=`` and exact fractions and a tie is a real tie: the
properties test the rule, not rounding noise. Runs are derandomized and keep no example database,
so CI sees the same examples every time.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nwb_sae.io import align
from nwb_sae.io.recording.units import SpikeReader

PROPERTY = settings(derandomize=True, database=None, deadline=None, max_examples=60,
                    suppress_health_check=[HealthCheck.too_slow])

sixty_fourths = st.integers(-640, 640).map(lambda i: i / 64)
positive_bins = st.integers(1, 64).map(lambda i: i / 64)


@st.composite
def windows(draw, max_length=256):
    """(start, stop) on the 1/64 s grid, stop after start."""
    start = draw(st.integers(-320, 320))
    length = draw(st.integers(1, max_length))
    return start / 64, (start + length) / 64


def _rounded_half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2))


@PROPERTY
@given(window=windows(), dt=st.integers(1, 200).map(lambda i: Fraction(i, 64)))
def test_samples_per_window_is_round_half_up(window, dt):
    expected = _rounded_half_up((Fraction(window[1]) - Fraction(window[0])) / dt)
    assert align.n_window_samples(window, float(dt)) == expected
    times = align.window_times(window, float(dt))
    assert len(times) == expected
    if expected:
        assert times[0] == window[0]
        np.testing.assert_allclose(np.diff(times), float(dt))


@PROPERTY
@given(events=st.lists(st.integers(-6400, 6400), min_size=1, max_size=20),
       window_start=st.integers(-640, 640), rate=st.integers(1, 500), first=st.integers(-640, 640))
def test_first_sample_is_the_nearest_to_event_plus_start_ties_later(events, window_start, rate, first):
    starts = align.regular_starts([e / 64 for e in events], window_start / 64, rate=float(rate),
                                  starting_time=first / 64)
    for event, start in zip(events, starts, strict=True):
        target = Fraction(event + window_start - first, 64)  # seconds after sample 0
        # brute force: the sample index k minimising |k / rate - target|, the later one on a tie
        best = min(range(math.floor(target * rate) - 2, math.ceil(target * rate) + 3),
                   key=lambda k: (abs(Fraction(k, rate) - target), -k))
        assert start == best


@PROPERTY
@given(window=windows(max_length=128), rate=st.sampled_from([4, 8, 16, 32, 64]), n_total=st.integers(1, 400),
       events=st.lists(st.integers(-640, 7000), min_size=1, max_size=20))
def test_kept_windows_lie_inside_the_recording(window, rate, n_total, events):
    dt = 1 / rate
    n = align.n_window_samples(window, dt)
    starts = align.regular_starts([e / 64 for e in events], window[0], rate=float(rate))
    keep = align.inside(starts, n, n_total)
    for start, kept in zip(starts, keep, strict=True):
        assert kept == (start >= 0 and start + n <= n_total)
        if kept:  # every sample of a kept window is a sample of the recording
            assert all(0 <= k < n_total for k in range(start, start + n))


@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), jitter=st.sampled_from([0, 1, 2, 3]), gap=st.booleans(),
       window=windows(max_length=64), events=st.lists(st.integers(0, 2000), min_size=1, max_size=10))
def test_timestamp_windows_against_brute_force(seed, jitter, gap, window, events):
    """Nearest timestamp to event + start (ties later); kept iff all n samples are within dt/2 of their time."""
    rng = np.random.default_rng(seed)
    ticks = np.arange(400) * 16 + rng.integers(-jitter, jitter + 1, size=400)  # 1/16 s frames, 1/256 s jitter
    if gap:
        ticks = np.delete(ticks, slice(150, 153))
    ts = np.unique(ticks) / 256
    dt = 1 / 16
    n = align.n_window_samples(window, dt)
    starts, ok = align.timestamp_starts([e / 64 for e in events], window, ts, dt)
    for event, start, kept in zip(events, starts, ok, strict=True):
        begin = event / 64 + window[0]
        best = min(range(len(ts)), key=lambda i: (abs(ts[i] - begin), -i))
        assert start == best
        inside = 0 <= start and start + n <= len(ts)
        close = inside and all(abs(ts[start + k] - (begin + k * dt)) <= dt / 2 * (1 + 1e-6) for k in range(n))
        assert kept == close


def _brute_counts(train, events, window, bin_size):
    n = align.n_window_samples(window, bin_size)
    out = np.zeros((len(events), n), dtype=np.int64)
    for i, event in enumerate(events):
        for k in range(n):
            low = event + window[0] + k * bin_size
            out[i, k] = sum(1 for t in train if low <= t < low + bin_size)
    return out


spike_trains = st.lists(st.integers(-2560, 25600), max_size=60).map(lambda ts: np.sort(np.array(ts)) / 256)


@PROPERTY
@given(train=spike_trains, events=st.lists(sixty_fourths, min_size=1, max_size=8), window=windows(max_length=64),
       bin_size=positive_bins)
def test_spike_counts_against_brute_force(train, events, window, bin_size):
    counts = align.spike_counts(train, events, window, bin_size)
    np.testing.assert_array_equal(counts, _brute_counts(train, events, window, bin_size))


@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), rates=st.lists(st.floats(0.0, 80.0), min_size=1, max_size=4),
       events=st.lists(st.integers(0, 600), min_size=1, max_size=6), window=windows(max_length=64),
       bin_size=positive_bins)
def test_spike_reader_on_poisson_trains(seed, rates, events, window, bin_size):
    """Random rates: the reader's windows, grid bins and totals all agree with counting spike by spike."""
    rng = np.random.default_rng(seed)
    duration = 12.0
    trains = [np.sort(np.round(rng.uniform(0, duration, rng.poisson(rate * duration)) * 1024) / 1024)
              for rate in rates]
    reader = SpikeReader(trains, bin_size, (0.0, duration))
    event_times = [e / 64 for e in events]
    windows_read = reader.read_windows(event_times, window)
    for u, train in enumerate(trains):
        np.testing.assert_array_equal(windows_read[u].T, _brute_counts(train, event_times, window, bin_size))
    assert reader.total_in_windows(event_times, window) == int(windows_read.sum())
    grid = reader.read(0, reader.n_bins)
    for u, train in enumerate(trains):
        for k in range(reader.n_bins):
            low = reader.t0 + k * bin_size
            assert grid[k, u] == sum(1 for t in train if low <= t < low + bin_size)
