"""SAE's default fit reports trustworthy ensembles: significance, stability and selectivity per latent."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from nwb_sae import SAE, load
from nwb_sae.metrics import cosine_matrix
from nwb_sae.synthetic import make_assemblies

TINY = dict(n_shifts=100, n_permutations=100, progress=False, device="cpu")
"""The default fit (selection included), with fewer null copies to keep the tests short."""


@pytest.fixture(scope="module")
def planted():
    return make_assemblies(n_neurons=24, n_assemblies=2, members=6, duration=240.0, n_presentations=40, seed=3)


@pytest.fixture(scope="module")
def fitted(planted):
    return SAE(**TINY).fit(planted.data)


def test_planted_ensembles_come_out_significant(planted, fitted):
    table = fitted.latent_table_
    assert {"frequency", "mean_activation", "p_value", "q_value", "significant", "stability"} <= set(table)
    assert len(table) == fitted.model_.n_latents == len(fitted.significant_)
    assert fitted.significant_.dtype == bool
    np.testing.assert_array_equal(table["significant"].to_numpy(), fitted.significant_)
    cos = cosine_matrix(fitted.dictionary[fitted.significant_], planted.assemblies)
    assert (cos.max(axis=1) >= 0.9).all()  # every planted assembly is a significant latent
    assert (cos.max(axis=0) >= 0.9).all()  # and every significant latent is a planted assembly
    assert (table.loc[fitted.significant_, "q_value"] <= fitted.alpha).all()
    assert fitted.selection_curve_["chosen"].any() and fitted.mp_count_ >= 2
    assert fitted.metrics_["significant_latents"] == fitted.significant_.sum()
    assert len(fitted.history_["val_loss"]) == len(fitted.history_["epoch"]) > 0


def test_selectivity_columns_for_each_categorical_presentation_coordinate(planted, fitted):
    table = fitted.latent_table_
    assert {"stimulus_eta_squared", "stimulus_p_value", "stimulus_q_value"} <= set(table)
    tested = table.loc[fitted.significant_, "stimulus_p_value"]
    assert tested.notna().all() and table.loc[~fitted.significant_, "stimulus_p_value"].isna().all()


def test_independent_neurons_give_no_significant_latent():
    rec = make_assemblies(n_neurons=24, n_assemblies=0, duration=240.0, n_presentations=40, seed=4)
    sae = SAE(**TINY).fit(rec.data)
    assert not sae.significant_.any()
    assert not sae.latent_table_["significant"].any()


def test_save_load_keeps_the_table_and_the_selection(fitted, tmp_path):
    fitted.save(tmp_path / "model")
    again = load(tmp_path / "model")
    np.testing.assert_array_equal(again.significant_, fitted.significant_)
    assert list(again.latent_table_.columns) == list(fitted.latent_table_.columns)
    np.testing.assert_allclose(again.latent_table_["q_value"], fitted.latent_table_["q_value"])
    np.testing.assert_allclose(again.latent_table_["stability"], fitted.latent_table_["stability"])
    assert again.mp_count_ == fitted.mp_count_ and len(again.selection_curve_) == len(fitted.selection_curve_)
    short = make_assemblies(n_neurons=24, n_assemblies=2, members=6, duration=20.0, n_presentations=4, seed=3)
    np.testing.assert_allclose(again.encode(short.data).values, fitted.encode(short.data).values, atol=1e-6)


def test_clone_keeps_the_new_settings_unfitted(fitted):
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert copy.n_latents is None and copy.k is None and copy.activation == "batchtopk"
    assert getattr(copy, "latent_table_", None) is None


def test_topk_fit_still_gets_the_significance_table(planted):
    sae = SAE(n_latents=8, activation="topk", k=1, epochs=3, **TINY).fit(planted.data)
    table = sae.latent_table_
    assert len(table) == 8 and table["stability"].isna().all()
    assert table["q_value"].between(0, 1).all() and sae.significant_.dtype == bool


def test_training_report_includes_the_selection_curve(planted, fitted, tmp_path):
    from nwb_sae.viz.report import SELECTION_FIGURE, TRAINING_FIGURES, save_training_figures

    paths = save_training_figures(fitted, planted.data, tmp_path)
    assert [p.name for p in paths] == [*TRAINING_FIGURES, SELECTION_FIGURE]
    assert all(p.stat().st_size > 5000 for p in paths)


def test_a_dense_fit_is_a_topk_model_that_saves_and_loads(tmp_path):
    """More assemblies than neurons: the default fit keeps the dense path's TopK model, end to end."""
    rec = make_assemblies(n_neurons=20, n_assemblies=30, members=5, overlap=None, duration=300.0,
                          n_presentations=50, seed=11)
    sae = SAE(**TINY).fit(rec.data)
    assert sae.model_.config.activation == "topk" and sae.model_.n_latents == len(sae.significant_)
    assert "dense k" in set(sae.selection_curve_["sweep"])
    cos = cosine_matrix(sae.dictionary[sae.significant_], rec.assemblies)
    assert (cos.max(axis=1) >= 0.9).mean() >= 0.8  # found
    assert cos.max(axis=0).mean() >= 0.8  # precision of the reported ones
    again = load(sae.save(tmp_path / "dense"))
    np.testing.assert_allclose(again.encode_samples(rec.data.values[:, :, 0].T),
                               sae.encode_samples(rec.data.values[:, :, 0].T), rtol=1e-5, atol=1e-6)
    assert again.significant_.tolist() == sae.significant_.tolist()
