"""The training loop of the joint multi-session model: one dictionary, every session's own view of it.

Every session is laid out over the union of global neurons with a boolean mask of the neurons it
observed. The loss of a session is the squared error on its observed neurons only (the mask
multiplies the error, so an absent neuron is never read as a silent one), averaged over them; the
sessions' losses are averaged. Each session ``s`` reconstructs

``x_hat_s = b_s + g_s * (c (D + Delta_s))``

with ``D`` the shared unit-norm dictionary (latents, neurons), ``Delta_s`` the session's decoder
offset, ``g_s`` its per-neuron gain (``exp`` of a learned log-gain) and ``b_s`` its bias. The codes
``c`` are a threshold code like the single-session fit (:mod:`nwb_sae.training.fleet`): a latent is
active when its pre-activation exceeds one threshold, which moves after every step so that the mean
number of active latents per sample tracks ``k``. The encoder is shared; a latent's pre-activation in
a session is divided by the fraction of its encoder's squared norm on the neurons that session
observed (at most :data:`MAX_ENCODER_RESCALE`), so an ensemble with some members missing that day
is read on the members that are there.

The drift penalty holds each session's offset near the previous session's (sessions in the order
given, as days are): ``drift_penalty * u_l * (|Delta_sl - Delta_(s-1)l|^2 + ANCHOR * |Delta_sl|^2) / n``,
``u_l`` the latent's mean squared code over all sessions (so the penalty is on the scale of the
latent's own reconstruction error) and ``n`` the number of global neurons. An ensemble that drifts a
little each day pays for small steps only; turning one latent into an unrelated ensemble (one that
vanished, another that appeared later) needs one large step, which costs several times more than
the whole drift of an ensemble that loses half its members over the sessions, so a new ensemble gets
a latent of its own. The small anchor keeps the shared atom ``D`` the centre of the session decoders.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

MAX_ENCODER_RESCALE = 4.0
"""Largest factor by which a latent's pre-activation is raised in a session that misses some of its neurons."""
ANCHOR = 0.1
"""Weight of every offset's own size in the drift penalty, beside the step from the previous session."""
GAIN_PENALTY = 1e-2
"""Weight of the mean squared log-gain (gains stay near 1 unless the data move them)."""


class SessionSamples(NamedTuple):
    """Every session's normalised samples over the union of global neurons (absent neurons hold 0, masked)."""

    x: list[torch.Tensor]
    """Per session (samples, global neurons), float32; absent neurons 0 (never read: see ``mask``)."""
    mask: torch.Tensor
    """(sessions, global neurons) float: 1 where the session observed the neuron."""


class JointWeights(NamedTuple):
    """The fitted weights; every tensor on the CPU."""

    W_enc: torch.Tensor
    """(latents, global neurons) shared encoder."""
    b_enc: torch.Tensor
    """(latents,)."""
    D: torch.Tensor
    """(latents, global neurons) shared dictionary, unit-norm rows."""
    delta: torch.Tensor
    """(sessions, latents, global neurons) per-session decoder offsets."""
    log_gain: torch.Tensor
    """(sessions, global neurons) per-session neuron log-gains."""
    b_dec: torch.Tensor
    """(sessions, global neurons) per-session biases."""
    threshold: float
    """Inference threshold of the codes."""
    val_error: float
    """Masked held-out error of the kept weights."""

    def session_decoders(self) -> torch.Tensor:
        """(sessions, latents, global neurons): ``g_s * (D + Delta_s)``."""
        return (self.D.unsqueeze(0) + self.delta) * self.log_gain.exp().unsqueeze(1)


