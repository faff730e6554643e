"""The SAE estimator: fit/encode/decode on labelled arrays, persistence, recovery of planted ensembles."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from nwb_sae import SAE, load, metrics
from nwb_sae.errors import CheckpointError, InputDataError, NwbSaeError
from nwb_sae.samples import population_vectors, split_presentations
from nwb_sae.synthetic import make_recording

FAST = dict(n_latents=48, activation="topk", k=4, epochs=3, batch_size=256, progress=False, device="cpu")


@pytest.fixture(scope="module")
def small():
    return make_recording(n_neurons=16, n_atoms=24, n_time=20, n_presentations=60, seed=1)


@pytest.fixture(scope="module")
def fitted(small):
    return SAE(**FAST).fit(small.data)


def test_encode_returns_labelled_codes_with_input_coordinates(fitted, small):
    codes = fitted.encode(small.data)
    assert codes.dims == ("latents", "time", "presentations")
    assert codes.sizes["latents"] == 48
    np.testing.assert_array_equal(codes["time"].values, small.data["time"].values)
    np.testing.assert_array_equal(codes["condition"].values, small.data["condition"].values)
    assert int((codes > 0).sum("latents").max()) <= 4
    assert fitted.transform(small.data).equals(codes)


def test_decode_inverts_encode_reasonably(fitted, small):
    recon = fitted.inverse_transform(fitted.encode(small.data))
    assert recon.dims == ("neurons", "time", "presentations")
    assert metrics.fvu(population_vectors(small.data), population_vectors(recon)) < 0.9


def test_dictionary_is_unit_norm_in_input_units(fitted):
    d = fitted.dictionary
    assert d.shape == (48, 16)
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-6)


def test_dictionary_undoes_normalisation(small):
    """Scaling one neuron by 10 must scale that neuron's weight in every atom (before renormalising)."""
    scaled = small.data.copy()
    scaled[0] = scaled[0] * 10
    a = SAE(**FAST).fit(small.data)
    b = SAE(**FAST).fit(scaled)
    # z-scoring makes the two fits identical in model units, so atoms differ exactly by the neuron scale
    ratio = np.abs(b.dictionary[:, 0] / np.linalg.norm(b.dictionary[:, 1:], axis=1)) / \
        np.abs(a.dictionary[:, 0] / np.linalg.norm(a.dictionary[:, 1:], axis=1))
    np.testing.assert_allclose(ratio, 10.0, rtol=1e-3)


def test_save_load_gives_identical_codes(fitted, small, tmp_path):
    path = fitted.save(tmp_path / "model")
    assert path.name == "model.safetensors" and (tmp_path / "model.json").exists()
    for name in ("model", "model.safetensors", "model.json"):
        again = load(tmp_path / name)
        xr.testing.assert_equal(again.encode(small.data), fitted.encode(small.data))
    assert again.get_params() == fitted.get_params()
    assert again.neuron_coords_ == fitted.neuron_coords_


def test_fit_is_deterministic_under_a_seed(small):
    a = SAE(**FAST, seed=3).fit(small.data)
    b = SAE(**FAST, seed=3).fit(small.data)
    np.testing.assert_array_equal(a.dictionary, b.dictionary)
    assert a.history_["val_loss"] == b.history_["val_loss"]


def test_split_is_by_presentation_and_seeded():
    train, val = split_presentations(50, 0.2, seed=4)
    assert len(val) == 10 and not set(train) & set(val) and len(train) + len(val) == 50
    np.testing.assert_array_equal(val, split_presentations(50, 0.2, seed=4)[1])
    assert not np.array_equal(val, split_presentations(50, 0.2, seed=5)[1])


def test_numpy_input_works(small):
    sae = SAE(**FAST).fit(small.data.values)
    assert sae.encode(small.data.values).dims == ("latents", "time", "presentations")


