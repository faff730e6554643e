"""Ensembles that crowd every time bin: a wide per-sample TopK dictionary, then the statistics.

The threshold code of :mod:`nwb_sae.ensembles.fleet` suits the common case, in which most time bins
hold no ensemble. When the ensembles outnumber the neurons, or the population code is dense, every
bin mixes several of them; small threshold dictionaries then merge ensembles, and few of their latents
replicate across seeds. There a wide per-sample TopK dictionary (:data:`LATENTS_PER_NEURON` latents
per neuron, at most one per :data:`SAMPLES_PER_LATENT` training samples) learns every ensemble, with
copies and mixtures beside them, and :func:`nwb_sae.ensembles.verdict.vet_dictionary` keeps the latents
that are real: significant on held-out data, found again by a second seed, more than one neuron, and
neither a copy nor a mix of a more frequent latent.

``k`` (active latents per time bin) is chosen from :data:`K_GRID` like the threshold selection
chooses: two seeds per candidate (on at most :data:`SELECTION_SAMPLES` training samples), scored by
the number of latents that pass those tests on the held-out presentations kept for choosing; ties
go to the lowest masked held-out error. The chosen ``k`` is refitted on all training samples when the
candidates saw a subset. :func:`nwb_sae.ensembles.find.find_ensembles` runs this when the
Marchenko-Pastur count is at least 2 and the threshold fit reports fewer than half that many
ensembles, or its masked error still falls at the densest ``k`` it tried; it keeps whichever of the
two reports more ensembles.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from nwb_sae.config import ModelConfig, TrainConfig
from nwb_sae.ensembles.selection import _pick
from nwb_sae.ensembles.significance import ShiftNull
from nwb_sae.ensembles.verdict import vet_dictionary

LATENTS_PER_NEURON = 16
"""Width of the dense dictionary, in latents per neuron (room for copies beside every ensemble)."""
SAMPLES_PER_LATENT = 8
"""The width is also at most the training samples over this (every latent needs data to learn from)."""
K_GRID = (2, 4, 6, 8)
"""Candidate active latents per time bin of the dense dictionary."""
MAX_LATENTS = 4096
"""Upper bound of the dense dictionary's width."""
SELECTION_SAMPLES = 32768
"""Training samples each ``k`` candidate is fitted on (a random subset of larger recordings)."""


def fit_topk(x_train: torch.Tensor, x_val: torch.Tensor, n_latents: int, k: int, seed: int,
             train_config: TrainConfig):
    """One per-sample TopK :class:`nwb_sae.model.SparseAutoencoder` on normalised samples (identity normalisation)."""
    from nwb_sae.model import SparseAutoencoder
    from nwb_sae.train import train_model

    model = SparseAutoencoder(x_train.shape[1], ModelConfig(n_latents=n_latents, activation="topk", k=k))
    model.reset_parameters(torch.Generator().manual_seed(seed))
    model.init_from_data(x_train)
    torch.manual_seed(seed)
    train_model(model, x_train, x_val, replace(train_config, seed=seed, progress=False, device="cpu"))
    return model.eval()


def masked_error(model, x: torch.Tensor, fraction: float = 0.1, seed: int = 0) -> float:
    """Error on hidden held-out entries (filled with the decoder bias), relative to predicting that bias."""
    mask = torch.rand(x.shape, generator=torch.Generator().manual_seed(seed)) < fraction
    with torch.no_grad():
        filled = torch.where(mask, model.b_dec, x)
        recon = model.decode(model.encode(filled))
        err = ((recon - x) ** 2 * mask).sum()
        base = ((model.b_dec - x) ** 2 * mask).sum()
    return float(err / base.clamp_min(1e-12))


