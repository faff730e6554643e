"""find_ensembles end to end on planted assemblies and on independent neurons."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nwb_sae.config import ModelConfig
from nwb_sae.ensembles import find_ensembles, load_weights, same_ensembles
from nwb_sae.ensembles.dense import _pick_dense
from nwb_sae.metrics import assembly_report, cosine_matrix
from nwb_sae.model import SparseAutoencoder
from nwb_sae.synthetic import make_assemblies
from nwb_sae.training.fleet import InstanceSpec, encode, fit_fleet


def split(data, seed=0):
    """Normalised training / held-out samples and the held-out presentation index, as SAE.fit makes them."""
    x = data.transpose("presentations", "time", "neurons").values.astype(np.float64)
    order = np.random.default_rng(seed).permutation(x.shape[0])
    n_val = x.shape[0] // 5
    val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    xt, xv = x[train].reshape(-1, x.shape[2]), x[val].reshape(-1, x.shape[2])
    mean, std = xt.mean(axis=0), xt.std(axis=0)
    return (xt - mean) / std, (xv - mean) / std, np.repeat(np.arange(n_val), x.shape[1])


@pytest.fixture(scope="module")
def assemblies():
    return make_assemblies(n_neurons=30, n_assemblies=3, members=6, overlap=0.0, duration=400.0,
                           n_presentations=50, seed=11)


@pytest.fixture(scope="module")
def found(assemblies):
    return find_ensembles(*split(assemblies.data), seed=0)


def test_every_planted_assembly_is_a_significant_ensemble(assemblies, found):
    sig = found.weights["W_dec"][found.significant]
    cos = cosine_matrix(sig, assemblies.assemblies)
    assert (cos.max(axis=1) >= 0.9).all()  # every planted assembly found
    assert (cos.max(axis=0) >= 0.9).mean() >= 0.9  # and the reported ones are planted ones
    table = found.latent_table
    assert {"frequency", "mean_activation", "p_value", "q_value", "significant", "stability"} <= set(table)
    assert len(table) == found.n_latents and table["significant"].sum() == found.significant.sum()
    assert found.selection_curve["chosen"].sum() == 2 and found.mp_count >= 3
    assert found.activation == "batchtopk"  # few ensembles, mostly silent bins: the threshold code


def test_independent_neurons_give_no_ensemble():
    rec = make_assemblies(n_neurons=30, n_assemblies=0, duration=400.0, n_presentations=50, seed=12)
    assert not find_ensembles(*split(rec.data), seed=0).significant.any()


def test_another_seed_reports_the_same_ensembles(assemblies, found):
    again = find_ensembles(*split(assemblies.data, seed=1), seed=1)
    a, b = found.weights["W_dec"][found.significant], again.weights["W_dec"][again.significant]
    assert min(same_ensembles(a, b), same_ensembles(b, a)) >= 0.9


def test_weights_load_into_the_package_model_and_encode_the_same():
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.normal(size=(3000, 12)), dtype=torch.float32)
    fleet = fit_fleet(x[:2400], x[2400:], [InstanceSpec(8, 0.5, 0)], max_epochs=2, min_steps=0)
    model = SparseAutoencoder(12, ModelConfig(n_latents=8, activation="batchtopk", k=0.5))
    load_weights(model, fleet.instance(0))
    torch.testing.assert_close(model.encode(x[2400:]), encode(fleet, x[2400:])[0])
    assert 0.3 < float((model.encode(x[:2400]) > 0).sum(1).float().mean()) < 0.7


def test_explicit_size_and_sparsity_skip_the_selection():
    rng = np.random.default_rng(2)
    x = rng.poisson(0.2, (4000, 10)).astype(float)
    x[rng.random(4000) < 0.05, :4] += 2
    x = (x - x.mean(0)) / x.std(0)
    result = find_ensembles(x[:3200], x[3200:], np.repeat(np.arange(8), 100), n_latents=4, k=0.1,
                            n_seeds=1, fit_kwargs=dict(max_epochs=3))
    assert (result.n_latents, result.k, result.selection_curve) == (4, 0.1, None)
    assert result.latent_table["stability"].eq(1.0).all() and len(result.latent_table) == 4


def test_ties_of_the_score_go_to_the_lowest_masked_error():
    from nwb_sae.ensembles.selection import _pick

    assert _pick(np.array([7, 6, 7, 7, 2]), np.array([0.98, 0.95, 0.92, 0.74, 0.70])) == 3
    assert _pick(np.array([3, 20, 19]), np.array([0.1, 0.9, 0.8])) == 2  # 19 is within 10% of 20
    assert _pick(np.array([3, 20, 15]), np.array([0.1, 0.9, 0.8])) == 1


def test_the_dense_k_is_the_densest_that_predicts_hidden_activity_as_well_as_the_best():
    # k = 8 predicts clearly worse (copies fill its slots); of 2, 4 and 6, within 10% of the best
    # error, the densest wins: a too small k blends its ensembles without a worse error
    assert _pick_dense([2, 4, 6, 8], np.array([0.351, 0.350, 0.38, 0.42])) == 2
    assert _pick_dense([2, 4], np.array([0.522, 0.527])) == 1
    assert _pick_dense([2, 4], np.array([0.40, 0.52])) == 0  # 4 is 30% worse: 2


def test_more_assemblies_than_neurons_take_the_dense_path_and_are_found():
    """30 assemblies of 5 in 20 neurons: every bin mixes several, the threshold code merges them."""
    rec = make_assemblies(n_neurons=20, n_assemblies=30, members=5, overlap=None, duration=300.0,
                          n_presentations=50, seed=11)
    result = find_ensembles(*split(rec.data), seed=0)
    assert result.activation == "topk" and result.n_latents == 80  # LATENTS_PER_NEURON per neuron
    assert "dense k" in set(result.selection_curve["sweep"]) and result.selection_curve["chosen"].sum() == 1
    report = assembly_report(result.weights["W_dec"][result.significant], rec.assemblies)
    assert report["found_0.9"] >= 0.8 and report["precision"] >= 0.8


def test_a_saturated_dense_dictionary_is_fitted_again_twice_as_wide(monkeypatch):
    """A dense dictionary that reports more ensembles than its width leaves room for is refitted wider,
    once, and the wider fit is kept only when it reports more (here the saturation bound is 0, so the
    width is always tried)."""
    import torch

    from nwb_sae.ensembles import dense

    monkeypatch.setattr(dense, "SATURATED", 0.0)
    rec = make_assemblies(n_neurons=12, n_assemblies=10, members=4, overlap=None, duration=120.0,
                          n_presentations=40, seed=3)
    xt, xv, groups = split(rec.data)
    names = np.unique(groups)
    tune = np.isin(groups, names[0::2])
    as_tensor = lambda a: torch.as_tensor(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
    weights, n_latents, k, table, _, curve = dense.find_dense_ensembles(
        as_tensor(xt), as_tensor(xv[tune]), xv[~tune], n_seeds=2, seed=0,
        fit_kwargs={"max_steps": 200})
    width = curve[curve["sweep"] == "dense width"]
    assert len(width) == 1 and int(width["n_latents"].iloc[0]) == 2 * dense.LATENTS_PER_NEURON * 12
    assert n_latents == (int(width["n_latents"].iloc[0]) if bool(width["chosen"].iloc[0]) else 48)
    assert weights["W_dec"].shape == (n_latents, 12) and len(table) == n_latents
    assert curve["chosen"].sum() == 1


def test_held_out_activity_predicted_best_by_four_or_more_ensembles_per_bin_is_mixed():
    import pandas as pd

    from nwb_sae.ensembles.find import _mixed

    def curve(errors):
        ks = [1 / 4, 1 / 2, 1, 2, 4, 8]
        return pd.DataFrame({"sweep": "k", "k": ks, "masked_error": errors, "trustworthy": 5,
                             "chosen": [k == 1 / 2 for k in ks]})

    assert _mixed(curve([0.99, 0.97, 0.95, 0.93, 0.92, 0.93]))        # lowest at k = 4
    assert not _mixed(curve([0.93, 0.86, 0.71, 0.70, 0.75, 0.77]))    # lowest at k = 2: threshold code
    assert not _mixed(curve([0.93, 0.71, 0.72, 0.73, 0.74, 0.74]))


def test_a_lowest_error_within_noise_of_one_ensemble_per_bin_is_not_mixed():
    import pandas as pd

    from nwb_sae.ensembles.find import _mixed, _wants_denser

    ks = [1 / 4, 1 / 2, 1, 2, 4, 8]
    errors = [0.98, 0.970, 0.973, 0.963, 0.977, 0.962]  # deconvolved calcium: flat, lowest at k = 8

    def curve(z):
        return pd.DataFrame({"sweep": "k", "k": ks, "masked_error": errors, "error_excess_z": z,
                             "trustworthy": 4, "chosen": [k == 1 / 2 for k in ks]})

    noisy = curve([1.7, 0.7, 1.4, 0.2, 3.9, 0.0])      # k = 1/2 within one standard error of the lowest
    assert not _mixed(noisy) and not _wants_denser(noisy)
    resolved = curve([17.0, 12.0, 9.6, 4.7, 3.9, 0.0])  # every k <= 1 clearly worse: bins mix ensembles
    assert _mixed(resolved) and _wants_denser(resolved)


def test_error_excess_z_is_paired_over_presentations():
    import numpy as np

    from nwb_sae.ensembles.selection import error_excess_z

    rng = np.random.default_rng(0)
    hard = rng.uniform(0.5, 1.5, 40)                 # presentations differ far more than the candidates
    per_group = np.stack([hard, hard + 0.01 + rng.normal(0, 0.001, 40), hard + 0.01 + rng.normal(0, 0.05, 40)])
    z = error_excess_z(per_group)
    assert z[0] == 0 and z[1] > 20                   # a small but consistent excess is resolved
    assert abs(z[2]) < 3                             # a noisy one of the same mean is not
    assert np.all(error_excess_z(per_group[:, :1]) == 0)
