"""Several BatchTopK sparse autoencoders trained together, as one model with an instance axis.

Model selection and seed stability need many small fits of the same data. Fitted one after the other
they cost one pass over the data each; stacked on an instance axis (``torch.baddbmm``) they share every
batch, every Python step and the CPU's vector units, which on a small machine is several times faster.

Each instance is a threshold autoencoder with a unit-norm decoder, trained like BatchTopK but without
its per-batch sort: an activation is kept when it exceeds the instance's threshold, and after every
step the threshold moves so that the mean number of active latents per sample tracks ``k`` (which may
be below one). Training and inference use the same rule; at the end the threshold is calibrated
exactly on the training samples. A time bin in which no ensemble is active is coded as all zeros. Instances may have different numbers
of latents (the extra slots of smaller ones are masked out), different ``k`` and different seeds.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

MAX_EPOCHS_FOR_STEPS = 200
"""``min_steps`` raises the epoch budget up to this many epochs, no further."""


class InstanceSpec(NamedTuple):
    """Shape, sparsity and seed of one instance."""

    n_latents: int
    k: float
    seed: int


class Fleet(NamedTuple):
    """Weights of fitted instances (padded to the largest ``n_latents``; see ``latent_mask``)."""

    specs: list[InstanceSpec]
    W_enc: torch.Tensor
    """(instances, latents, neurons)."""
    b_enc: torch.Tensor
    """(instances, latents)."""
    W_dec: torch.Tensor
    """(instances, latents, neurons), unit-norm rows."""
    b_dec: torch.Tensor
    """(instances, neurons)."""
    threshold: torch.Tensor
    """(instances,): activations at or below it are zero at inference."""
    latent_mask: torch.Tensor
    """(instances, latents) bool: the instance's real latents."""
    epochs: int
    """Epochs run."""

    def instance(self, i: int) -> dict:
        """Weights of instance ``i`` without padding, as numpy arrays (keys as in ``SparseAutoencoder``)."""
        keep = self.latent_mask[i]
        return {"W_enc": self.W_enc[i][keep].numpy(), "b_enc": self.b_enc[i][keep].numpy(),
                "W_dec": self.W_dec[i][keep].numpy(), "b_dec": self.b_dec[i].numpy(),
                "threshold": float(self.threshold[i])}


def _pre(x: torch.Tensor, W_enc, b_enc, b_dec, mask) -> torch.Tensor:
    """ReLU pre-activations (instances, batch, latents); masked latents are 0."""
    xs = x.unsqueeze(0) - b_dec.unsqueeze(1) if x.dim() == 2 else x - b_dec.unsqueeze(1)
    pre = torch.relu(torch.baddbmm(b_enc.unsqueeze(1), xs, W_enc.transpose(1, 2)))
    return pre * mask.unsqueeze(1)


