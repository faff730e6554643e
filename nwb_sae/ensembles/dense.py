"""Ensembles that crowd every time bin: a wide per-sample TopK dictionary, then the statistics.

The threshold code of :mod:`nwb_sae.training.fleet` suits the common case, in which most time bins
hold no ensemble. When the ensembles outnumber the neurons, or the population code is dense, every
bin mixes several of them; small threshold dictionaries then merge ensembles, and few of their latents
replicate across seeds. There a wide per-sample TopK dictionary (:data:`LATENTS_PER_NEURON` latents
per neuron, at most one per :data:`SAMPLES_PER_LATENT` training samples) learns every ensemble, with
copies and mixtures beside them, and :func:`nwb_sae.stats.verdict.vet_dictionary` keeps the latents
that are real: significant on held-out data, found again by a second seed, more than one neuron, and
neither a copy nor a mix of a more frequent latent.

``k`` (active latents per time bin) is chosen from :data:`K_GRID` in two rounds, every candidate
with two seeds, scored by the masked held-out error (mean of the two seeds) on the held-out
presentations kept for choosing. The sweep fits every ``k`` briefly on at most
:data:`SELECTION_SAMPLES` training samples, as one TopK fleet (:func:`~nwb_sae.training.fleet.fit_fleet`,
the threshold path's training loop, so the candidates share batches and steps). The
:data:`FINALISTS` of lowest error are continued on all training samples (not refitted), and of those
within :data:`~nwb_sae.ensembles.selection.TIE` of the lowest error the densest wins
(:func:`_pick_dense` says why). A further seed of the chosen ``k`` starts fresh. The curve keeps the
trust count of every candidate (latents that pass the tests below on the held-out presentations kept
for choosing) beside its error. :func:`nwb_sae.ensembles.find.find_ensembles` runs this when the
Marchenko-Pastur count is at least 2 and the threshold fit reports fewer than half that many
ensembles, or its masked error still falls at the densest ``k`` it tried; it keeps whichever of the
two reports more ensembles.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from nwb_sae.ensembles.selection import TIE, _join, _subset, masked_errors, vet_fits
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
"""Least further steps of the finalists' two fits each (continued on all training samples); a further
seed of the chosen one starts fresh with ``SWEEP_STEPS + FINAL_STEPS``."""
SATURATED = 0.5
"""A dense dictionary reporting more ensembles than this fraction of its width is fitted again twice as
wide (once), unless the user gave the width."""
FINALISTS = 2
"""The ``k`` candidates of lowest masked error after the sweep that are trained on and ranked again."""
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
    widest = min(MAX_LATENTS, len(xt) // SAMPLES_PER_LATENT)
    may_widen = n_latents is None
    if n_latents is None:
        n_latents = max(2, min(LATENTS_PER_NEURON * xt.shape[1], widest))
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
    # the sweep is a fixed number of steps (within the user's epochs) at the dense path's own batch size:
    # a user's epochs bring a batch size for their budget (512 on 32,000 samples), which doubled its cost
    sweep = fit_fleet(subset, xv, specs, **{"min_steps": SWEEP_STEPS, **fit_kwargs, "max_steps": SWEEP_STEPS,
                                            "batch_size": BATCH_SIZE},
                      label=label and f"{label}: {len(ks)} k x 2 seeds")
    scores, errors = _rank(sweep, xv, tune_null, alpha, seed)
    # the sweep is too short to rank the best two reliably (a too small k explains the data with
    # blends and still ranks first after 1,000 steps): both are trained on and ranked again
    finalists = sorted(np.argsort(errors, kind="stable")[:FINALISTS].tolist())
    pairs = _subset(sweep, [2 * i + s for i in finalists for s in (0, 1)])
    longer = fit_fleet(xt, xv, pairs.specs, init=pairs, **{"min_steps": FINAL_STEPS, **fit_kwargs},
                       label=label and f"{label}: k={', '.join(str(ks[i]) for i in finalists)}, 2 seeds, trained on")
    final_scores, final_errors = _rank(longer, xv, tune_null, alpha, seed)
    chosen = _pick_dense([ks[i] for i in finalists], final_errors)
    best, k = finalists[chosen], ks[finalists[chosen]]
    fits = _subset(longer, [2 * chosen, 2 * chosen + 1][:max(n_seeds, 1)])
    if n_seeds > 2:  # further seeds start fresh, with the whole budget of the two
        more = [InstanceSpec(n_latents, k, seed + s, topk=True) for s in range(2, n_seeds)]
        fits = _join(fits, fit_fleet(xt, xv, more, **{"min_steps": SWEEP_STEPS + FINAL_STEPS, **fit_kwargs},
                                     label=label and f"{label}: k={k}, {len(more)} more seeds"))
    weights, table, consensus = vet_fits(fits, xt, x_test, null, alpha)
    width, rows = n_latents, []
    if may_widen and table["significant"].sum() > SATURATED * n_latents and 2 * n_latents <= widest:
        # more ensembles than the width leaves room for (a copy or a mixture beside each): the chosen
        # k again, twice as wide, with the whole budget; the wider one is kept when it reports more
        wide = [InstanceSpec(2 * n_latents, k, seed + s, topk=True) for s in range(max(n_seeds, 1))]
        wider = vet_fits(fit_fleet(xt, xv, wide, **{"min_steps": SWEEP_STEPS + FINAL_STEPS, **fit_kwargs},
                                   label=label and f"{label}: k={k}, {2 * n_latents} latents"), xt, x_test, null, alpha)
        reported = int(wider[1]["significant"].sum())
        if reported > table["significant"].sum():
            (weights, table, consensus), width = wider, 2 * n_latents
        rows = [dict(sweep="dense width", n_latents=2 * n_latents, k=k, trustworthy=reported, masked_error=np.nan,
                     chosen=width > n_latents)]
    curve = pd.DataFrame({"sweep": "dense k", "n_latents": n_latents, "k": ks, "trustworthy": scores,
                          "masked_error": errors, "chosen": False})
    trained_on = pd.DataFrame({"sweep": "dense k, trained on", "n_latents": n_latents,
                               "k": [ks[i] for i in finalists], "trustworthy": final_scores,
                               "masked_error": final_errors, "chosen": [i == best and width == n_latents
                                                                        for i in finalists]})
    curve = pd.concat([curve, trained_on] + ([pd.DataFrame(rows)] if rows else []), ignore_index=True)
    return weights, width, k, table, consensus, curve


def _rank(fleet, xv: torch.Tensor, tune_null, alpha: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Trust count and masked held-out error of every pair of seeds (instances 2i and 2i + 1) of a fleet."""
    errors = masked_errors(fleet, xv, np.zeros(len(xv), int), seed=seed)[:, 0].reshape(-1, 2).mean(axis=1)
    codes = encode(_subset(fleet, list(range(0, len(fleet.specs), 2))), xv).numpy()
    scores = [int(vet_dictionary(fleet.W_dec[2 * i].numpy(), [fleet.W_dec[2 * i + 1].numpy()], codes[i], tune_null,
                                 alpha=alpha)[0]["significant"].sum()) for i in range(len(errors))]
    return np.array(scores), np.asarray(errors)


def _pick_dense(ks, masked: np.ndarray) -> int:
    """Of the candidates whose masked held-out error is within :data:`TIE` of the lowest, the densest.

    The threshold selection ranks by the trust count first. Neither that count nor the masked error
    tells a too small ``k`` apart: with fewer slots than ensembles active at once, every atom learns
    its ensemble blended with the others' mean activity, and such blends replicate across seeds, pass
    the shift test and predict hidden activity about as well (the demo's 96 ensembles in 48 neurons,
    3-8 active per bin: k = 2 scored 94 trustworthy latents at masked error 0.522, k = 4 92 at 0.527;
    k = 2 matched 9% of the ensembles above cosine 0.9, k = 4 96%). A too large ``k`` does show in the
    masked error (copies fill the extra slots: 0.60 at k = 6), and only the two lowest ``k`` of the
    sweep's error reach this choice.
    """
    masked = np.asarray(masked, dtype=float)
    near = np.flatnonzero(masked <= masked.min() * (1 + TIE))
    return int(near[np.argmax(np.asarray(ks)[near])])
