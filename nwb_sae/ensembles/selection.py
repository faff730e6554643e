"""How many latents, and how sparse? Chosen from the data: the most ensembles that replicate and are real.

The rule (:func:`select_model`):

1. A floor from random-matrix theory: ``m`` = number of eigenvalues of the neurons' correlation
   matrix (training split) above the Marchenko-Pastur edge ``(1 + sqrt(neurons / samples))**2``,
   the count of co-activation patterns distinguishable from independent noise (Lopes-dos-Santos 2013).
2. Every candidate (n_latents, k) is fitted with two seeds. Its score is the number of *trustworthy*
   latents: latents of the first seed that involve more than one neuron
   (:func:`nwb_sae.stats.significance.effective_neurons`), that the second seed finds again
   (one-to-one cosine >= 0.9, :mod:`nwb_sae.stats.stability`) and whose co-activation on the held-out presentations beats
   independent circular shifts (q <= 0.05, :mod:`nwb_sae.stats.significance`). Latents that fit
   noise fail the held-out test; fragments and mixtures that a too large ``k`` or ``n_latents`` forces
   do not replicate across seeds; a too small ``k`` or ``n_latents`` leaves ensembles out.
3. ``k`` (mean active latents per time bin, BatchTopK) is swept first on a log2 grid at ``2 m``
   latents; then ``n_latents`` over ``m * (1, 2, 4)`` at that ``k``. The highest score wins; ties
   (scores within 10% of it: the count varies that much between fits) go to the lowest masked
   held-out error (10% of held-out entries hidden, predicted from the others, relative to predicting
   the decoder bias): of equally trustworthy models, the one that predicts unseen activity best.

:func:`nwb_sae.ensembles.find_ensembles` then fits the chosen candidate again from scratch, with the
full budget, once per seed (the reference model and its stability check).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from nwb_sae.stats.marchenko_pastur import marchenko_pastur_count
from nwb_sae.stats.significance import MIN_EFFECTIVE_NEURONS, ShiftNull, effective_neurons, is_ensemble
from nwb_sae.stats.stability import seed_stability
from nwb_sae.stats.verdict import vet_dictionary
from nwb_sae.training.fleet import Fleet, InstanceSpec, decode, encode, firing_rate, fit_fleet
from nwb_sae.training.step import codes_of, pre_activations

K_GRID = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1, 2, 4, 8)
"""Candidate mean numbers of active latents per time bin."""
SIZE_FACTORS = (1, 2, 4)
"""Candidate numbers of latents, as multiples of the Marchenko-Pastur count."""
SELECTION_STEPS = 500
"""Optimisation steps of every candidate (whole epochs): enough to rank them; the chosen one is refitted
with the full budget by :func:`nwb_sae.ensembles.find_ensembles`."""


class Selection(NamedTuple):
    """Outcome of :func:`select_model`."""

    n_latents: int
    """Chosen number of latents."""
    k: float
    """Chosen mean number of active latents per time bin."""
    mp_count: int
    """Marchenko-Pastur count (the floor of ``n_latents``)."""
    curve: pd.DataFrame
    """One row per candidate: ``sweep`` (``k`` or ``n_latents``), ``n_latents``, ``k``, ``trustworthy``
    (the score), ``masked_error``, ``error_excess_z`` (``k`` rows: :func:`error_excess_z`), ``chosen``."""
    fleet: Fleet
    """The chosen candidate's two fits: instance 0 (``seed``) and instance 1 (``seed + 1``)."""


def masked_errors(fleet: Fleet, x_val: torch.Tensor, groups: np.ndarray, fraction: float = 0.1,
                  seed: int = 0) -> np.ndarray:
    """Relative masked-entry error of every instance on every held-out group, (instances, groups).

    Parameters
    ----------
    fleet : Fleet
        Fitted instances.
    x_val : torch.Tensor
        Normalised held-out samples (samples, neurons).
    groups : numpy.ndarray
        (samples,) presentation index of each held-out sample; errors are summed per presentation.
    fraction : float
        Fraction of entries masked.
    seed : int
        Seed of the mask.
    """
    mask = torch.rand(x_val.shape, generator=torch.Generator().manual_seed(seed)) < fraction
    filled = torch.where(mask.unsqueeze(0), fleet.b_dec.unsqueeze(1), x_val.unsqueeze(0))
    with torch.no_grad():
        pre = pre_activations(filled, fleet.W_enc, fleet.b_enc, fleet.b_dec, fleet.latent_mask)
        codes = codes_of(pre, fleet.threshold, fleet.ranks)
        err = ((decode(fleet, codes) - x_val) ** 2 * mask).sum(dim=2).numpy()
        base = ((fleet.b_dec.unsqueeze(1) - x_val) ** 2 * mask).sum(dim=2).numpy()
    _, g = np.unique(groups, return_inverse=True)
    per_err = np.stack([np.bincount(g, weights=e) for e in err])
    per_base = np.stack([np.bincount(g, weights=b) for b in base])
    return per_err / per_base.sum(axis=1, keepdims=True) * per_base.shape[1]