def test_resume_continues_an_interrupted_fit(small, tmp_path):
    class Stop(Exception):
        pass

    def interrupt(sae, row):
        if row["epoch"] == 2:
            raise Stop

    settings = dict(FAST, epochs=4, patience=100)
    with pytest.raises(Stop):
        SAE(**settings).fit(small.data, checkpoint_dir=tmp_path, callback=interrupt)
    resumed = SAE(**settings).fit(small.data, checkpoint_dir=tmp_path, resume=True)
    straight = SAE(**settings).fit(small.data)
    assert resumed.history_["epoch"] == [1, 2, 3, 4]
    np.testing.assert_allclose(resumed.history_["val_loss"], straight.history_["val_loss"], rtol=1e-4)
    np.testing.assert_allclose(resumed.dictionary, straight.dictionary, atol=1e-4)


def test_best_epoch_weights_are_kept(small, tmp_path):
    sae = SAE(**dict(FAST, epochs=5)).fit(small.data, checkpoint_dir=tmp_path)
    best = int(np.argmin(sae.history_["val_loss"])) + 1
    assert sae.best_epoch_ == best
    np.testing.assert_allclose(load(tmp_path / "best_model").dictionary, sae.dictionary)


@pytest.mark.parametrize("activation", ["topk", "batchtopk", "relu"])
def test_seeded_recovery_problem_reaches_high_mmcs(activation):
    """A small planted-dictionary problem each activation must solve (a correctness check, not a timing)."""
    rec = make_recording(n_neurons=20, n_atoms=16, n_time=40, n_presentations=200, active=(1, 3),
                         snr_db=15, seed=7)
    # the ensemble fit's epochs cap its whole final fit (it used to run two fits of that many epochs)
    epochs = 50 if activation == "batchtopk" else 25
    sae = SAE(n_latents=48, activation=activation, k=3, epochs=epochs, progress=False, seed=0).fit(rec.data)
    report = metrics.recovery_report(sae.dictionary, rec.dictionary)
    assert report["mmcs"] > 0.95, report


# -- bad input -----------------------------------------------------------------------------------

def test_wrong_number_of_dimensions():
    with pytest.raises(InputDataError, match="3 dimensions"):
        SAE(**FAST).fit(np.zeros((4, 5, 6, 7)))


def test_nan_and_inf_are_named():
    data = make_recording(n_neurons=8, n_atoms=8, n_time=5, n_presentations=10).data.copy()
    data[3, 2, 1] = np.nan
    with pytest.raises(InputDataError, match=r"NaN/Inf.*first ids: \[3\]"):
        SAE(**FAST).fit(data)


def test_constant_neuron_is_dropped_by_name_and_skipped_at_encoding(tmp_path):
    data = make_recording(n_neurons=8, n_atoms=8, n_time=5, n_presentations=10).data.copy()
    data[5] = 2.0
    data[2] = np.nan
    with pytest.warns(UserWarning, match=r"dropped 2 of 8 neurons that are constant and all-NaN.*ids: \[2, 5\]"):
        sae = SAE(**FAST).fit(data)
    assert sae.n_neurons == 6 and sae.n_features_in_ == 8
    assert sae.data_attrs_["dropped_neurons"] == [2, 5]
    assert sae.neuron_coords_["id"] == [0, 1, 3, 4, 6, 7]
    sae.save(tmp_path / "m")
    back = load(tmp_path / "m")
    assert back.data_attrs_["dropped_neurons"] == [2, 5] and back.n_features_in_ == 8
    codes = back.encode(data)  # the full input: the model picks its 6 neurons by id (NaN neuron ignored)
    np.testing.assert_allclose(codes.values, sae.encode(data.drop_sel(neurons=[2, 5])).values, rtol=1e-5)
    with pytest.raises(InputDataError, match=r"model's neuron ids \[7\] are not in it"):
        back.encode(data.drop_sel(neurons=[7]))


def test_too_few_presentations_to_split():
    data = make_recording(n_neurons=8, n_atoms=8, n_time=50, n_presentations=1).data
    with pytest.raises(InputDataError, match="cannot be split"):
        SAE(**FAST).fit(data)
    SAE(**dict(FAST, val_fraction=0)).fit(data)


def test_encode_with_wrong_neuron_count(fitted):
    with pytest.raises(InputDataError, match="has 15 neurons, but the model was trained on 16"):
        fitted.encode(np.zeros((15, 4, 2)))


