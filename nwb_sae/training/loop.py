"""The fit loop: batches of population vectors, warm-up, early stopping, dead latents, checkpoints.

The loop works on two sources of normalised float32 samples (training and validation split): tensors
held in memory, or blocks streamed from a lazy array (:mod:`nwb_sae.training.streaming`), so it knows nothing of
files or labels. The estimator (:mod:`nwb_sae.estimator`) prepares them. Inside a step nothing waits for
the device: losses add up on it and are read when the progress bar is updated.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm

from nwb_sae.config import TrainConfig
from nwb_sae.model import SparseAutoencoder
from nwb_sae.training import distributed
from nwb_sae.training.checkpoint import checkpoint_paths, load_checkpoint, save_checkpoint
from nwb_sae.training.sources import TensorSource

LOG_EVERY = {"cpu": 10}
"""Steps between progress-bar updates (each waits for the device); other devices use ``LOG_EVERY_ACCELERATOR``."""
LOG_EVERY_ACCELERATOR = 100
HISTORY_KEYS = ("epoch", "step", "train_loss", "val_loss", "val_fvu", "val_l0", "dead_fraction",
                "lr", "seconds")


class TrainResult(NamedTuple):
    """Outcome of :func:`train_model`."""

    history: dict
    """Per-epoch lists keyed by :data:`HISTORY_KEYS`."""
    best_epoch: int
    """Epoch (1-based) whose validation loss was lowest; its weights are in the model."""
    stopped_early: bool
    """True when patience ran out before ``epochs``."""
    samples_per_second: float
    """Training throughput over the whole run (optimisation steps only)."""
    world_size: int = 1
    """Processes that trained the model together (torchrun); 1 for a plain run."""
    rank: int = 0
    """This process's rank; only rank 0 writes files."""


