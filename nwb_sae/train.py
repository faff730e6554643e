"""The fit loop: batches of population vectors, warm-up, early stopping, dead latents, checkpoints.

The loop works on two float32 matrices of normalised samples (training and validation split), so it
knows nothing of files or labels. The estimator (:mod:`nwb_sae.estimator`) prepares those matrices.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm

from nwb_sae.checkpoint import checkpoint_paths, load_checkpoint, save_checkpoint
from nwb_sae.config import TrainConfig
from nwb_sae.model import SparseAutoencoder

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


def resolve_device(device: str) -> torch.device:
    """``auto`` means CUDA when present, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@torch.no_grad()
def evaluate(model: SparseAutoencoder, x: torch.Tensor, batch_size: int = 16384) -> dict:
    """Loss, FVU and L0 of ``model`` on normalised samples ``x``, using inference-time encoding."""
    sq_err = 0.0
    l1 = 0.0
    nonzero = 0
    for start in range(0, x.shape[0], batch_size):
        xb = x[start:start + batch_size]
        codes = model.encode(xb)
        sq_err += float((model.decode(codes) - xb).pow(2).sum())
        l1 += float(codes.sum())
        nonzero += int((codes > 0).sum())
    n = x.shape[0]
    total = float((x - x.mean(dim=0)).pow(2).sum())
    mse = sq_err / (n * x.shape[1])
    loss = mse + (model.config.l1_coefficient * l1 / n if model.config.activation == "relu" else 0.0)
    return {"loss": loss, "fvu": sq_err / max(total, 1e-12), "l0": nonzero / n}


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
    x_train: torch.Tensor,
    x_val: torch.Tensor,
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
    x_train, x_val : torch.Tensor
        Normalised samples (samples, neurons) on the model's device.
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
    device = x_train.device
    lr = cfg.resolved_lr()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    state = _State(model.n_latents)
    best_state = copy.deepcopy(model.state_dict())
    checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    meta_fn = checkpoint_meta or dict

    if resume and checkpoint_dir is not None and checkpoint_paths(checkpoint_dir / "last")[0].exists():
        tensors, meta = load_checkpoint(checkpoint_dir / "last")
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        _restore_optimizer(optimizer, tensors, meta["optimizer"])
        state.load_meta(meta["training_state"])
        state.since_fired = tensors["since_fired"].to(torch.long)
        best_file = checkpoint_dir / "best_model"
        best_state = load_checkpoint(best_file)[0] if checkpoint_paths(best_file)[0].exists() \
            else copy.deepcopy(model.state_dict())

    n_train = x_train.shape[0]
    batch_size = cfg.resolve_batch_size(n_train)
    steps_per_epoch = max(1, n_train // batch_size)  # the incomplete last batch is dropped
    since_fired = state.since_fired.to(device)
    stopped_early = False
    train_seconds, trained_samples = 0.0, 0

    bar = tqdm(total=cfg.epochs * steps_per_epoch, initial=state.epoch * steps_per_epoch,
               disable=not cfg.progress, desc="training", unit="step", dynamic_ncols=True)
    try:
        while state.epoch < cfg.epochs:
            generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + state.epoch)
            order = torch.randperm(n_train, generator=generator).to(device)
            epoch_loss = 0.0
            started = time.perf_counter()
            for i in range(steps_per_epoch):
                xb = x_train[order[i * batch_size:(i + 1) * batch_size]]
                for group in optimizer.param_groups:
                    group["lr"] = lr * min(1.0, (state.step + 1) / max(cfg.warmup_steps, 1))
                dead = since_fired >= cfg.dead_after
                out = model(xb, dead=dead, aux_coefficient=cfg.aux_coefficient)
                optimizer.zero_grad(set_to_none=True)
                out.loss.backward()
                model.remove_parallel_gradient_()
                optimizer.step()
                model.normalize_decoder_()

                since_fired += xb.shape[0]
                since_fired[out.fired] = 0
                state.step += 1
                if (model.config.activation == "relu" and cfg.resample_every
                        and state.step % cfg.resample_every == 0):
                    _resample_dead(model, optimizer, x_train, since_fired >= cfg.dead_after, generator)
                epoch_loss += float(out.loss.detach())
                if i % 10 == 0 or i == steps_per_epoch - 1:
                    variance = max(float(xb.var(dim=0).mean()), 1e-12)
                    bar.set_postfix(loss=f"{float(out.loss.detach()):.4f}",
                                    fvu=f"{float(out.mse.detach()) / variance:.3f}", l0=f"{out.l0:.1f}")
                bar.update(1)
            train_seconds += time.perf_counter() - started
            trained_samples += steps_per_epoch * batch_size

            state.epoch += 1
            val = evaluate(model, x_val)
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
                if checkpoint_dir is not None:
                    save_checkpoint(checkpoint_dir / "best_model", best_state,
                                    {**meta_fn(), "best_epoch": state.epoch, "val": val})
            state.bad_epochs = 0 if improved else state.bad_epochs + 1
            if checkpoint_dir is not None:
                state.since_fired = since_fired.cpu()
                opt_tensors, opt_numbers = _optimizer_tensors(optimizer)
                tensors = {**{f"model.{k}": v for k, v in model.state_dict().items()}, **opt_tensors,
                           "since_fired": state.since_fired}
                save_checkpoint(checkpoint_dir / "last", tensors,
                                {**meta_fn(), "optimizer": opt_numbers, "training_state": state.to_meta()})
            if callback is not None:
                callback(model, row)
            if state.bad_epochs >= cfg.patience:
                stopped_early = True
                break
    finally:
        bar.close()
    model.load_state_dict(best_state)
    rate = trained_samples / train_seconds if train_seconds > 0 else float("nan")
    return TrainResult(state.history, state.best_epoch, stopped_early, rate)


@torch.no_grad()
def _resample_dead(model, optimizer, x_train, dead, generator) -> None:
    """relu-L1: point dead latents at badly reconstructed samples (Bricken et al. 2023)."""
    n_dead = int(dead.sum())
    if n_dead == 0:
        return
    probe = x_train[torch.randint(0, x_train.shape[0], (min(16384, x_train.shape[0]),),
                                  generator=generator).to(x_train.device)]
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