def find_dense_ensembles(x_train: np.ndarray, x_tune: np.ndarray, x_test: np.ndarray, *,
                         n_seeds: int = 2, alpha: float = 0.05, null=None, tune_null=None, seed: int = 0,
                         train_config: TrainConfig | None = None, n_latents: int | None = None,
                         progress: bool = False):
    """Fit and vet a wide per-sample TopK dictionary; the threshold selection's dense counterpart.

    Parameters
    ----------
    x_train, x_tune, x_test : numpy.ndarray
        Normalised samples (samples, neurons): training, held-out for choosing ``k`` and early
        stopping, held-out for the statistics (time order, presentations concatenated).
    n_seeds, alpha, seed
        As in :func:`nwb_sae.ensembles.find_ensembles`.
    null, tune_null : ShiftNull, optional
        The significance nulls of ``x_test`` and ``x_tune`` (built here when not given).
    train_config : TrainConfig, optional
        Training settings of :func:`nwb_sae.train.train_model` (seed, progress and device are set here).
    n_latents : int, optional
        Width of the dictionary when the user gave one (default: :data:`LATENTS_PER_NEURON` per neuron,
        within the bounds above).
    progress : bool
        Show a progress bar over the fits.

    Returns
    -------
    tuple
        ``(weights, n_latents, k, latent_table, consensus, curve)`` with ``weights`` as in
        :class:`nwb_sae.ensembles.EnsembleResult` (``threshold`` 0: TopK needs none) and ``curve`` one
        row per ``k`` tried (``trustworthy``, ``masked_error``, ``chosen``).
    """
    cfg = train_config or TrainConfig()
    xt, xv = (torch.as_tensor(np.ascontiguousarray(a, dtype=np.float32)) for a in (x_train, x_tune))
    if n_latents is None:
        n_latents = max(2, min(LATENTS_PER_NEURON * xt.shape[1], MAX_LATENTS, len(xt) // SAMPLES_PER_LATENT))
    ks = [k for k in K_GRID if k < min(xt.shape[1], n_latents)] or [1]
    subset = xt
    if len(xt) > SELECTION_SAMPLES:
        rows = torch.randperm(len(xt), generator=torch.Generator().manual_seed(seed))[:SELECTION_SAMPLES]
        subset = xt[rows.sort().values]
    tune_null = tune_null if tune_null is not None else ShiftNull(xv.numpy(), seed=seed)
    null = null if null is not None else ShiftNull(np.asarray(x_test, dtype=np.float64), seed=seed)
    refits = n_seeds if len(xt) > SELECTION_SAMPLES else max(n_seeds - 2, 0)
    bar = tqdm(total=2 * len(ks) + refits, desc=f"dense path ({n_latents} TopK latents)", unit="fit",
               disable=not progress, dynamic_ncols=True, leave=False)

    def fit(x, k, s):
        model = fit_topk(x, xv, n_latents, k, s, cfg)
        bar.update(1)
        return model

    pairs = [[fit(subset, k, seed + s) for s in (0, 1)] for k in ks]
    errors = [masked_error(a, xv, seed=seed) for a, _ in pairs]
    scores = []
    for a, b in pairs:
        with torch.no_grad():
            codes = a.encode(xv).numpy()
        table, _ = vet_dictionary(a.W_dec.detach().numpy(), [b.W_dec.detach().numpy()], codes, tune_null,
                                  alpha=alpha)
        scores.append(int(table["significant"].sum()))
    best = _pick(np.array(scores), np.array(errors))
    k = ks[best]
    fits = pairs[best] if subset is xt else [fit(xt, k, seed)]
    fits += [fit(xt, k, seed + s) for s in range(len(fits), n_seeds)]
    bar.close()
    model = fits[0]
    others = [m.W_dec.detach().numpy() for m in fits[1:n_seeds]]
    x_test = np.asarray(x_test, dtype=np.float32)
    with torch.no_grad():
        codes = model.encode(torch.as_tensor(x_test)).numpy()
        fired = (sum((model.encode(b) > 0).sum(dim=0, dtype=torch.float64) for b in xt.split(8192)) / len(xt)).numpy()
    atoms = model.W_dec.detach().numpy()
    table, consensus = vet_dictionary(atoms, others, codes, null, alpha=alpha, train_frequency=fired)
    weights = {name: getattr(model, name).detach().numpy() for name in ("W_enc", "b_enc", "W_dec", "b_dec")}
    weights["threshold"] = 0.0
    curve = pd.DataFrame({"sweep": "dense k", "n_latents": n_latents, "k": ks, "trustworthy": scores,
                          "masked_error": errors, "chosen": [i == best for i in range(len(ks))]})
    return weights, n_latents, k, table, consensus, curve
