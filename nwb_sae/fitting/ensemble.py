"""The default fit path: model selection, several seeds, significance and stability (batchtopk).

:func:`fit_ensembles` runs :func:`nwb_sae.ensembles.find_ensembles` on the normalised training and
held-out samples (the number of latents and the sparsity are chosen on held-out presentations unless
given, several seeds are fitted together, every latent is tested against circular shifts and scored
for stability) and returns a :class:`~nwb_sae.fitting.outcome.FitOutcome` holding the model and its
latent table.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
import xarray as xr

from nwb_sae.config import ModelConfig, TrainConfig
from nwb_sae.fitting.outcome import FitOutcome
from nwb_sae.model import SparseAutoencoder

FLEET_SETTINGS = {"epochs": "max_epochs", "patience": "patience", "batch_size": "batch_size", "lr": "lr"}
"""TrainConfig fields that, when changed from their defaults, override the ensemble fit's own."""


def fleet_kwargs(cfg_t: TrainConfig, n_train: int, history: dict, on_epoch=None) -> dict:
    """Arguments of :func:`nwb_sae.training.fleet.fit_fleet` from the training settings.

    The ensemble fit has its own measured defaults (epochs, patience, batch size, learning rate);
    only settings the user changed replace them. Changed ``epochs`` also brings the batch size of
    :meth:`~nwb_sae.config.TrainConfig.resolve_batch_size` (at least 32 steps an epoch), since the
    ensemble fit's large batches need more epochs than a user asking for few expects, and no floor of
    optimisation steps (``min_steps``) raises the epochs the user gave (``raise_epochs=False``). Each epoch appends the mean
    held-out error of the fitted instances to ``history`` (``epoch`` counts on across the selection
    and the final fits) and calls ``on_epoch(row)`` with that row when given.
    """
    defaults = TrainConfig()
    kwargs = {name: getattr(cfg_t, field) for field, name in FLEET_SETTINGS.items()
              if getattr(cfg_t, field) is not None and getattr(cfg_t, field) != getattr(defaults, field)}
    if "max_epochs" in kwargs:
        kwargs["batch_size"] = cfg_t.resolve_batch_size(n_train)
        kwargs["raise_epochs"] = False  # the user's epochs are the budget: no step floor raises them

    def record(_epoch: int, val_mse: torch.Tensor) -> None:
        history["epoch"].append(len(history["epoch"]) + 1)
        history["val_loss"].append(float(val_mse.mean()))
        if on_epoch is not None:
            on_epoch({key: values[-1] for key, values in history.items()})

    kwargs["progress"] = record
    return kwargs


def fit_ensembles(arr: xr.DataArray, val_idx: np.ndarray, x_train: np.ndarray, x_val: np.ndarray,
                  mean: np.ndarray, scale: np.ndarray, cfg_m: ModelConfig, cfg_t: TrainConfig,
                  on_epoch=None) -> FitOutcome:
    """The default fit: select, fit several seeds, vet every latent.

    ``x_train`` / ``x_val`` are population vectors in input units, presentations contiguous (as
    :func:`nwb_sae.samples.population_vectors` orders them); ``val_idx`` the held-out presentations.
    ``on_epoch(row)`` runs after every epoch of every fit. The outcome's model (normalisation
    included, on the CPU) is BatchTopK, or per-sample TopK when the dense path reported more ensembles.
    """
    from nwb_sae.ensembles import find_ensembles, load_weights

    xt, xv = (x_train - mean) / scale, (x_val - mean) / scale
    groups = np.repeat(np.arange(len(val_idx)), arr.sizes["time"])
    history = {"epoch": [], "val_loss": []}
    res = find_ensembles(xt, xv, groups, n_latents=cfg_m.n_latents, k=cfg_m.k, n_seeds=cfg_t.n_seeds,
                         alpha=cfg_t.alpha, n_shifts=cfg_t.n_shifts, seed=cfg_t.seed,
                         fit_kwargs=fleet_kwargs(cfg_t, len(xt), history, on_epoch), progress=cfg_t.progress)
    model = SparseAutoencoder(arr.sizes["neurons"], replace(cfg_m, n_latents=res.n_latents, k=res.k,
                                                             activation=res.activation))
    model.input_mean.copy_(torch.from_numpy(mean))
    model.input_scale.copy_(torch.from_numpy(scale))
    load_weights(model, res.weights)
    model.eval()
    best_epoch = int(np.argmin(history["val_loss"])) + 1 if history["val_loss"] else 0
    return FitOutcome(model, history, best_epoch, latent_table=res.latent_table,
                      selection_curve=res.selection_curve, mp_count=res.mp_count, consensus=res.consensus)