def encoder_rescale(W_enc: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(sessions, latents): whole-row over observed squared norm of each encoder row, at most the cap."""
    whole = W_enc.pow(2).sum(1)
    seen = mask @ W_enc.pow(2).t()
    return (whole / seen.clamp_min(1e-12)).clamp(max=MAX_ENCODER_RESCALE)


def pre_activations(x: torch.Tensor, session: int, W_enc, b_enc, b_dec, mask) -> torch.Tensor:
    """ReLU pre-activations (samples, latents) of one session's samples (samples, global neurons)."""
    centred = (x - b_dec[session]) * mask[session]
    scale = encoder_rescale(W_enc.detach(), mask)[session]
    return torch.relu(centred @ W_enc.t() * scale + b_enc)


def encode_session(weights: JointWeights, x: torch.Tensor, session: int, mask: torch.Tensor) -> torch.Tensor:
    """Inference codes (samples, latents) of session ``session``'s normalised samples."""
    with torch.no_grad():
        pre = pre_activations(x, session, weights.W_enc, weights.b_enc, weights.b_dec, mask)
        return pre * (pre > weights.threshold)


def _init_atoms(train: SessionSamples, n_latents: int, generator: torch.Generator) -> torch.Tensor:
    """Atoms at the directions of random high-norm samples of every session (mostly single ensemble events)."""
    per_session = math.ceil(n_latents / len(train.x))
    atoms = []
    for x, m in zip(train.x, train.mask, strict=True):
        centred = (x - x.median(dim=0).values) * m
        norms = centred.norm(dim=1)
        pool = torch.nonzero(norms >= torch.quantile(norms, 0.9)).squeeze(1)
        pick = pool[torch.randint(0, len(pool), (per_session,), generator=generator)]
        atoms.append(centred[pick] + 0.1 * torch.randn(per_session, x.shape[1], generator=generator) * m)
    order = torch.randperm(per_session * len(train.x), generator=generator)[:n_latents]
    atoms = torch.cat(atoms)[order]
    return atoms / atoms.norm(dim=1, keepdim=True).clamp_min(1e-8)


def _batch_errors(params, xb: torch.Tensor, mask: torch.Tensor, theta: float):
    """One step's forward pass on a batch of every session at once, ``xb`` (sessions, batch, global neurons).

    Returns the mean squared error per observed entry of each session (sessions,), the codes' squared
    means (sessions, latents) and the mean number of active latents per sample.
    """
    W_enc, b_enc, D, delta, log_gain, b_dec = params
    decoders = (D.unsqueeze(0) + delta) * log_gain.exp().unsqueeze(1)
    scale = encoder_rescale(W_enc.detach(), mask)                                  # (S, L)
    centred = (xb - b_dec.unsqueeze(1)) * mask.unsqueeze(1)
    pre = torch.relu(torch.matmul(centred, W_enc.t()) * scale.unsqueeze(1) + b_enc)
    on = pre > theta
    codes = pre * on
    recon = torch.baddbmm(b_dec.unsqueeze(1), codes, decoders)
    errors = ((recon - xb) ** 2 * mask.unsqueeze(1)).sum(2).mean(1) / mask.sum(1)
    return errors, codes.detach().pow(2).mean(1), float(on.sum()) / (on.shape[0] * on.shape[1])


def _held_out_error(params, x_list, mask, theta) -> float:
    """Mean over sessions of the masked squared error per observed entry of the held-out samples."""
    with torch.no_grad():
        errors = [_batch_errors([p[s:s + 1] if p.dim() and i >= 3 else p for i, p in enumerate(params)],
                                x.unsqueeze(0), mask[s:s + 1], theta)[0] for s, x in enumerate(x_list)]
    return float(torch.cat(errors).mean())


def drift_cost(delta: torch.Tensor, usage: torch.Tensor) -> torch.Tensor:
    """The drift penalty of the module docstring (without its weight), per session averaged."""
    weight = usage.view(1, -1, 1)
    steps = (weight * (delta[1:] - delta[:-1]).pow(2)).sum() / delta.shape[0]
    return (steps + ANCHOR * (weight * delta.pow(2)).sum() / delta.shape[0]) / delta.shape[2]


def fit_joint(train: SessionSamples, val: SessionSamples, n_latents: int, k: float, *, seed: int = 0,
              drift_penalty: float = 1.0, max_steps: int = 3000, eval_every: int = 100, patience: int = 5,
              batch_size: int = 256, lr: float = 4e-3) -> JointWeights:
    """Fit the joint model of this module's docstring on every session at once.

    Parameters
    ----------
    train, val : SessionSamples
        Normalised training and held-out samples of every session, over the union of global neurons.
    n_latents : int
        Latents of the shared dictionary.
    k : float
        Mean active latents per sample (may be below one).
    seed : int
        Seed of the initialisation and the batches.
    drift_penalty : float
        Weight of the drift penalty (see the module docstring).
    max_steps, eval_every, patience : int
        At most ``max_steps`` steps; the held-out error is measured every ``eval_every`` steps and the
        best weights kept; training stops after ``patience`` evaluations without improvement.
    batch_size : int
        Samples drawn from every session per step.
    lr : float
        Adam learning rate (after a linear warm-up of 50 steps).

    Returns
    -------
    JointWeights
    """
    g = torch.Generator().manual_seed(seed)
    mask = train.mask
    n_sessions, n_global = mask.shape
    D = _init_atoms(train, n_latents, g)
    params = [D.clone(), torch.zeros(n_latents), D, torch.zeros(n_sessions, n_latents, n_global),
              torch.zeros(n_sessions, n_global),
              torch.stack([x.median(dim=0).values for x in train.x]) * mask]
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(params, lr=lr)
    theta, usage_mean = None, torch.ones(n_latents)
    best, best_val, since = None, math.inf, 0
    fired = torch.zeros(n_latents, dtype=torch.bool)
    batch = min(batch_size, min(len(x) for x in train.x))
    for step in range(max_steps):
        xb = torch.stack([x[torch.randint(0, len(x), (batch,), generator=g)] for x in train.x])
        if theta is None:  # start at the cut that leaves k active latents per sample on the first batches
            with torch.no_grad():
                pre = torch.cat([pre_activations(b, s, *params[:2], params[5], mask) for s, b in enumerate(xb)])
                count = max(1, int(round(k * pre.shape[0])))
                theta = float(pre.reshape(-1).topk(count).values[-1]) * (1 - 1e-6)
        errors, usage, active = _batch_errors(params, xb, mask, theta)
        usage_mean = 0.9 * usage_mean + 0.1 * usage.mean(0) if step else usage.mean(0)
        drift = drift_cost(params[3], usage_mean)
        gain = (params[4].pow(2) * mask).sum(1) / mask.sum(1)
        loss = errors.mean() + drift_penalty * drift + GAIN_PENALTY * gain.mean()
        for group in optimizer.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / 50)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            params[2] /= params[2].norm(dim=1, keepdim=True).clamp_min(1e-8)
            theta *= math.exp(0.05 * max(-1.0, min(1.0, (active - k) / k)))
            fired |= usage.gt(0).any(0)
        if (step + 1) % eval_every == 0:
            _revive(params, train, ~fired, g)
            fired[:] = False
            val_error = _held_out_error(params, val.x, mask, theta)
            if val_error < best_val * (1 - 1e-3):
                best, best_val, since = ([p.detach().clone() for p in params], theta), val_error, 0
            else:
                since += 1
                if since >= patience:
                    break
    if best is None:
        best_val = _held_out_error(params, val.x, mask, theta)
        best = ([p.detach().clone() for p in params], theta)
    (W_enc, b_enc, D, delta, log_gain, b_dec), theta = best
    theta = _calibrate(W_enc, b_enc, b_dec, mask, train.x, k)
    return JointWeights(W_enc, b_enc, D, delta, log_gain, b_dec, theta, best_val)