def _trustworthy(fleet: Fleet, first: int, second: int, null: ShiftNull, alpha: float) -> int:
    """Latents of instance ``first`` found again by ``second`` and significant on the held-out data."""
    atoms = fleet.W_dec[first][fleet.latent_mask[first]].numpy()
    other = fleet.W_dec[second][fleet.latent_mask[second]].numpy()
    matched = seed_stability(atoms, [other]).matched_fraction
    neurons = effective_neurons(atoms)
    tested = (matched >= 1.0) & (neurons >= MIN_EFFECTIVE_NEURONS)  # BH runs over these latents only
    q_value = null.test(atoms[tested]).q_value
    active = np.ones(len(q_value))  # the score does not ask how often a latent fires
    return int(is_ensemble(q_value, active, neurons[tested], alpha=alpha, matched_fraction=matched[tested],
                           min_matched=1.0).sum())


TIE = 0.1
"""Scores within this fraction of the best count as tied (the count varies about that much between fits)."""


def _pick(scores: np.ndarray, masked: np.ndarray) -> int:
    """Index of the highest score; ties (within :data:`TIE` of it) go to the lowest masked held-out error."""
    scores = np.asarray(scores, dtype=float)
    best = np.flatnonzero(scores >= scores.max() * (1 - TIE))
    return int(best[np.argmin(np.asarray(masked)[best])])


def _sweep(x_train, x_val, val_groups, candidates, seed, alpha, null, fit_kwargs, label=None):
    """Fit each (n_latents, k) with two seeds; scores, masked errors and the fleet."""
    specs = [InstanceSpec(n, k, seed + s) for n, k in candidates for s in (0, 1)]
    fleet = fit_fleet(x_train, x_val, specs, **{"max_steps": SELECTION_STEPS, **fit_kwargs},
                      label=label and f"{label}: {len(candidates)} candidates x 2 seeds")
    per_group = masked_errors(fleet, x_val, val_groups)
    per_group = (per_group[0::2] + per_group[1::2]) / 2  # (candidates, groups), the two seeds' mean
    scores = [_trustworthy(fleet, 2 * i, 2 * i + 1, null, alpha) for i in range(len(candidates))]
    return np.array(scores), per_group, fleet


def error_excess_z(per_group: np.ndarray) -> np.ndarray:
    """How far each candidate's masked held-out error lies above the lowest, in standard errors.

    Paired over the held-out presentations (``per_group``: candidates x groups): the mean difference
    to the candidate of lowest mean error divided by its standard error; 0 for that candidate, and 0
    where there is one group only (no spread to judge by).
    """
    per_group = np.asarray(per_group, dtype=float)
    diff = per_group - per_group[np.argmin(per_group.mean(axis=1))]
    if diff.shape[1] < 2:
        return np.zeros(len(diff))
    se = diff.std(axis=1, ddof=1) / np.sqrt(diff.shape[1])
    return np.divide(diff.mean(axis=1), se, out=np.zeros(len(diff)), where=se > 0)


