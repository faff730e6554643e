"""The window rule of nwb_sae.io.align, with exact expected values."""

import numpy as np
import pytest

from nwb_sae.io import align


@pytest.mark.parametrize(
    ("window", "dt", "expected"),
    [
        ((-0.5, 1.5), 0.1, 20),
        ((0.0, 1.0), 1 / 30, 30),
        ((0.0, 0.125), 0.05, 3),  # 2.5 samples: halves round up
        ((0.0, 0.12), 0.05, 2),  # 2.4
        ((0.0, 0.13), 0.05, 3),  # 2.6
        ((-0.2, 0.2), 0.05, 8),
        ((0.0, 0.01), 0.05, 0),
    ],
)
def test_samples_per_window(window, dt, expected):
    assert align.n_window_samples(window, dt) == expected


def test_window_times_start_at_window_start():
    np.testing.assert_allclose(align.window_times((-0.5, 0.0), 0.1), [-0.5, -0.4, -0.3, -0.2, -0.1])


def test_regular_starts_nearest_sample_with_offset():
    # rate 10 Hz, sample k at 0.25 + 0.1 k; event + start = 0.5 -> position 2.5 -> tie -> later sample 3
    assert align.regular_starts([1.0], -0.5, 10.0, 0.25).tolist() == [3]
    # 0.54 -> position 2.9 -> 3; 0.51 -> position 2.6 -> 3; 0.49 -> 2.4 -> 2
    assert align.regular_starts([1.04, 1.01, 0.99], -0.5, 10.0, 0.25).tolist() == [3, 3, 2]
    # on-grid events land exactly, also after float arithmetic (0.1 * 3 = 0.30000000000000004)
    assert align.regular_starts([0.1 * 3, 0.7], 0.0, 10.0).tolist() == [3, 7]


def test_inside_checks_both_edges():
    assert align.inside([-1, 0, 90, 91], 10, 100).tolist() == [False, True, True, False]


def test_timestamp_starts_drop_windows_over_gaps_and_edges():
    ts = np.r_[np.arange(10) * 0.1, 1.5 + np.arange(10) * 0.1]  # 0.0..0.9, then a gap, 1.5..2.4
    starts, ok = align.timestamp_starts([0.0, 0.5, 0.75, 1.5, 2.3, -0.3], (0.0, 0.3), ts, 0.1)
    assert starts.tolist() == [0, 5, 8, 10, 18, 0]
    # 0.75 is halfway between 0.7 and 0.8: the later one, whose window (0.8, 0.9, 1.5) spans the gap
    assert ok.tolist() == [True, True, False, True, False, False]


def test_timestamp_starts_tolerates_jitter_below_half_a_sample():
    ts = np.arange(20) * 0.1 + np.tile([0.0, 0.03, -0.02, 0.04], 5)
    starts, ok = align.timestamp_starts([0.5], (0.0, 1.0), ts, 0.1)
    assert starts.tolist() == [5] and ok.tolist() == [True]


def test_consecutive_events_tile_whole_windows_only():
    np.testing.assert_allclose(align.consecutive_events(1.0, 10.0, (0.0, 3.0)), [1.0, 4.0, 7.0])
    # window (-1, 2): event times are shifted so that windows still start at 1, 4, 7
    np.testing.assert_allclose(align.consecutive_events(1.0, 10.0, (-1.0, 2.0)), [2.0, 5.0, 8.0])
    assert align.consecutive_events(0.0, 2.0, (0.0, 3.0)).size == 0


def test_spike_counts_half_open_bins():
    spikes = np.array([0.0, 0.1, 0.1999, 0.2, 0.35, 1.0, 1.05])
    counts = align.spike_counts(spikes, [0.2, 1.0], (-0.2, 0.2), 0.1)
    # event 0.2: bins [0,.1) [.1,.2) [.2,.3) [.3,.4) ; event 1.0: [.8,.9) [.9,1) [1,1.1) [1.1,1.2)
    assert counts.tolist() == [[1, 2, 1, 1], [0, 0, 2, 0]]


def test_grid_counts_match_window_counts():
    rng = np.random.default_rng(0)
    spikes = np.sort(rng.uniform(0, 10, 500))
    grid = align.binned_grid_counts(spikes, 0.0, 0.25, 0, 40)
    assert grid.sum() == 500
    windows = align.spike_counts(spikes, [0.0, 5.0], (0.0, 5.0), 0.25)
    assert windows.ravel().tolist() == grid.tolist()