def test_unfitted_and_bad_settings():
    with pytest.raises(NwbSaeError, match="not fitted"):
        SAE().encode(np.zeros((4, 4, 4)))
    with pytest.raises(TypeError, match="embeding_dim"):
        SAE(embeding_dim=3)
    with pytest.raises(ValueError, match="activation"):  # checked by fit, as in scikit-learn
        SAE(activation="gelu").fit(np.ones((4, 4, 4)))
    with pytest.raises(ValueError, match="Invalid parameter"):
        SAE().set_params(embeding_dim=3)


def test_missing_and_corrupt_checkpoints(fitted, tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load(tmp_path / "nothing.safetensors")
    path = fitted.save(tmp_path / "m")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="is truncated: 100 bytes"):
        load(path)
    fitted.save(tmp_path / "n")
    (tmp_path / "n.json").unlink()
    with pytest.raises(CheckpointError, match="settings file"):
        load(tmp_path / "n.safetensors")


def test_legacy_pt_loads_weights_only(tmp_path):
    """A state dict of the original design loads; a pickled object is refused, never executed."""
    enc, dec = torch.nn.Linear(6, 20), torch.nn.Linear(20, 6)
    state = {"encoder.weight": enc.weight.data, "encoder.bias": enc.bias.data,
             "decoder.weight": dec.weight.data, "decoder.bias": dec.bias.data}
    torch.save(state, tmp_path / "legacy.pt")
    sae = load(tmp_path / "legacy.pt")
    x = torch.randn(7, 6)
    want = dec(torch.relu(enc(x))).detach().numpy()
    got = sae.decode_samples(sae.encode_samples(x.numpy()))
    np.testing.assert_allclose(got, want, atol=1e-5)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"model": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="weights_only"):
        load(tmp_path / "evil.pt")


# -- the scikit-learn contract -------------------------------------------------------------------

@pytest.fixture(scope="module")
def x2d(small):
    """Population vectors (samples, neurons), scikit-learn's layout."""
    return population_vectors(small.data)


def test_init_signature_is_every_setting_with_the_config_defaults():
    import dataclasses
    import inspect

    from nwb_sae.config import ModelConfig, TrainConfig

    params = inspect.signature(SAE).parameters
    fields = [f for cls in (ModelConfig, TrainConfig) for f in dataclasses.fields(cls)]
    assert list(params) == [f.name for f in fields]
    assert {n: p.default for n, p in params.items()} == {f.name: f.default for f in fields}


def test_clone_copies_parameters_not_fitted_state(fitted):
    from sklearn.base import clone

    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params() and copy is not fitted
    assert not hasattr(copy, "model_") and not hasattr(copy, "components_")
    assert clone(SAE(k=2)).set_params(k=5).k == 5


def test_two_d_samples_in_two_d_numpy_out(x2d):
    sae = SAE(**FAST).fit(x2d)
    assert sae.n_features_in_ == 16 and sae.components_.shape == (48, 16)
    np.testing.assert_array_equal(sae.components_, sae.dictionary)
    codes = sae.transform(x2d)
    assert isinstance(codes, np.ndarray) and codes.shape == (x2d.shape[0], 48)
    assert sae.inverse_transform(codes).shape == x2d.shape
    score = sae.score(x2d)
    assert isinstance(score, float)
    assert score == pytest.approx(1 - metrics.fvu(x2d, sae.reconstruct(x2d)), abs=1e-6)
    assert sae.report(x2d)["fvu"] == pytest.approx(1 - score)
    assert sae.data_attrs_["n_presentations"] == x2d.shape[0]  # each row is its own presentation


def test_score_is_higher_for_the_better_model(fitted, small):
    """score = 1 - FVU: the fitted model beats one trained for a single step."""
    barely = SAE(**dict(FAST, epochs=1, batch_size=4096, warmup_steps=1000)).fit(small.data)
    assert fitted.score(small.data) > barely.score(small.data)
    assert fitted.report(small.data).keys() == {"fvu", "l0", "dead_fraction", "dense_fraction"}


def test_grid_search_selects_k(x2d):
    from sklearn.model_selection import GridSearchCV

    search = GridSearchCV(SAE(n_latents=16, epochs=2, progress=False, device="cpu"), {"k": [1, 3]}, cv=2)
    search.fit(x2d)
    assert search.best_params_["k"] in (1, 3)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_estimator_.components_.shape == (16, 16)
