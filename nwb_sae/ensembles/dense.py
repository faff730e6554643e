"""Ensembles that crowd every time bin: a wide per-sample TopK dictionary, then the statistics.

The threshold code of :mod:`nwb_sae.training.fleet` suits the common case, in which most time bins
hold no ensemble. When the ensembles outnumber the neurons, or the population code is dense, every
bin mixes several of them; small threshold dictionaries then merge ensembles, and few of their latents
replicate across seeds. There a wide per-sample TopK dictionary (:data:`LATENTS_PER_NEURON` latents
per neuron, at most one per :data:`SAMPLES_PER_LATENT` training samples) learns every ensemble, with
copies and mixtures beside them, and :func:`nwb_sae.stats.verdict.vet_dictionary` keeps the latents
that are real: significant on held-out data, found again by a second seed, more than one neuron, and
neither a copy nor a mix of a more frequent latent.

``k`` (active latents per time bin) is chosen from :data:`K_GRID` like the threshold selection
chooses: two seeds per candidate (on at most :data:`SELECTION_SAMPLES` training samples), scored by
the number of latents that pass those tests on the held-out presentations kept for choosing, and by
the masked held-out error (mean of the two seeds); :func:`_pick_dense` weighs them the other way round
from the threshold selection. Every candidate and seed is one TopK instance of a single
:func:`~nwb_sae.training.fleet.fit_fleet` (the threshold path's training loop), so the sweep shares
its batches and steps. The chosen candidate's two fits are continued on all training samples (not
refitted), beside any further seed. :func:`nwb_sae.ensembles.find.find_ensembles` runs this when the
Marchenko-Pastur count is at least 2 and the threshold fit reports fewer than half that many
ensembles, or its masked error still falls at the densest ``k`` it tried; it keeps whichever of the
two reports more ensembles.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from nwb_sae.ensembles.selection import TIE, _subset, masked_errors, vet_fits
from nwb_sae.stats.significance import ShiftNull
from nwb_sae.stats.verdict import vet_dictionary
from nwb_sae.training.fleet import InstanceSpec, encode, fit_fleet

LATENTS_PER_NEURON = 4
"""Width of the dense dictionary, in latents per neuron (room for copies beside every ensemble)."""
SAMPLES_PER_LATENT = 8
"""The width is also at most the training samples over this (every latent needs data to learn from)."""
K_GRID = (2, 4, 6, 8)
"""Candidate active latents per time bin of the dense dictionary."""
MAX_LATENTS = 4096
"""Upper bound of the dense dictionary's width."""
SELECTION_SAMPLES = 32768
"""Training samples each ``k`` candidate is fitted on (a random subset of larger recordings)."""
SWEEP_STEPS = 1000
"""Optimisation steps of every ``k`` candidate (enough to rank them)."""
FINAL_STEPS = 2000
"""Least further steps of the chosen candidate's two fits (continued on all training samples) and of
any further seed (fresh)."""
BATCH_SIZE = 256
"""Samples per step: a per-sample TopK dictionary learns more per sample from small batches
(64 ensembles in 50 neurons: all found after 0.5 million samples in batches of 256, 1 million in 1024)."""


