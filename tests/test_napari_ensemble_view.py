"""The pure logic of the ensemble view: row normalisation and order, the ensemble list, the null bands.

Known answers only: planted co-active groups are sorted together, a planted condition effect rises above
the circular-shift band while shuffled labels stay under it, every reason is the fit's own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nwb_sae.metrics import ensemble_sizes
from nwb_sae.napari import _latents, _logic, _rows
from nwb_sae.napari._context import cell_column, find_background
from nwb_sae.stats.significance import is_ensemble, verdict_reasons


def test_z_score_and_dff_rows():
    rng = np.random.default_rng(0)
    base = np.array([0.0005, 1.0, 214.0])  # suite2p's baselines span orders of magnitude
    x = base[None, :, None] * (1 + 0.1 * rng.standard_normal((30, 3, 50)))
    stats = _rows.neuron_stats(x)
    offset, scale = _rows.normalisation(stats, "z-score")
    z = (np.moveaxis(x, 1, 0).reshape(3, -1) - offset[:, None]) * scale[:, None]
    np.testing.assert_allclose(z.mean(axis=1), 0, atol=1e-9)
    np.testing.assert_allclose(z.std(axis=1), 1, rtol=1e-9)
    offset, scale = _rows.normalisation(stats, "dF/F")
    dff = (np.moveaxis(x, 1, 0).reshape(3, -1) - offset[:, None]) * scale[:, None]
    assert np.allclose(np.median(dff, axis=1), np.median(dff, axis=1)[0], atol=0.05)  # one scale for all rows
    assert _rows.normalisation(stats, "raw") == (None, None)
    with pytest.raises(ValueError, match="normalisation"):
        _rows.normalisation(stats, "zscore")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_similarity_order_puts_planted_groups_together(seed):
    rng = np.random.default_rng(seed)
    n_groups, size = 3, 6
    drivers = rng.standard_normal((n_groups, 2000))
    group = rng.permutation(np.repeat(np.arange(n_groups), size))
    x = drivers[group] + 0.3 * rng.standard_normal((group.size, 2000))
    order = _rows.similarity_order(x)
    runs = 1 + np.count_nonzero(np.diff(group[order]))
    assert runs <= n_groups + 1  # each group contiguous (a circular order may split one at the ends)


def test_members_on_top_then_similarity():
    atom = np.array([0.0, 0.1, 0.9, 0.5, -0.8, 0.4])
    assert _rows.members(atom).tolist() == [2, 3]
    similarity = np.array([5, 4, 3, 2, 1, 0])
    assert _rows.row_order(atom, similarity).tolist() == [2, 3, 5, 4, 1, 0]
    assert _rows.row_order(atom, similarity, "similarity").tolist() == similarity.tolist()
    assert _rows.row_order(atom, similarity, "file").tolist() == list(range(6))
    assert ensemble_sizes(np.array([atom, -atom])).tolist() == [2, 1]


def test_reasons_agree_with_the_verdict():
    rng = np.random.default_rng(0)
    q = rng.uniform(0, 0.2, 200)
    frequency = np.where(rng.uniform(size=200) < 0.1, 0.0, rng.uniform(0, 0.3, 200))
    neurons = rng.uniform(0.5, 6, 200)
    matched = rng.uniform(0, 1, 200)
    composite = rng.uniform(size=200) < 0.1
    reasons = verdict_reasons(q, frequency, neurons, matched_fraction=matched, composite=composite)
    significant = is_ensemble(q, frequency, neurons, matched_fraction=matched) & ~composite
    assert ((reasons == "") == significant).all()
    assert set(reasons[~significant]) <= {"not significant", "never active", "one neuron", "not replicated",
                                          "composite"}
    assert (reasons[q > 0.05] == "not significant").all()  # the first rule failed is the one given


def test_the_list_shows_the_fits_verdicts_sizes_and_a_header():
    stats = pd.DataFrame({"significant": [True, False, True, False], "reason": ["", "one neuron", "", "composite"],
                          "q_value": [1e-30, 0.01, 0.02, 1e-5], "stability": [np.nan] * 4,
                          "activation_frequency": [0.1, 0.2, 0.3, 0.05]})
    dictionary = np.array([[1, 0.9, 0, 0], [1, 0, 0, 0], [0.5, 0.5, 0.5, 0.1], [1, 1, 0, 0]], float)
    table = _latents.latent_table(stats, dictionary=dictionary)
    assert table.columns[:4].tolist() == ["verdict", "neurons", "activation_frequency", "q_value"]
    assert "stability" not in table  # not measured: said in the header, not shown as NaN
    assert table["verdict"].tolist() == ["ensemble", "one neuron", "ensemble", "composite"]
    assert table["neurons"].tolist() == [2, 1, 3, 2]
    assert _latents.shown_latents(table, show_all=True).tolist() == [2, 0, 1, 3]
    assert _latents.header(stats, 4) == ("2 ensembles of 4 latents · not reported: 1 one neuron, 1 composite · "
                                         "stability not measured (a single-seed fit)")
    assert _latents.cell_text("q_value", 1e-206) == "<1e-10"
    old = stats.drop(columns="reason")  # a file written before the fit recorded its reasons
    assert _latents.verdicts(old, 4).tolist()[1] == _latents.NOT_RECORDED


def _trials(effect: float, seed: int, n: int = 240):
    rng = np.random.default_rng(seed)
    condition = rng.integers(0, 3, n)
    codes = rng.exponential(1.0, (n, 2, 12)).astype(np.float32)
    codes[condition == 1, 0, 4:8] += effect  # latent 0 answers condition 1 in the middle of the window
    return codes, pd.DataFrame({"condition": condition})


def test_condition_means_with_sem_and_the_shift_band():
    codes, table = _trials(effect=1.5, seed=0)
    s = _logic.make_summary(codes, table, "condition", batch=50)
    c1 = codes[table["condition"] == 1, 0]
    np.testing.assert_allclose(s.condition_means[1, 0], c1.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(s.condition_sem[1, 0], c1.std(axis=0, ddof=1) / np.sqrt(len(c1)), rtol=1e-4)
    assert (s.condition_means[1, 0, 4:8] > s.null_band[0, 4:8]).all()  # planted: above the band


@pytest.mark.parametrize("seed", range(5))
def test_no_effect_stays_under_the_band_at_about_the_nominal_rate(seed):
    codes, table = _trials(effect=0.0, seed=seed)
    s = _logic.make_summary(codes, table, "condition")
    above = (s.condition_means[:, :, :] > s.null_band[None]).mean()
    assert above < 0.15  # 95th percentile of the shifted means, three conditions tested at once


def test_session_trace_is_the_code_in_time_order():
    codes = np.arange(2 * 3 * 8, dtype=np.float32).reshape(2, 3, 8).transpose(0, 1, 2)
    s = _logic.make_summary(codes)
    np.testing.assert_allclose(s.trace[1], np.concatenate([codes[0, 1], codes[1, 1]]))
    assert _logic.session_band(s.trace[1]) == pytest.approx(np.percentile(s.trace[1], 95))


def test_cell_column():
    assert cell_column({"iscell": np.array([True, False])})[0] == "iscell"
    assert cell_column({"Accepted": np.array([1.0, 0.0, 1.0])})[1].tolist() == [True, False, True]
    assert cell_column({"quality": np.array([0.2, 0.9])}) is None


def test_background_image_of_the_corpus_lines_up_with_the_rois(corpus_dir):
    from nwb_sae.napari._masks import read_roi_masks

    for name, table in (("suite2p-export__2022_08_08.nwb", "processing/ophys/ImageSegmentation/PlaneSegmentation"),
                        ("roiextractors-segmentation__nwb_test.nwb",
                         "processing/ophys/ImageSegmentation/PlaneSegmentation")):
        path = corpus_dir / "ophys" / name
        masks = read_roi_masks(path, table)
        background = find_background(path, table, masks.shape)
        assert background is not None and background.image.shape == masks.shape
        z = (background.image - background.image.mean()) / background.image.std()
        assert z[masks.owner >= 0].mean() > 1.0  # the ROIs sit on the bright spots of the correlation image


def test_members_are_judged_in_each_neurons_own_standard_deviations():
    """The dictionary is written in the recording's units: a bright ROI (std 10) dwarfs two members
    that rise by as many of their own standard deviations. The browser judges membership as the fit's
    verdict does, from the normalisation scale the provenance records; without it, from the dictionary."""
    from pathlib import Path

    from nwb_sae.napari._data import Browser

    scale = np.array([10.0, 1.0, 1.0, 1.0])
    normalised = np.array([[1.0, 0.9, 0.8, 0.0]])
    written = normalised * scale
    written /= np.linalg.norm(written)
    b = Browser(path=Path("x.nwb"), module="sae", modules=["sae"], dictionary=written,
                provenance={"normalization": {"mode": "zscore", "scale": scale.tolist()}})
    assert b.members(0).tolist() == [0, 1, 2]
    assert ensemble_sizes(b.member_atoms()).tolist() == [3]
    b.provenance = {}
    assert b.members(0).tolist() == [0]
