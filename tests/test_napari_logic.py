"""The browser's plain logic (no Qt, no napari): alignment, summaries, selectivity, masks, layout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from nwb_sae.napari import _latents, _logic
from nwb_sae.napari._layers import make_layout
from nwb_sae.napari._masks import masks_from_images, masks_from_pixels, paint
from nwb_sae.napari._windows import AlignedArray, contiguous_windows, read_windows


def test_aligned_array_reads_only_what_is_indexed_and_pads_outside():
    rng = np.random.default_rng(0)
    source = rng.normal(size=(500, 7)).astype(np.float32)
    calls = []

    def read(a, b):
        calls.append((a, b))
        return source[a:b]

    starts = np.array([-3, 0, 100, 250, 495])
    arr = AlignedArray(contiguous_windows(read, starts, 10, 500, 7), (5, 7, 10))
    assert arr.shape == (5, 7, 10) and arr.ndim == 3 and arr.dtype == np.float32
    first = arr[2]
    assert arr.reads == 1 and len(calls) == 1
    np.testing.assert_array_equal(first, source[100:110].T)
    np.testing.assert_array_equal(arr[2, 3, 4:6], source[104:106, 3])  # cached: no new read
    assert arr.reads == 1
    edge = arr[0]
    assert np.isnan(edge[:, :3]).all()
    np.testing.assert_array_equal(edge[:, 3:], source[0:7].T)
    assert np.isnan(arr[4][:, 5:]).all()
    whole = np.asarray(arr)
    assert whole.shape == (5, 7, 10)
    np.testing.assert_array_equal(arr[1:4], whole[1:4])
    np.testing.assert_array_equal(arr[-1], whole[4])


def test_read_windows_groups_neighbouring_windows_into_one_read():
    source = np.arange(2000, dtype=np.float32).reshape(1000, 2)
    calls = []

    def read(a, b):
        calls.append((a, b))
        return source[a:b]

    starts = np.arange(0, 1000, 20)
    out = read_windows(read, starts, 20, 1000, 2, max_span=400)
    assert len(calls) == 3
    np.testing.assert_array_equal(out[7], source[140:160].T)


def _codes(n_pres=60, n_latents=5, n_time=8, seed=0):
    rng = np.random.default_rng(seed)
    cond = rng.integers(0, 3, size=n_pres)
    codes = rng.exponential(0.1, size=(n_pres, n_latents, n_time)).astype(np.float32)
    codes[:, 2, 3:] += (cond[:, None] == 1) * 2.0  # latent 2 answers condition 1 after onset
    return codes, pd.DataFrame({"start_time": np.arange(n_pres) * 2.0, "condition": cond})


def test_summary_matches_a_direct_computation():
    codes, table = _codes()
    summary = _logic.make_summary(codes, table, "condition", batch=7)
    np.testing.assert_allclose(summary.presentation_means, codes.mean(axis=2), rtol=1e-5)
    assert summary.levels.tolist() == [0, 1, 2]
    for c in range(3):
        np.testing.assert_allclose(summary.condition_means[c], codes[table.condition == c].mean(axis=0),
                                   rtol=1e-5)
    whole = _logic.make_summary(codes, table, None)
    assert whole.levels.tolist() == ["all"] and whole.condition_means.shape == (1, 5, 8)


def test_summary_steps_report_progress_and_return_the_summary():
    codes, table = _codes()
    steps = _logic.summary_steps(codes, table, "condition", batch=10)
    fractions = []
    with pytest.raises(StopIteration) as done:
        while True:
            fractions.append(next(steps))
    assert fractions == [min(1.0, (i + 1) * 10 / 60) for i in range(6)]
    np.testing.assert_allclose(done.value.value.presentation_means, codes.mean(axis=2), rtol=1e-5)


def test_selectivity_finds_the_tuned_latent():
    codes, table = _codes()
    summary = _logic.make_summary(codes, table, "condition")
    levels, labels = _logic.condition_labels(table["condition"])
    eta2, preferred = _logic.selectivity(summary.presentation_means, labels)
    assert int(np.argmax(eta2)) == 2 and eta2[2] > 0.9
    assert levels[preferred[2]] == 1
    assert np.all((eta2 >= 0) & (eta2 <= 1))
    table_ = _latents.latent_table(None, 5, eta2, preferred, levels)
    assert _latents.sort_latents(table_, "selectivity")[0] == 2
    top = _logic.top_presentations(summary.presentation_means, 2, n=5)
    assert set(table["condition"].to_numpy()[top]) == {1}


def test_latent_table_from_written_statistics():
    stats = xr.Dataset({"activation_frequency": ("latents", [0.1, 0.5, 0.0]),
                        "mean_activation": ("latents", [1.0, 2.0, 0.0]),
                        "matrix": (("latents", "x"), np.zeros((3, 2)))})
    table = _latents.latent_table(stats)
    assert list(table.columns) == ["activation_frequency", "mean_activation"]
    assert _latents.sort_latents(table, "activation_frequency").tolist() == [1, 0, 2]
    assert _logic.grouping_columns(pd.DataFrame({"start_time": [0, 1], "stim": ["a", "b"]})) == ["stim"]


def test_neuron_set_problem_names_both_sides():
    assert _logic.neuron_set_problem([3, 4], [3, 4], "a.nwb: processing/sae", "units") is None
    assert _logic.neuron_set_problem([4], [3, 4], "a.nwb: processing/sae", "units") is None  # a subset
    msg = _logic.neuron_set_problem([3, 4], [3, 5], "a.nwb: processing/sae", "units")
    assert "different neuron set" in msg and "1 of their 2" in msg and "processing/sae" in msg
    assert _logic.match_neurons([5, 3], [3, 4, 5]).tolist() == [2, 0]


def test_image_and_pixel_masks_paint_the_same_picture():
    rng = np.random.default_rng(1)
    images = np.zeros((4, 12, 9), np.float32)
    pixels = []
    for i in range(4):
        x, y = rng.integers(0, 10), rng.integers(0, 7)
        images[i, x:x + 3, y:y + 2] = rng.uniform(0.5, 1.0, size=(3, 2))
        xs, ys = np.nonzero(images[i])
        pixels.append(np.stack([xs, ys, images[i][xs, ys]], axis=1))
    from_images = masks_from_images(images)
    from_pixels = masks_from_pixels(pixels, shape=(12, 9))
    np.testing.assert_array_equal(from_images.owner, from_pixels.owner)
    weights = np.array([0.5, -1.0, 2.0, 0.25])
    painted = paint(from_images, weights)
    owner = from_images.owner
    assert np.all(painted[owner < 0] == 0)
    for i in range(4):
        np.testing.assert_array_equal(painted[owner == i], np.float32(weights[i]))
    # each pixel belongs to the ROI with the strongest mask there
    strongest = np.where(images.max(axis=0) > 0, images.argmax(axis=0), -1)
    np.testing.assert_array_equal(owner, strongest)
    with pytest.raises(ValueError):
        paint(from_images, weights[:3])


def test_layout_keeps_layers_apart_and_gives_each_panel_its_share():
    for n_latents, n_neurons in ((128, 32), (384, 48), (2, 15), (200, 172)):
        lay = make_layout(n_latents=n_latents, n_neurons=n_neurons, fov_shape=(64, 48))
        a, c, f = lay.activity, lay.codes, lay.fov
        assert c.top >= a.top + a.height and f.left >= a.left + a.width  # no overlap
        assert a.height >= 0.6 * (c.top + c.height - a.top)  # the activity keeps its share, whatever the rows
        assert np.isclose(f.height / f.width, 64 / 48)


def test_pure_modules_import_neither_qt_nor_napari():
    import subprocess
    import sys

    code = ("import sys, nwb_sae.napari._open, nwb_sae.napari._layers, nwb_sae.napari._reader, "
            "nwb_sae.napari._sample_data, nwb_sae.napari._marks, nwb_sae.napari._rows, nwb_sae.napari._latents, "
            "nwb_sae.napari._context; print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'napari', 'qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
