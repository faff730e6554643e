"""The torch module: unit-norm decoder, sparse activations, sparse/dense agreement."""

from __future__ import annotations

import pytest
import torch

from nwb_sae.config import ModelConfig
from nwb_sae.model import SparseAutoencoder


def make(activation="topk", n_inputs=12, n_latents=40, k=3):
    torch.manual_seed(0)
    return SparseAutoencoder(n_inputs, ModelConfig(n_latents=n_latents, activation=activation, k=k))


@pytest.mark.parametrize("activation", ["topk", "batchtopk", "relu"])
def test_decoder_rows_stay_unit_norm_after_training_steps(activation):
    model = make(activation)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = torch.randn(256, 12) * 3
    for _ in range(20):
        out = model(x, dead=torch.ones(40, dtype=torch.bool), aux_coefficient=0.1)
        opt.zero_grad()
        out.loss.backward()
        model.remove_parallel_gradient_()
        opt.step()
        model.normalize_decoder_()
        norms = model.W_dec.detach().norm(dim=1)
        assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5)


def test_topk_keeps_at_most_k_latents_and_matches_dense_decoding():
    model = make("topk", k=3)
    x = torch.randn(50, 12)
    codes = model.encode(x)
    assert int((codes > 0).sum(dim=1).max()) <= 3
    out = model(x)
    # the sparse training path and the dense inference path reconstruct the same thing
    assert torch.allclose(out.recon, model.decode(codes), atol=1e-5)
    assert out.l0 == pytest.approx(float((codes > 0).sum()) / 50)


def test_sparse_gradients_equal_dense_gradients():
    model = make("topk", k=4)
    x = torch.randn(30, 12)
    model(x).loss.backward()
    sparse = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    pre = model.pre_activations(x)
    cols = pre.detach().topk(4, dim=1).indices
    mask = torch.zeros_like(pre).scatter_(1, cols, 1.0)
    acts = torch.relu(pre) * mask
    (model.decode(acts) - x).pow(2).mean().backward()
    for got, want in zip(sparse, [p.grad for p in model.parameters()], strict=True):
        assert torch.allclose(got, want, atol=1e-6)


def test_batchtopk_keeps_k_per_sample_on_average_and_sets_a_threshold():
    model = make("batchtopk", k=3)
    x = torch.randn(200, 12)
    out = model(x)
    assert out.l0 <= 3.0 + 1e-6
    assert float(model.threshold) > 0
    codes = model.encode(x)
    assert torch.all(codes[codes > 0] > model.threshold)


def test_normalisation_round_trip():
    model = make()
    model.input_mean.copy_(torch.linspace(-2, 5, 12))
    model.input_scale.copy_(torch.linspace(0.5, 3, 12))
    x = torch.randn(10, 12) * 4 + 1
    assert torch.allclose(model.denormalize(model.normalize(x)), x, atol=1e-5)


def test_encoder_starts_tied_to_decoder():
    model = make()
    assert torch.equal(model.W_enc, model.W_dec)
