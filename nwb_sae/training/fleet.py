"""Several BatchTopK sparse autoencoders trained together, as one model with an instance axis.

Model selection and seed stability need many small fits of the same data. Fitted one after the other
they cost one pass over the data each; stacked on an instance axis they share every batch, every Python
step and one matrix product for all their encoders. The step's gradients are written out
(:mod:`nwb_sae.training.step`, checked against autograd in the tests) and each instance stops on its own, which
made the default fit 3-5 times faster than the autograd fleet on a 2-core machine.

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
from tqdm.auto import tqdm

from nwb_sae.training.step import codes_of, gradients, pre_activations

MAX_EPOCHS_FOR_STEPS = 200
"""``min_steps`` raises the epoch budget up to this many rounds (epochs, on all but small data), no further."""
ROUND_SAMPLES = 4096
"""Validation, dead-latent revival and early stopping come after every epoch, or after as many
passes as make this many samples when an epoch is shorter (not when the user gave the epochs)."""


class InstanceSpec(NamedTuple):
    """Shape, sparsity and seed of one instance."""

    n_latents: int
    k: float
    """Mean active latents per sample (threshold code), or active latents of every sample (``topk``)."""
    seed: int
    topk: bool = False
    """Per-sample TopK instead of a threshold code (a fleet holds one kind only)."""


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
    val_mse: torch.Tensor | None = None
    """(instances,): validation error of the kept weights."""

    def instance(self, i: int) -> dict:
        """Weights of instance ``i`` without padding, as numpy arrays (keys as in ``SparseAutoencoder``)."""
        keep = self.latent_mask[i]
        return {"W_enc": self.W_enc[i][keep].numpy(), "b_enc": self.b_enc[i][keep].numpy(),
                "W_dec": self.W_dec[i][keep].numpy(), "b_dec": self.b_dec[i].numpy(),
                "threshold": float(self.threshold[i])}

    @property
    def ranks(self) -> torch.Tensor | None:
        """(instances,) latents kept per sample of a TopK fleet; ``None`` for threshold codes."""
        return _ranks(self.specs, self.W_enc.device)


def _ranks(specs, device=None) -> torch.Tensor | None:
    kinds = {s.topk for s in specs}
    if len(kinds) > 1:
        raise ValueError("a fleet holds threshold or TopK instances, not both: fit them as two fleets")
    if not kinds.pop():
        return None
    return torch.tensor([max(1, int(s.k)) for s in specs], device=device)


def _batch_topk(pre: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Keep, per instance, its ``counts[i]`` largest entries of the whole (batch, latents) slab."""
    flat = pre.detach().reshape(pre.shape[0], -1)
    top = flat.topk(int(counts.max()), dim=1, sorted=True).values
    cut = top.gather(1, (counts - 1).unsqueeze(1))  # the smallest kept value of each instance
    keep = (pre >= cut.unsqueeze(2)) & (pre > 0)
    return pre * keep


def _code_batches(f, x: torch.Tensor, batch_size: int):
    """Inference codes (instances, batch, latents) of ``x`` one batch of samples at a time."""
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            pre = pre_activations(x[start:start + batch_size], f.W_enc, f.b_enc, f.b_dec, f.latent_mask)
            yield codes_of(pre, f.threshold, f.ranks)


def encode(fleet_or_weights, x: torch.Tensor, batch_size: int = 8192) -> torch.Tensor:
    """Inference codes (instances, samples, latents) of normalised samples ``x`` (samples, neurons)."""
    return torch.cat(list(_code_batches(fleet_or_weights, x, batch_size)), dim=1)