def _calibrate(W_enc, b_enc, b_dec, mask, x_list, k: float) -> float:
    """The threshold whose mean number of active latents per training sample (all sessions) is ``k``."""
    with torch.no_grad():
        pre = torch.cat([pre_activations(x, s, W_enc, b_enc, b_dec, mask).reshape(-1) for s, x in enumerate(x_list)])
    values = pre[pre > 0]
    if values.numel() == 0:
        return 0.0
    count = min(values.numel(), max(1, int(round(k * sum(len(x) for x in x_list)))))
    return float(values.topk(count).values[-1]) * (1 - 1e-6)


def _revive(params, train: SessionSamples, dead: torch.Tensor, generator: torch.Generator) -> None:
    """Point latents that never fired since the last evaluation at badly reconstructed samples' directions."""
    idx = torch.nonzero(dead).squeeze(1)
    if len(idx) == 0:
        return
    with torch.no_grad():
        s = int(torch.randint(0, len(train.x), (1,), generator=generator))
        x = train.x[s][torch.randint(0, len(train.x[s]), (4096,), generator=generator)]
        directions = (x - params[5][s]) * train.mask[s]
        weights = directions.pow(2).sum(1)
        picks = torch.multinomial(weights.clamp_min(1e-12), len(idx), replacement=True, generator=generator)
        new = directions[picks] / directions[picks].norm(dim=1, keepdim=True).clamp_min(1e-8)
        params[0][idx] = new
        params[1][idx] = 0.0
        params[2][idx] = new
        params[3][:, idx] = 0.0


def as_session_samples(arrays: list[np.ndarray], columns: list[np.ndarray], n_global: int) -> SessionSamples:
    """Lay every session's samples (samples, its neurons) out over the union of ``n_global`` neurons."""
    mask = torch.zeros(len(arrays), n_global)
    x = []
    for s, (a, cols) in enumerate(zip(arrays, columns, strict=True)):
        full = torch.zeros(a.shape[0], n_global)
        full[:, torch.as_tensor(cols)] = torch.as_tensor(np.asarray(a, dtype=np.float32))
        x.append(full)
        mask[s, torch.as_tensor(cols)] = 1.0
    return SessionSamples(x, mask)
