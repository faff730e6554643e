"""The fleet's hand-written training step and its per-instance early stopping, on tiny cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nwb_sae.stats.significance import ShiftNull, circular_shift
from nwb_sae.training import fleet as fleet_module
from nwb_sae.training import step as step_module
from nwb_sae.training.fleet import InstanceSpec, _val_mse, fit_fleet
from nwb_sae.training.step import active_latents
from nwb_sae.training.step import gradients as _gradients
from nwb_sae.training.step import pre_activations as _pre


def _direct_loss(xb, W_enc, b_enc, W_dec, b_dec, mask, theta, ranks=None):
    """The per-instance mean squared error written the plain way (autograd differentiates it)."""
    pre = torch.relu(torch.baddbmm(b_enc.unsqueeze(1), xb.unsqueeze(0) - b_dec.unsqueeze(1),
                                   W_enc.transpose(1, 2))) * mask.unsqueeze(1)
    if ranks is None:
        codes = pre * (pre > theta.view(-1, 1, 1))
    else:  # each instance keeps its ranks[i] largest pre-activations of every sample
        codes = torch.stack([torch.zeros_like(p).scatter(1, p.topk(int(r), dim=1).indices,
                                                         p.topk(int(r), dim=1).values)
                             for p, r in zip(pre, ranks, strict=True)])
    return (torch.baddbmm(b_dec.unsqueeze(1), codes, W_dec) - xb).pow(2).mean(dim=(1, 2))


def _weights(n_inst=3, n_lat=5, n_in=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    tensors = [torch.randn(n_inst, n_lat, n_in, generator=g) / 3, torch.randn(n_inst, n_lat, generator=g) / 5,
               torch.randn(n_inst, n_lat, n_in, generator=g) / 3, torch.randn(n_inst, n_in, generator=g) / 5]
    mask = torch.ones(n_inst, n_lat)
    mask[0, 3:] = 0  # the first instance has fewer latents: its padding must get no gradient
    return tensors, mask, torch.tensor([0.05, 0.1, 0.2])


def _check_against_autograd(weights, mask, theta, xb, ranks=None):
    """The hand-written gradients and validation error equal autograd's and the plain error; the step's
    active counts and fired latents equal those of the pre-activations."""
    params = [p.clone().requires_grad_(True) for p in weights]
    _direct_loss(xb, *params, mask, theta, ranks).sum().backward()
    grads, counts, fired = _gradients(xb, *weights, mask, theta, ranks)
    for p, g in zip(params, grads, strict=True):
        torch.testing.assert_close(g, p.grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(_val_mse(xb, *weights, mask, theta, ranks),
                               _direct_loss(xb, *weights, mask, theta, ranks), rtol=1e-4, atol=1e-6)
    pre = _pre(xb, weights[0], weights[1], weights[3], mask)
    active = active_latents(pre, theta, ranks) if ranks is not None \
        else pre > theta.view(-1, 1, 1)
    torch.testing.assert_close(counts, active.sum(dim=(1, 2)))
    assert torch.equal(fired, active.any(dim=1))
    return fired


def test_hand_written_gradients_equal_autograd():
    weights, mask, theta = _weights()
    fired = _check_against_autograd(weights, mask, theta, torch.randn(64, 7, generator=torch.Generator().manual_seed(1)))
    assert not fired[0, 3:].any()


def test_pre_activations_of_shared_and_per_instance_inputs_agree():
    (W_enc, b_enc, _, b_dec), mask, _ = _weights()
    x = torch.randn(20, 7)
    torch.testing.assert_close(_pre(x, W_enc, b_enc, b_dec, mask), _pre(x.expand(3, 20, 7), W_enc, b_enc, b_dec, mask))


def test_a_fleet_learns_a_planted_dictionary_and_stops_each_instance_on_its_own():
    rng = np.random.default_rng(0)
    atoms = np.zeros((3, 12))
    for i in range(3):
        atoms[i, 4 * i:4 * i + 4] = 0.5
    events = rng.random((6000, 3)) < 0.08
    x = torch.as_tensor(events @ atoms * 4 + 0.3 * rng.standard_normal((6000, 12)), dtype=torch.float32)
    epochs = []
    fleet = fit_fleet(x[:5000], x[5000:], [InstanceSpec(3, 0.25, 0), InstanceSpec(6, 0.25, 1)],
                      batch_size=256, min_steps=200, max_epochs=100, patience=2,
                      progress=lambda e, v: epochs.append(v))
    learned = fleet.W_dec[0][fleet.latent_mask[0]].numpy()
    cos = np.abs(learned @ atoms.T / np.linalg.norm(atoms, axis=1))
    assert (cos.max(axis=0) > 0.9).all()
    assert fleet.val_mse.shape == (2,) and len(epochs) == fleet.epochs  # one progress call per epoch here
    assert fleet.epochs < 100  # stopped early, before the epoch budget


def test_shift_null_exact_moments_match_many_random_shifts():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3000, 8)).cumsum(axis=0)  # independent random walks: strongly autocorrelated
    atoms = rng.standard_normal((5, 8))
    exact = ShiftNull(x).test(atoms)
    sampled = ShiftNull(x, n_shifts=3000, seed=4).test(atoms)
    np.testing.assert_allclose(exact.null_std, sampled.null_std, rtol=0.1)
    np.testing.assert_allclose(exact.statistic, sampled.statistic)
    shifted = circular_shift(x, rng)  # the null's own data: no atom is significant on it
    assert (ShiftNull(shifted).test(atoms).q_value > 0.05).all()


@pytest.mark.parametrize("density", [0.0, 1.0], ids=["products", "gathered"])
def test_hand_written_gradients_equal_autograd_with_more_latents_than_neurons(monkeypatch, density):
    monkeypatch.setattr(step_module, "SPARSE_DENSITY", density)
    weights, mask, theta = _weights(n_lat=9, n_in=4, seed=5)
    _check_against_autograd(weights, mask, theta, torch.randn(32, 4, generator=torch.Generator().manual_seed(6)))


@pytest.mark.parametrize("density", [0.0, 1.0], ids=["products", "gathered"])
def test_topk_instances_keep_their_k_largest_and_their_gradients_equal_autograd(monkeypatch, density):
    """Per-sample TopK instances (the dense path) with different k: the same step, the rank as the cut."""
    monkeypatch.setattr(step_module, "SPARSE_DENSITY", density)
    weights, mask, _ = _weights(n_lat=9, n_in=4, seed=7)
    ranks = torch.tensor([1, 2, 3])
    xb = torch.randn(32, 4, generator=torch.Generator().manual_seed(8))
    _check_against_autograd(weights, mask, torch.zeros(3), xb, ranks)
    active = active_latents(_pre(xb, weights[0], weights[1], weights[3], mask), torch.zeros(3), ranks)
    assert (active.sum(dim=2) <= ranks.view(-1, 1)).all() and (active.sum(dim=2)[1:] == ranks[1:, None]).all()


def test_a_small_recording_is_checked_after_rounds_of_several_passes():
    """300 samples make one step an epoch: validation and revival wait for ROUND_SAMPLES samples."""
    x = torch.randn(400, 6, generator=torch.Generator().manual_seed(2))
    rounds = []
    fleet = fit_fleet(x[:300], x[300:], [InstanceSpec(4, 0.5, 0)], batch_size=256, min_steps=40, max_epochs=1000,
                      progress=lambda r, v: rounds.append(r))
    passes = -(-fleet_module.ROUND_SAMPLES // 256)
    assert fleet.epochs == len(rounds) * passes and rounds == list(range(1, len(rounds) + 1))
    capped = fit_fleet(x[:300], x[300:], [InstanceSpec(4, 0.5, 0)], batch_size=256, max_epochs=2,
                       raise_epochs=False)
    assert capped.epochs == 2  # the user's epochs are the budget, each one checked
