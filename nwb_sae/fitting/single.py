"""The single-model fit path: one model trained by :func:`nwb_sae.training.loop.train_model`.

It serves topk and relu fits, recordings streamed block by block, torchrun, and batchtopk without
held-out presentations; the latent table is computed afterwards (:func:`nwb_sae.fitting.finish.vet_latents`).
"""

from __future__ import annotations

import numpy as np
import torch

from nwb_sae.config import ModelConfig, TrainConfig
from nwb_sae.fitting.outcome import FitOutcome
from nwb_sae.model import SparseAutoencoder
from nwb_sae.training.loop import as_tensor, train_model


def fit_single_model(x_train, x_val, mean: np.ndarray, scale: np.ndarray, cfg_m: ModelConfig,
                     cfg_t: TrainConfig, device: torch.device, *, checkpoint_dir=None, resume: bool = False,
                     checkpoint_meta=None, on_model=None, on_epoch=None, head=None) -> FitOutcome:
    """Initialise and train one :class:`~nwb_sae.model.SparseAutoencoder`.

    Parameters
    ----------
    x_train, x_val : numpy.ndarray or sample source
        Population vectors in input units, or streamed sources of normalised samples with ``head`` a
        first block of training samples (input units) to initialise from.
    mean, scale : numpy.ndarray
        The normalisation learned on the training split (stored in the model).
    cfg_m, cfg_t : ModelConfig, TrainConfig
        The model (``n_latents`` and ``k`` resolved) and the training settings.
    device : torch.device
        Where to train.
    checkpoint_dir, resume, checkpoint_meta
        As in :func:`nwb_sae.training.loop.train_model`.
    on_model : callable, optional
        ``on_model(model)`` before training starts (the checkpoints written during training describe it).
    on_epoch : callable, optional
        ``on_epoch(row)`` after every epoch with its history row.
    head : numpy.ndarray, optional
        See ``x_train``.

    Returns
    -------
    FitOutcome
        Without a latent table.
    """
    torch.manual_seed(cfg_t.seed)
    model = SparseAutoencoder(len(mean), cfg_m)
    model.reset_parameters(torch.Generator().manual_seed(cfg_t.seed))
    model.input_mean.copy_(torch.from_numpy(mean))
    model.input_scale.copy_(torch.from_numpy(scale))
    model.to(device)
    if head is None:
        xt = model.normalize(as_tensor(x_train, device))
        xv = model.normalize(as_tensor(x_val, device)) if len(x_val) else xt
        model.init_from_data(xt)
    else:
        xt, xv = x_train, x_val
        model.init_from_data(model.normalize(as_tensor(head, device)))
    if on_model is not None:
        on_model(model)
    result = train_model(model, xt, xv, cfg_t, checkpoint_dir=checkpoint_dir, resume=resume,
                         checkpoint_meta=checkpoint_meta,
                         callback=None if on_epoch is None else lambda _m, row: on_epoch(row))
    return FitOutcome(model, result.history, result.best_epoch, result.samples_per_second, result.world_size,
                      result.rank)
