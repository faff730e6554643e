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
go to the lowest masked held-out error. Every fit is an instance of the threshold path's fleet
(:mod:`nwb_sae.ensembles.fleet`, per-sample TopK instances) on its schedule
(:mod:`nwb_sae.ensembles.schedule`): the candidates as one fleet, the chosen ``k`` fitted again on
all training samples, one instance per seed. :func:`nwb_sae.ensembles.find.find_ensembles` runs this when the
Marchenko-Pastur count is at least 2 and the threshold fit reports fewer than half that many
ensembles, or its masked error still falls at the densest ``k`` it tried; it keeps whichever of the
two reports more ensembles.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from nwb_sae.ensembles.fleet import InstanceSpec, encode
from nwb_sae.ensembles.schedule import fit_candidates, fit_final
from nwb_sae.ensembles.selection import _pick, _subset, masked_errors
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


def find_dense_ensembles(x_train: np.ndarray, x_tune: np.ndarray, x_test: np.ndarray, *,
                         n_seeds: int = 2, alpha: float = 0.05, null=None, tune_null=None, seed: int = 0,
                         fit_kwargs: dict | None = None, n_latents: int | None = None,
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
    fit_kwargs : dict, optional
        Passed to :func:`nwb_sae.ensembles.fleet.fit_fleet` by every fit (as in ``find_ensembles``).
    n_latents : int, optional
        Width of the dictionary when the user gave one (default: :data:`LATENTS_PER_NEURON` per neuron,
        within the bounds above).
    progress : bool
        Show a progress bar per stage.

    Returns
    -------
    tuple
        ``(weights, n_latents, k, latent_table, consensus, curve)`` with ``weights`` as in
        :class:`nwb_sae.ensembles.EnsembleResult` (``threshold`` 0: TopK needs none) and ``curve`` one
        row per ``k`` tried (``trustworthy``, ``masked_error``, ``chosen``).
    """
    fit_kwargs = fit_kwargs or {}
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
    label = progress and f"dense path ({n_latents} TopK latents)" or None
    specs = [InstanceSpec(n_latents, k, seed + s, per_sample=True) for k in ks for s in (0, 1)]
    sweep = fit_candidates(subset, xv, specs, fit_kwargs, label and f"{label}: {len(ks)} k x 2 seeds")
    errors = masked_errors(sweep, xv, np.zeros(len(xv)), seed=seed)[0::2, 0]
    codes = encode(sweep, xv).numpy()
    scores = []
    for i in range(len(ks)):
        table, _ = vet_dictionary(sweep.W_dec[2 * i].numpy(), [sweep.W_dec[2 * i + 1].numpy()], codes[2 * i],
                                  tune_null, alpha=alpha)
        scores.append(int(table["significant"].sum()))
    best = _pick(np.array(scores), errors)
    k = ks[best]
    finals = [InstanceSpec(n_latents, k, seed + s, per_sample=True) for s in range(max(n_seeds, 1))]
    fits = fit_final(xt, xv, finals, fit_kwargs, label and f"{label}: final fits (k={k}, {len(finals)} seeds)")
    order = [int(i) for i in torch.argsort(fits.val_mse)]  # the reference explains held-out data best
    reference = _subset(fits, order[:1])
    others = [fits.W_dec[i].numpy() for i in order[1:]]
    test_codes = encode(reference, torch.as_tensor(np.asarray(x_test, dtype=np.float32)))[0].numpy()
    weights = reference.instance(0)
    table, consensus = vet_dictionary(weights["W_dec"], others, test_codes, null, alpha=alpha)
    curve = pd.DataFrame({"sweep": "dense k", "n_latents": n_latents, "k": ks, "trustworthy": scores,
                          "masked_error": errors, "chosen": [i == best for i in range(len(ks))]})
    return weights, n_latents, k, table, consensus, curve