def _batch_topk(pre: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Keep, per instance, its ``counts[i]`` largest entries of the whole (batch, latents) slab."""
    flat = pre.detach().reshape(pre.shape[0], -1)
    top = flat.topk(int(counts.max()), dim=1, sorted=True).values
    cut = top.gather(1, (counts - 1).unsqueeze(1))  # the smallest kept value of each instance
    keep = (pre >= cut.unsqueeze(2)) & (pre > 0)
    return pre * keep


def encode(fleet_or_weights, x: torch.Tensor, batch_size: int = 8192) -> torch.Tensor:
    """Inference codes (instances, samples, latents) of normalised samples ``x`` (samples, neurons)."""
    f = fleet_or_weights
    out = []
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            pre = _pre(x[start:start + batch_size], f.W_enc, f.b_enc, f.b_dec, f.latent_mask)
            out.append(pre * (pre > f.threshold.view(-1, 1, 1)))
    return torch.cat(out, dim=1)


def decode(fleet: Fleet, codes: torch.Tensor) -> torch.Tensor:
    """Reconstructions (instances, samples, neurons) of codes (instances, samples, latents)."""
    return torch.baddbmm(fleet.b_dec.unsqueeze(1), codes, fleet.W_dec)


def _init_decoder(x: torch.Tensor, n_inputs: int, n_max: int, specs, b_dec: torch.Tensor) -> torch.Tensor:
    """Atoms start at the directions of random high-norm samples (mostly single ensemble events)."""
    centred = x - b_dec
    norms = centred.norm(dim=1)
    pool = torch.nonzero(norms >= torch.quantile(norms[:65536], 0.9)).squeeze(1)
    atoms = torch.empty(len(specs), n_max, n_inputs)
    for i, spec in enumerate(specs):
        g = torch.Generator().manual_seed(spec.seed)
        pick = pool[torch.randint(0, len(pool), (n_max,), generator=g)]
        atoms[i] = centred[pick] + 0.1 * torch.randn(n_max, n_inputs, generator=g)
    return atoms / atoms.norm(dim=2, keepdim=True).clamp_min(1e-8)


def _calibrate(W_enc, b_enc, b_dec, mask, x, specs, batch_size=8192) -> torch.Tensor:
    """Per-instance threshold whose inference-time mean L0 on ``x`` equals ``k``."""
    thresholds = torch.zeros(len(specs))
    sample = x[:65536]
    with torch.no_grad():
        pre = torch.cat([_pre(sample[s:s + batch_size], W_enc, b_enc, b_dec, mask)
                         for s in range(0, sample.shape[0], batch_size)], dim=1)
        for i, spec in enumerate(specs):
            count = max(1, int(round(spec.k * sample.shape[0])))
            values = pre[i].reshape(-1)
            values = values[values > 0]
            if values.numel() == 0:
                continue
            count = min(count, values.numel())
            thresholds[i] = values.topk(count).values[-1] * (1 - 1e-6)
    return thresholds


def fit_fleet(x_train: torch.Tensor, x_val: torch.Tensor, specs: list[InstanceSpec], *,
              max_epochs: int = 20, patience: int = 3, batch_size: int = 1024, lr: float = 4e-3,
              min_steps: int = 500, raise_epochs: bool = True, init: Fleet | None = None,
              progress=None) -> Fleet:
    """Fit one BatchTopK autoencoder per spec on the same normalised samples.

    Parameters
    ----------
    x_train, x_val : torch.Tensor
        Normalised samples (samples, neurons), float32 on the CPU or one device.
    specs : list of InstanceSpec
        One (n_latents, k, seed) per instance.
    max_epochs, patience : int
        Each instance keeps the weights of its best validation epoch; training stops when no instance
        improved for ``patience`` epochs (and at least ``min_steps`` optimisation steps were taken;
        ``max_epochs`` is raised when it allows fewer, up to :data:`MAX_EPOCHS_FOR_STEPS`, unless
        ``raise_epochs`` is False).
    batch_size : int
        Samples per step, shared by all instances.
    lr : float
        Adam learning rate (after a linear warm-up of 50 steps).
    init : Fleet, optional
        Start from these weights and thresholds (same specs) instead of a fresh initialisation.
    progress : callable, optional
        ``progress(epoch, val_mse)`` after each epoch.

    Returns
    -------
    Fleet
    """
    n, n_inputs = x_train.shape
    n_inst, n_max = len(specs), max(s.n_latents for s in specs)
    mask = torch.tensor([[j < s.n_latents for j in range(n_max)] for s in specs], dtype=x_train.dtype)
    b_dec0 = x_train[:65536].median(dim=0).values
    if init is None:
        W_dec = torch.nn.Parameter(_init_decoder(x_train, n_inputs, n_max, specs, b_dec0))
        W_enc = torch.nn.Parameter(W_dec.detach().clone())
        b_enc = torch.nn.Parameter(torch.zeros(n_inst, n_max))
        b_dec = torch.nn.Parameter(b_dec0.repeat(n_inst, 1))
    else:
        W_enc, b_enc, W_dec, b_dec = (torch.nn.Parameter(t.clone()) for t in init[1:5])
    params = [W_enc, b_enc, W_dec, b_dec]
    optimizer = torch.optim.Adam(params, lr=lr)
    batch_size = min(batch_size, n)
    counts = torch.tensor([max(1, int(round(s.k * batch_size))) for s in specs])
    target = torch.tensor([s.k for s in specs], dtype=x_train.dtype)
    theta = None if init is None else init.threshold.clone()
    steps_per_epoch = max(1, n // batch_size)
    min_epochs = min(math.ceil(min_steps / steps_per_epoch), MAX_EPOCHS_FOR_STEPS)
    max_epochs = max(max_epochs, min_epochs if raise_epochs else 1, 1)  # min_steps wins over max_epochs
    best = [p.detach().clone() for p in params]
    best_val = torch.full((n_inst,), math.inf)
    since_best = 0
    step = 0
    generator = torch.Generator().manual_seed(specs[0].seed)
    epoch = 0
    for epoch in range(1, max_epochs + 1):
        order = torch.randperm(n, generator=generator)
        fired = torch.zeros(n_inst, n_max, dtype=torch.bool)
        for i in range(steps_per_epoch):
            xb = x_train[order[i * batch_size:(i + 1) * batch_size]]
            for group in optimizer.param_groups:
                group["lr"] = lr * min(1.0, (step + 1) / 50)
            pre = _pre(xb, W_enc, b_enc, b_dec, mask)
            if theta is None:  # start at the batch top-k cut
                kept = _batch_topk(pre.detach(), counts)
                theta = kept.masked_fill(kept <= 0, math.inf).reshape(n_inst, -1).min(dim=1).values
                theta = torch.where(torch.isfinite(theta), theta, torch.ones_like(theta)) * (1 - 1e-6)
            codes = pre * (pre > theta.view(-1, 1, 1))
            recon = torch.baddbmm(b_dec.unsqueeze(1), codes, W_dec)
            loss = (recon - xb).pow(2).mean(dim=(1, 2)).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            with torch.no_grad():  # keep decoder rows on the unit sphere: drop the radial gradient
                W_dec.grad -= (W_dec.grad * W_dec).sum(2, keepdim=True) * W_dec
            optimizer.step()
            with torch.no_grad():
                W_dec /= W_dec.norm(dim=2, keepdim=True).clamp_min(1e-8)
                active = codes > 0
                fired |= active.any(dim=1)
                l0 = active.sum(dim=(1, 2)) / xb.shape[0]
                theta *= torch.exp(0.05 * ((l0 - target) / target).clamp(-1.0, 1.0))
            step += 1
        with torch.no_grad():
            _revive_dead(x_train, W_enc, b_enc, W_dec, b_dec, mask, ~fired, theta, generator)
            val = _val_mse(x_val, W_enc, b_enc, W_dec, b_dec, mask, theta)
            better = val < best_val * (1 - 1e-3)
            for p, b in zip(params, best, strict=True):
                b[better] = p.detach()[better]
            best_val = torch.where(better, val, best_val)
        since_best = 0 if bool(better.any()) else since_best + 1
        if progress is not None:
            progress(epoch, val)
        if since_best >= patience and epoch >= min_epochs:
            break
    W_enc_b, b_enc_b, W_dec_b, b_dec_b = best
    threshold = _calibrate(W_enc_b, b_enc_b, b_dec_b, mask.bool(), x_train, specs)
    return Fleet(list(specs), W_enc_b, b_enc_b, W_dec_b, b_dec_b, threshold, mask.bool(), epoch)


def _val_mse(x_val, W_enc, b_enc, W_dec, b_dec, mask, theta, batch_size=8192) -> torch.Tensor:
    """Validation MSE per instance with the current thresholds."""
    total = torch.zeros(W_enc.shape[0])
    for s in range(0, x_val.shape[0], batch_size):
        xb = x_val[s:s + batch_size]
        pre = _pre(xb, W_enc, b_enc, b_dec, mask)
        codes = pre * (pre > theta.view(-1, 1, 1))
        total += (torch.baddbmm(b_dec.unsqueeze(1), codes, W_dec) - xb).pow(2).sum(dim=(1, 2))
    return total / max(x_val.numel(), 1)


def _revive_dead(x, W_enc, b_enc, W_dec, b_dec, mask, dead, theta, generator, probe=8192) -> None:
    """Point latents that never fired in an epoch at badly reconstructed samples."""
    dead = dead & mask.bool()
    if not bool(dead.any()):
        return
    xb = x[torch.randint(0, x.shape[0], (probe,), generator=generator)]
    pre = _pre(xb, W_enc, b_enc, b_dec, mask)
    codes = pre * (pre > theta.view(-1, 1, 1))
    residual = xb - torch.baddbmm(b_dec.unsqueeze(1), codes, W_dec)
    for i in torch.nonzero(dead.any(dim=1)).squeeze(1).tolist():
        idx = torch.nonzero(dead[i]).squeeze(1)
        weights = residual[i].pow(2).sum(dim=1)
        picks = torch.multinomial(weights, len(idx), replacement=True, generator=generator)
        directions = residual[i][picks]
        directions /= directions.norm(dim=1, keepdim=True).clamp_min(1e-8)
        W_dec.data[i, idx] = directions
        W_enc.data[i, idx] = directions
        b_enc.data[i, idx] = 0.0