def resolve_device(device: str) -> torch.device:
    """``auto`` means CUDA when present, else CPU."""
    resolved = torch.device("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" \
        else torch.device(device)
    if resolved.type == "cuda" and resolved.index is None and "LOCAL_RANK" in os.environ:  # torchrun: a GPU each
        resolved = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return resolved


@torch.no_grad()
def evaluate(model: SparseAutoencoder, x, batch_size: int = 16384) -> dict:
    """Loss, FVU and L0 of ``model`` on normalised samples ``x`` (a tensor or a sample source).

    Uses inference-time encoding; the sums stay on the device until the end (one wait, not one per batch).
    """
    source = as_source(x)
    device = source.device
    sq_err, l1, nonzero = (torch.zeros((), dtype=torch.float64, device=device) for _ in range(3))
    sums = torch.zeros(2, model.n_inputs, dtype=torch.float64, device=device)
    n = 0
    for xb in source.chunks(batch_size):
        codes = model.encode(xb)
        sq_err += (model.decode(codes) - xb).pow(2).sum()
        l1 += codes.sum()
        nonzero += (codes > 0).sum()
        xd = xb.double()
        sums[0] += xd.sum(dim=0)
        sums[1] += xd.pow(2).sum(dim=0)
        n += xb.shape[0]
    n = max(n, 1)
    total = float((sums[1] - sums[0].pow(2) / n).sum())
    mse = float(sq_err) / (n * model.n_inputs)
    loss = mse + (model.config.l1_coefficient * float(l1) / n if model.config.activation == "relu" else 0.0)
    return {"loss": loss, "fvu": float(sq_err) / max(total, 1e-12), "l0": float(nonzero) / n}


def as_source(x):
    """A sample source (:mod:`nwb_sae.training.streaming`): a tensor becomes a :class:`TensorSource`."""
    return TensorSource(x) if torch.is_tensor(x) else x


class _State:
    """Everything that changes during training and must survive an interruption."""

    def __init__(self, n_latents: int):
        self.epoch = 0
        self.step = 0
        self.best_val = math.inf
        self.best_epoch = 0
        self.bad_epochs = 0
        self.since_fired = torch.zeros(n_latents, dtype=torch.long)
        self.history = {key: [] for key in HISTORY_KEYS}

    def to_meta(self) -> dict:
        return {"epoch": self.epoch, "step": self.step, "best_val": self.best_val,
                "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs, "history": self.history}

    def load_meta(self, meta: dict) -> None:
        for key in ("epoch", "step", "best_val", "best_epoch", "bad_epochs", "history"):
            setattr(self, key, meta[key])


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """Split Adam's state into tensors (for safetensors) and plain numbers (for JSON)."""
    tensors, numbers = {}, {}
    for index, state in optimizer.state_dict()["state"].items():
        for name, value in state.items():
            if torch.is_tensor(value) and value.ndim > 0:
                tensors[f"optim.{index}.{name}"] = value
            else:
                numbers[f"{index}.{name}"] = float(value)
    return tensors, numbers


def _restore_optimizer(optimizer, tensors: dict, numbers: dict) -> None:
    state_dict = optimizer.state_dict()
    state = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for key, value in numbers.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = torch.tensor(value)
    state_dict["state"] = state
    optimizer.load_state_dict(state_dict)


def train_model(
    model: SparseAutoencoder,
    x_train,
    x_val,
    cfg: TrainConfig,
    *,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    checkpoint_meta: Callable[[], dict] | None = None,
    callback: Callable[[SparseAutoencoder, dict], None] | None = None,
) -> TrainResult:
    """Fit ``model`` on normalised samples, keeping the weights of the best validation epoch.

    Parameters
    ----------
    model : SparseAutoencoder
        Initialised model (normalisation buffers set, decoder bias set from data).
    x_train, x_val : torch.Tensor or sample source
        Normalised samples (samples, neurons) on the model's device, or sources of them
        (:class:`nwb_sae.training.sources.TensorSource`, :class:`nwb_sae.training.sources.BlockSource`).
    cfg : TrainConfig
        Training settings.
    checkpoint_dir : path, optional
        Where ``best_model`` and ``last`` checkpoints go. ``last`` is written after every epoch.
    resume : bool
        Continue from ``checkpoint_dir/last`` when it exists.
    checkpoint_meta : callable, optional
        Returns the JSON metadata (settings, normalisation, ...) saved with every checkpoint.
    callback : callable, optional
        Called as ``callback(model, row)`` after each epoch with that epoch's history row.

    Returns
    -------
    TrainResult
    """
    train_source, val_source = as_source(x_train), as_source(x_val)
    device = train_source.device
    ctx = distributed.context(device)
    lr = cfg.resolved_lr()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    state = _State(model.n_latents)
    best_state = copy.deepcopy(model.state_dict())
    checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    meta_fn = _with_world_size(checkpoint_meta or dict, ctx.world_size)

    if resume and checkpoint_dir is not None and checkpoint_paths(checkpoint_dir / "last")[0].exists():
        tensors, meta = load_checkpoint(checkpoint_dir / "last")
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        _restore_optimizer(optimizer, tensors, meta["optimizer"])
        state.load_meta(meta["training_state"])
        state.since_fired = tensors["since_fired"].to(torch.long)
        best_file = checkpoint_dir / "best_model"
        best_state = load_checkpoint(best_file)[0] if checkpoint_paths(best_file)[0].exists() \
            else copy.deepcopy(model.state_dict())

    n_train = train_source.n_samples
    # torchrun: the global batch is split evenly over the ranks
    batch_size = max(1, cfg.resolve_batch_size(n_train, device.type) // ctx.world_size) * ctx.world_size
    steps_per_epoch = max(1, n_train // batch_size)  # the incomplete last batch is dropped
    log_every = LOG_EVERY.get(device.type, LOG_EVERY_ACCELERATOR)
    any_dead = True  # on an accelerator, refreshed when logging: dead latents get the auxiliary loss
    since_fired = state.since_fired.to(device)
    stopped_early = False
    train_seconds, trained_samples = 0.0, 0

    bar = tqdm(total=cfg.epochs * steps_per_epoch, initial=state.epoch * steps_per_epoch,
               disable=not cfg.progress or not ctx.is_main, desc="training", unit="step", dynamic_ncols=True)
    try:
        while state.epoch < cfg.epochs:
            generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + state.epoch)
            epoch_loss = torch.zeros((), device=device)
            started = time.perf_counter()
            for i, xb in enumerate(train_source.batches(batch_size, generator)):
                for group in optimizer.param_groups:
                    group["lr"] = lr * min(1.0, (state.step + 1) / max(cfg.warmup_steps, 1))
                dead = since_fired >= cfg.dead_after
                out = _step(model, optimizer, ctx.shard(xb), dead if any_dead else None, cfg, ctx)
                since_fired += xb.shape[0]
                since_fired.masked_fill_(ctx.any_rank(out.fired), 0)
                state.step += 1
                if (model.config.activation == "relu" and cfg.resample_every
                        and state.step % cfg.resample_every == 0):
                    _resample_dead(model, optimizer, train_source, since_fired >= cfg.dead_after, generator)
                epoch_loss += out.loss.detach()
                if i % log_every == 0 or i == steps_per_epoch - 1:  # reading numbers waits for the device
                    variance = max(float(xb.var(dim=0).mean()), 1e-12)
                    any_dead = device.type == "cpu" or bool(dead.any())
                    bar.set_postfix(loss=f"{float(out.loss.detach()):.4f}",
                                    fvu=f"{float(out.mse.detach()) / variance:.3f}", l0=f"{float(out.l0):.1f}")
                bar.update(1)
            epoch_loss = float(epoch_loss)
            train_seconds += time.perf_counter() - started
            trained_samples += steps_per_epoch * batch_size

            state.epoch += 1
            val = evaluate(model, val_source)
            row = {"epoch": state.epoch, "step": state.step, "train_loss": epoch_loss / steps_per_epoch,
                   "val_loss": val["loss"], "val_fvu": val["fvu"], "val_l0": val["l0"],
                   "dead_fraction": float((since_fired >= cfg.dead_after).float().mean()),
                   "lr": optimizer.param_groups[0]["lr"], "seconds": train_seconds}
            for key in HISTORY_KEYS:
                state.history[key].append(row[key])
            improved = val["loss"] < state.best_val * (1 - cfg.min_delta)
            if val["loss"] < state.best_val:
                state.best_val, state.best_epoch = val["loss"], state.epoch
                best_state = copy.deepcopy(model.state_dict())
                if checkpoint_dir is not None and ctx.is_main:
                    save_checkpoint(checkpoint_dir / "best_model", best_state,
                                    {**meta_fn(), "best_epoch": state.epoch, "val": val})
            state.bad_epochs = 0 if improved else state.bad_epochs + 1
            if checkpoint_dir is not None and ctx.is_main:
                state.since_fired = since_fired.cpu()
                opt_tensors, opt_numbers = _optimizer_tensors(optimizer)
                tensors = {**{f"model.{k}": v for k, v in model.state_dict().items()}, **opt_tensors,
                           "since_fired": state.since_fired}
                save_checkpoint(checkpoint_dir / "last", tensors,
                                {**meta_fn(), "optimizer": opt_numbers, "training_state": state.to_meta()})
            ctx.barrier()  # the other ranks wait until rank 0 has written the checkpoints
            if callback is not None:
                callback(model, row)
            if state.bad_epochs >= cfg.patience:
                stopped_early = True
                break
    finally:
        bar.close()
    model.load_state_dict(best_state)
    rate = trained_samples / train_seconds if train_seconds > 0 else float("nan")
    return TrainResult(state.history, state.best_epoch, stopped_early, rate, ctx.world_size, ctx.rank)


def _with_world_size(meta_fn: Callable[[], dict], world_size: int) -> Callable[[], dict]:
    """Checkpoint metadata that also records how many processes trained the model."""
    return lambda: {**meta_fn(), "world_size": world_size}


def _step(model: SparseAutoencoder, optimizer, xb: torch.Tensor, dead: torch.Tensor | None, cfg: TrainConfig,
          ctx: distributed.Context = distributed.SINGLE):
    """One optimisation step on the batch ``xb``; returns the forward output (nothing waits for the device).

    Under torchrun ``xb`` is this rank's slice of the global batch and the gradients are averaged over
    the ranks before the update (:mod:`nwb_sae.training.distributed`).

    ``dead`` is None when no latent was dead at the last check (every step on the CPU, where checking
    costs nothing; at every progress update on an accelerator).
    """
    with torch.autocast(xb.device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
        out = model(xb, dead=dead, aux_coefficient=cfg.aux_coefficient)
    optimizer.zero_grad(set_to_none=True)
    out.loss.backward()
    ctx.average_gradients(model)
    model.remove_parallel_gradient_()
    optimizer.step()
    model.normalize_decoder_()
    return out


@torch.no_grad()
def _resample_dead(model, optimizer, source, dead, generator) -> None:
    """relu-L1: point dead latents at badly reconstructed samples (Bricken et al. 2023)."""
    n_dead = int(dead.sum())
    if n_dead == 0:
        return
    probe = source.probe(16384, generator)
    residual = probe - model.decode(model.encode(probe))
    weights = residual.pow(2).sum(dim=1)
    if float(weights.sum()) <= 0:
        return
    picks = torch.multinomial(weights.cpu(), n_dead, replacement=True, generator=generator)
    directions = residual[picks.to(residual.device)]
    directions /= directions.norm(dim=1, keepdim=True).clamp_min(1e-8)
    idx = torch.nonzero(dead).squeeze(1)
    alive = ~dead
    enc_norm = float(model.W_enc[alive].norm(dim=1).mean()) if bool(alive.any()) else 1.0
    model.W_dec[idx] = directions
    model.W_enc[idx] = directions * enc_norm * 0.2
    model.b_enc[idx] = 0.0
    for param in (model.W_enc, model.W_dec, model.b_enc):
        st = optimizer.state.get(param, {})
        for key in ("exp_avg", "exp_avg_sq"):
            if key in st:
                st[key][idx] = 0.0


def as_tensor(x: np.ndarray, device: torch.device) -> torch.Tensor:
    """float32 tensor on ``device`` (no copy when already float32 on the CPU)."""
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device)