def find_dense_ensembles(xt: torch.Tensor, xv: torch.Tensor, x_test: np.ndarray, *,
                         n_seeds: int = 2, alpha: float = 0.05, null=None, tune_null=None, seed: int = 0,
                         fit_kwargs: dict | None = None, n_latents: int | None = None,
                         progress: bool = False):
    """Fit and vet a wide per-sample TopK dictionary; the threshold selection's dense counterpart.

    Parameters
    ----------
    xt, xv : torch.Tensor
        Normalised float32 samples (samples, neurons): training, and held-out for choosing ``k`` and
        early stopping (the tensors the threshold selection used).
    x_test : numpy.ndarray
        Held-out samples for the statistics (time order, presentations concatenated).
    n_seeds, alpha, seed
        As in :func:`nwb_sae.ensembles.find_ensembles`.
    null, tune_null : ShiftNull, optional
        The significance nulls of ``x_test`` and ``x_tune`` (built here when not given).
    fit_kwargs : dict, optional
        Passed to :func:`nwb_sae.training.fleet.fit_fleet`, as for the threshold fits.
    n_latents : int, optional
        Width of the dictionary when the user gave one (default: :data:`LATENTS_PER_NEURON` per neuron,
        within the bounds above).
    progress : bool
        Show a progress bar for the sweep and the final fits.

    Returns
    -------
    tuple
        ``(weights, n_latents, k, latent_table, consensus, curve)`` with ``weights`` as in
        :class:`nwb_sae.ensembles.EnsembleResult` (``threshold`` 0: TopK needs none) and ``curve`` one
        row per ``k`` tried (``trustworthy``, ``masked_error``, ``chosen``).
    """
    fit_kwargs = fit_kwargs or {}
    if n_latents is None:
        n_latents = max(2, min(LATENTS_PER_NEURON * xt.shape[1], MAX_LATENTS, len(xt) // SAMPLES_PER_LATENT))
    ks = [k for k in K_GRID if k < min(xt.shape[1], n_latents)] or [1]
    subset = xt
    if len(xt) > SELECTION_SAMPLES:
        rows = torch.randperm(len(xt), generator=torch.Generator().manual_seed(seed))[:SELECTION_SAMPLES]
        subset = xt[rows.sort().values]
    tune_null = tune_null if tune_null is not None else ShiftNull(xv.numpy(), seed=seed)
    null = null if null is not None else ShiftNull(np.asarray(x_test, dtype=np.float64), seed=seed)
    label = f"dense path ({n_latents} TopK latents)" if progress else None
    fit_kwargs = {"batch_size": BATCH_SIZE, **fit_kwargs}
    specs = [InstanceSpec(n_latents, k, seed + s, topk=True) for k in ks for s in (0, 1)]
    sweep = fit_fleet(subset, xv, specs, **{"min_steps": SWEEP_STEPS, "max_steps": SWEEP_STEPS, **fit_kwargs},
                      label=label and f"{label}: {len(ks)} k x 2 seeds")
    errors = masked_errors(sweep, xv, np.zeros(len(xv), int), seed=seed)[:, 0].reshape(-1, 2).mean(axis=1)
    codes = encode(_subset(sweep, list(range(0, len(specs), 2))), xv).numpy()
    scores = []
    for i in range(len(ks)):
        table, _ = vet_dictionary(sweep.W_dec[2 * i].numpy(), [sweep.W_dec[2 * i + 1].numpy()], codes[i],
                                  tune_null, alpha=alpha)
        scores.append(int(table["significant"].sum()))
    best = _pick_dense(np.array(scores), np.array(errors))
    k = ks[best]
    n_final = max(n_seeds, 1)
    pair = _subset(sweep, [2 * best, 2 * best + 1][:n_final])
    final = [InstanceSpec(n_latents, k, seed + s, topk=True) for s in range(n_final)]
    fits = fit_fleet(xt, xv, final, init=pair, **{"min_steps": FINAL_STEPS, **fit_kwargs},
                     label=label and f"{label}: k={k}, {n_final} seeds, trained on")
    weights, table, consensus = vet_fits(fits, xt, x_test, null, alpha)
    curve = pd.DataFrame({"sweep": "dense k", "n_latents": n_latents, "k": ks, "trustworthy": scores,
                          "masked_error": errors, "chosen": [i == best for i in range(len(ks))]})
    return weights, n_latents, k, table, consensus, curve


def _pick_dense(scores: np.ndarray, masked: np.ndarray) -> int:
    """Of the candidates whose masked held-out error is within :data:`TIE` of the lowest, the most
    trustworthy (ties: the lowest error).

    The threshold selection ranks by the score first. A TopK code must fill ``k`` latents in every
    sample, and with ``k`` above the ensembles active at once the extras settle on blurred copies
    (cosine 0.86-0.9 to a planted ensemble) that replicate across seeds and pass the shift test, so the
    score hardly falls with ``k``, while a too small ``k`` predicts hidden activity clearly worse.
    64 assemblies in 50 neurons, seeds 0-9: scored first, k = 6 won on 7 of 10 seeds and found
    0.59-0.97 of them where k = 4 finds all (``benchmarks/ensembles.py --cases more-than-neurons``).
    """
    masked = np.asarray(masked, dtype=float)
    near = np.flatnonzero(masked <= masked.min() * (1 + TIE))
    top = near[np.asarray(scores)[near] == np.asarray(scores)[near].max()]
    return int(top[np.argmin(masked[top])])