def firing_rate(fleet_or_weights, x: torch.Tensor, batch_size: int = 8192) -> torch.Tensor:
    """Fraction of the samples ``x`` in which each latent fires, (instances, latents); no codes kept."""
    fired = sum((codes > 0).sum(dim=1, dtype=torch.float64) for codes in _code_batches(fleet_or_weights, x, batch_size))
    return fired / max(x.shape[0], 1)


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
        pre = torch.cat([pre_activations(sample[s:s + batch_size], W_enc, b_enc, b_dec, mask)
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


class _Adam:
    """Adam on stacked per-instance tensors; its state is sliced with the instances (see ``keep``)."""

    def __init__(self, params: list[torch.Tensor], betas=(0.9, 0.999), eps: float = 1e-8):
        self.params, self.betas, self.eps, self.step_count = params, betas, eps, 0
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    def step(self, grads: list[torch.Tensor], lr: float) -> None:
        b1, b2 = self.betas
        self.step_count += 1
        c1, c2 = 1 - b1 ** self.step_count, 1 - b2 ** self.step_count
        torch._foreach_lerp_(self.m, grads, 1 - b1)
        torch._foreach_mul_(self.v, b2)
        torch._foreach_addcmul_(self.v, grads, grads, 1 - b2)
        denom = torch._foreach_sqrt(self.v)
        torch._foreach_div_(denom, math.sqrt(c2))
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(self.params, self.m, denom, -lr / c1)

    def keep(self, idx: torch.Tensor) -> None:
        """Keep the state of the instances ``idx`` only (the parameters are sliced by the caller)."""
        self.m = [t[idx] for t in self.m]
        self.v = [t[idx] for t in self.v]


def fit_fleet(x_train: torch.Tensor, x_val: torch.Tensor, specs: list[InstanceSpec], *,
              max_epochs: int = 20, patience: int = 3, batch_size: int = 1024, lr: float = 4e-3,
              min_steps: int = 500, max_steps: int | None = None, raise_epochs: bool = True,
              init: Fleet | None = None, progress=None, label: str | None = None) -> Fleet:
    """Fit one BatchTopK autoencoder per spec on the same normalised samples.

    Parameters
    ----------
    x_train, x_val : torch.Tensor
        Normalised samples (samples, neurons), float32 on the CPU or one device.
    specs : list of InstanceSpec
        One (n_latents, k, seed) per instance.
    max_epochs, patience : int
        Each instance keeps the weights of its best validation round and stops on its own when it has
        not improved for ``patience`` rounds (and at least ``min_steps`` optimisation steps were
        taken; ``max_epochs`` is raised when it allows fewer, up to :data:`MAX_EPOCHS_FOR_STEPS`
        rounds, unless ``raise_epochs`` is False). A round is one epoch, or several on small data
        (:data:`ROUND_SAMPLES`). Stopped instances leave the fleet, so the remaining ones
        run faster. ``max_steps`` caps the budget (whole epochs, at least one).
    batch_size : int
        Samples per step, shared by all instances.
    lr : float
        Adam learning rate (after a linear warm-up of 50 steps).
    init : Fleet, optional
        Continue these instances (its specs are the first of ``specs``, same width) instead of starting
        them fresh; further specs start fresh beside them.
    progress : callable, optional
        ``progress(round, val_mse)`` after each round (``val_mse`` of every instance, the best one
        for instances that stopped).
    label : str, optional
        Show a progress bar (epochs, fits still training, time left) with this description.

    Returns
    -------
    Fleet
    """
    n, n_inputs = x_train.shape
    device = x_train.device
    n_inst, n_max = len(specs), max(s.n_latents for s in specs)
    mask_all = torch.tensor([[j < s.n_latents for j in range(n_max)] for s in specs], dtype=x_train.dtype,
                            device=device)
    b_dec0 = x_train[:65536].median(dim=0).values
    fresh = specs if init is None else specs[len(init.specs):]
    W_dec = _init_decoder(x_train.cpu(), n_inputs, n_max, fresh, b_dec0.cpu()).to(device) if fresh else None
    W_enc = None if W_dec is None else W_dec.clone()
    b_enc = torch.zeros(len(fresh), n_max, device=device)
    b_dec = b_dec0.repeat(len(fresh), 1)
    if init is not None:  # the given instances continue, any further specs start fresh after them
        if list(init.specs) != list(specs[:len(init.specs)]) or init.W_enc.shape[1] != n_max:
            raise ValueError("init must hold the first specs of the fleet, with the same widths")
        given = [t.to(device) for t in init[1:5]]
        W_enc, b_enc, W_dec, b_dec = (g.clone() if f is None else torch.cat([g, f])
                                      for g, f in zip(given, (W_enc, b_enc, W_dec, b_dec), strict=True))
    params = [W_enc, b_enc, W_dec, b_dec]
    optimizer = _Adam(params)
    batch_size = min(batch_size, n)
    target = torch.tensor([s.k for s in specs], dtype=x_train.dtype, device=device)
    counts = torch.tensor([max(1, int(round(s.k * batch_size))) for s in specs], device=device)
    ranks = _ranks(specs, device)
    theta = init.threshold.clone().to(device) if init is not None and not fresh else None
    if ranks is not None:  # TopK: the rank is the cut, no threshold
        theta = torch.zeros(n_inst, device=device)
    steps_per_epoch = max(1, n // batch_size)
    # on small recordings a round of validation, revival and early stopping spans several passes
    # (one pass of 1,600 samples is one step: checked after every step, revival ran 60% of the fit)
    passes = max(1, math.ceil(ROUND_SAMPLES / (steps_per_epoch * batch_size)))
    if not raise_epochs:  # the user's epochs are the budget: checked (and in the history) one by one
        passes = 1
    steps_per_round = steps_per_epoch * passes
    min_rounds = min(math.ceil(min_steps / steps_per_round), MAX_EPOCHS_FOR_STEPS)
    max_rounds = max(math.ceil(max_epochs / passes), min_rounds if raise_epochs else 1, 1)  # min_steps wins
    if max_steps is not None:
        max_rounds = min(max_rounds, max(1, math.ceil(max_steps / steps_per_round)))
    min_rounds = min(min_rounds, max_rounds)
    best = [p.clone() for p in params]
    best_val = torch.full((n_inst,), math.inf, device=device)
    since_best = torch.zeros(n_inst, dtype=torch.long)
    live = torch.arange(n_inst)  # original index of every instance still training
    mask = mask_all
    step_mask = None if bool(mask.all()) else mask  # no padding to zero in each step
    step = 0
    generator = torch.Generator().manual_seed(specs[0].seed)
    round_ = 0
    bar = tqdm(total=max_rounds * passes, desc=label or None, unit="epoch", disable=not label, dynamic_ncols=True,
               leave=False)
    for round_ in range(1, max_rounds + 1):
        bar.update(passes)
        bar.set_postfix(fits=len(live))
        orders = [torch.randperm(n, generator=generator).to(device) for _ in range(passes)]
        fired = torch.zeros(len(live), n_max, dtype=torch.bool, device=device)
        for i in range(steps_per_round):
            order = orders[i // steps_per_epoch]
            j = i % steps_per_epoch
            xb = x_train[order[j * batch_size:(j + 1) * batch_size]]
            if theta is None:  # start at the batch top-k cut
                with torch.no_grad():
                    kept = _batch_topk(pre_activations(xb, W_enc, b_enc, b_dec, mask), counts)
                theta = kept.masked_fill(kept <= 0, math.inf).reshape(n_inst, -1).min(dim=1).values
                theta = torch.where(torch.isfinite(theta), theta, torch.ones_like(theta)) * (1 - 1e-6)
            grads, counts_now, fired_now = gradients(xb, W_enc, b_enc, W_dec, b_dec, step_mask, theta, ranks)
            grads[2] -= (grads[2] * W_dec).sum(2, keepdim=True) * W_dec  # decoder rows stay on the sphere
            optimizer.step(grads, lr * min(1.0, (step + 1) / 50))
            W_dec /= W_dec.norm(dim=2, keepdim=True).clamp_min(1e-8)
            fired |= fired_now
            l0 = counts_now / xb.shape[0]
            if ranks is None:
                theta *= torch.exp(0.05 * ((l0 - target) / target).clamp(-1.0, 1.0))
            step += 1
        _revive_dead(x_train, W_enc, b_enc, W_dec, b_dec, mask, ~fired, theta, ranks, generator)
        with torch.no_grad():
            val = _val_mse(x_val, W_enc, b_enc, W_dec, b_dec, mask, theta, ranks)
        better = (val < best_val[live] * (1 - 1e-3)).cpu()
        for p, b in zip(params, best, strict=True):
            b[live[better]] = p[better.to(device)]
        best_val[live[better]] = val[better.to(device)]
        since_best[live] = torch.where(better, 0, since_best[live] + 1)
        if progress is not None:
            shown = best_val.clone()
            shown[live] = val
            progress(round_, shown.cpu())
        if round_ >= min_rounds:
            keep = since_best[live] < patience
            if not bool(keep.any()):
                break
            if not bool(keep.all()):  # stopped instances leave the fleet
                idx = torch.nonzero(keep).squeeze(1).to(device)
                live = live[keep]
                W_enc, b_enc, W_dec, b_dec = params = [p[idx] for p in params]
                optimizer.params = params
                optimizer.keep(idx)
                mask, theta, target = mask_all[live.to(device)], theta[idx], target[idx]
                ranks = None if ranks is None else ranks[idx]
                step_mask = None if bool(mask.all()) else mask
    bar.close()
    W_enc_b, b_enc_b, W_dec_b, b_dec_b = (b.cpu() for b in best)
    threshold = torch.zeros(n_inst) if ranks is not None else \
        _calibrate(W_enc_b, b_enc_b, b_dec_b, mask_all.cpu().bool(), x_train.cpu(), specs)
    return Fleet(list(specs), W_enc_b, b_enc_b, W_dec_b, b_dec_b, threshold, mask_all.cpu().bool(), round_ * passes,
                 best_val.cpu())


def _val_mse(x_val, W_enc, b_enc, W_dec, b_dec, mask, theta, ranks=None, batch_size=8192) -> torch.Tensor:
    """Validation MSE per instance with the current thresholds."""
    n_inst, n_lat, n_in = W_dec.shape
    total = torch.zeros(n_inst, dtype=torch.float64, device=x_val.device)
    if n_lat <= n_in:
        gram = torch.bmm(W_dec, W_dec.transpose(1, 2))
        dec_bias = torch.bmm(W_dec, b_dec.unsqueeze(2)).squeeze(2).unsqueeze(1)
    for s in range(0, x_val.shape[0], batch_size):
        xb = x_val[s:s + batch_size]
        codes = codes_of(pre_activations(xb, W_enc, b_enc, b_dec, mask), theta, ranks)
        if n_lat > n_in:  # as in the training step: the residual, or the expanded error
            total += (torch.baddbmm(b_dec.unsqueeze(1), codes, W_dec) - xb).pow(2).sum(dim=(1, 2))
            continue
        proj = (xb @ W_dec.reshape(n_inst * n_lat, n_in).t()).view(len(xb), n_inst, n_lat).transpose(0, 1)
        base = xb.pow(2).sum() - 2 * (xb.sum(0) * b_dec).sum(1) + len(xb) * b_dec.pow(2).sum(1)
        total += base - 2 * (codes * (proj - dec_bias)).sum((1, 2)) + (torch.bmm(codes, gram) * codes).sum((1, 2))
    return (total / max(x_val.numel(), 1)).float()


def _revive_dead(x, W_enc, b_enc, W_dec, b_dec, mask, dead, theta, ranks, generator, probe=8192) -> None:
    """Point latents that never fired in an epoch at badly reconstructed samples."""
    dead = dead & mask.bool()
    if not bool(dead.any()):
        return
    xb = x[torch.randint(0, x.shape[0], (min(probe, x.shape[0]),), generator=generator)]
    codes = codes_of(pre_activations(xb, W_enc, b_enc, b_dec, mask), theta, ranks)
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