def select_model(x_train: torch.Tensor, x_val: torch.Tensor, val_groups: np.ndarray, *, seed: int = 0,
                 n_latents: int | None = None, k: float | None = None, k_grid=K_GRID,
                 size_factors=SIZE_FACTORS, max_latents: int = 4096, alpha: float = 0.05,
                 n_shifts: int = 0, null: ShiftNull | None = None, fit_kwargs=None,
                 progress: bool = False) -> Selection:
    """Choose ``n_latents`` and ``k`` by the rule of this module's docstring.

    Parameters
    ----------
    x_train, x_val : torch.Tensor
        Normalised training and held-out samples (samples, neurons); held-out samples in time order.
    val_groups : numpy.ndarray
        Presentation index of each held-out sample.
    seed : int
        Seed of the first fit of every candidate (the second uses ``seed + 1``).
    n_latents, k : optional
        Fix one of the two; only the other is selected.
    k_grid, size_factors : sequence
        Candidates for ``k`` and for ``n_latents / m``.
    max_latents : int
        Upper bound of ``n_latents``.
    alpha, n_shifts : float, int
        Significance level and circular shifts of the held-out test inside the score.
    null : ShiftNull, optional
        That test's null on ``x_val`` when the caller built it already (``n_shifts`` is then its own).
    fit_kwargs : dict, optional
        Passed to :func:`nwb_sae.training.fleet.fit_fleet` (each candidate is fitted for at most
        :data:`SELECTION_STEPS` steps unless ``max_steps`` is given there).
    progress : bool
        Show a progress bar per sweep.

    Returns
    -------
    Selection
    """
    fit_kwargs = fit_kwargs or {}
    m = max(1, marchenko_pastur_count(x_train.numpy()))
    base = n_latents if n_latents is not None else min(max(2 * m, 2), max_latents)
    ks = [k] if k is not None else ([c for c in k_grid if c <= base / 2] or [min(k_grid)])
    null = null if null is not None else ShiftNull(x_val.cpu().numpy(), n_shifts=n_shifts, seed=seed)
    args = (seed, alpha, null, fit_kwargs)
    scores_k, groups_k, fleet_k = _sweep(x_train, x_val, val_groups, [(base, k) for k in ks], *args,
                                         label=progress and "choosing k")
    masked_k, excess_k = groups_k.mean(axis=1), error_excess_z(groups_k)
    pick_k = _pick(scores_k, masked_k)
    k = ks[pick_k]

    factors = () if n_latents is not None else size_factors
    sizes = sorted({min(max(int(f * m), 2), max_latents) for f in factors} | {base})
    new = [n for n in sizes if n != base]
    by_size = {base: (scores_k[pick_k], masked_k[pick_k], fleet_k, 2 * pick_k)}
    if new:
        scores_n, groups_n, fleet_n = _sweep(x_train, x_val, val_groups, [(n, k) for n in new], *args,
                                             label=progress and "choosing the number of latents")
        by_size.update({n: (scores_n[i], groups_n[i].mean(), fleet_n, 2 * i) for i, n in enumerate(new)})
    scores_all = np.array([by_size[n][0] for n in sizes])
    pick_n = _pick(scores_all, np.array([by_size[n][1] for n in sizes]))
    n_latents = sizes[pick_n]

    rows = [dict(sweep="k", n_latents=base, k=kk, trustworthy=int(sc), masked_error=float(me), error_excess_z=float(z),
                 chosen=i == pick_k) for i, (kk, sc, me, z) in enumerate(zip(ks, scores_k, masked_k, excess_k, strict=True))]
    rows += [dict(sweep="n_latents", n_latents=n, k=k, trustworthy=int(by_size[n][0]),
                  masked_error=float(by_size[n][1]), chosen=i == pick_n) for i, n in enumerate(sizes)]
    _, _, fleet, index = by_size[n_latents]
    return Selection(n_latents, float(k), m, pd.DataFrame(rows), _subset(fleet, [index, index + 1]))


def vet_fits(fits: Fleet, x_train: torch.Tensor, x_test: np.ndarray, null: ShiftNull, alpha: float):
    """Vet the final fits of one candidate: ``(weights, latent_table, consensus)`` of the reference.

    The reference is the seed that explains the held-out data best (another can sit in a poorer
    optimum that merges two ensembles); the other seeds check its latents' stability. Its codes on
    ``x_test`` are tested against ``null``; its firing on ``x_train`` counts as activity too.
    """
    order = [int(i) for i in torch.argsort(fits.val_mse)]
    reference = _subset(fits, order[:1])
    others = [fits.W_dec[i][fits.latent_mask[i]].numpy() for i in order[1:]]
    weights = reference.instance(0)
    codes = encode(reference, torch.as_tensor(np.ascontiguousarray(x_test, dtype=np.float32)))[0].numpy()
    fired = firing_rate(reference, x_train)[0].numpy()
    table, consensus = vet_dictionary(weights["W_dec"], others, codes, null, alpha=alpha, train_frequency=fired)
    return weights, table, consensus


def _subset(fleet: Fleet, idx: list[int]) -> Fleet:
    """The instances ``idx`` of a fleet, padding trimmed to their largest ``n_latents``."""
    width = max(fleet.specs[i].n_latents for i in idx)
    return Fleet([fleet.specs[i] for i in idx], fleet.W_enc[idx, :width], fleet.b_enc[idx, :width],
                 fleet.W_dec[idx, :width], fleet.b_dec[idx], fleet.threshold[idx],
                 fleet.latent_mask[idx, :width], fleet.epochs,
                 None if fleet.val_mse is None else fleet.val_mse[idx])


def _join(first: Fleet, second: Fleet) -> Fleet:
    """The instances of two fleets of the same width and kind as one fleet (``first``'s come first)."""
    tensors = [torch.cat([a, b]) for a, b in zip(first[1:7], second[1:7], strict=True)]
    val = None if first.val_mse is None or second.val_mse is None else torch.cat([first.val_mse, second.val_mse])
    return Fleet(list(first.specs) + list(second.specs), *tensors, max(first.epochs, second.epochs), val)
