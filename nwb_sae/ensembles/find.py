"""One call from samples to trustworthy ensembles: selection, fit, significance, seed stability.

:func:`find_ensembles` is what :class:`nwb_sae.SAE` runs by default; it works on normalised sample
matrices so it knows nothing of files, labels or the estimator.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from nwb_sae.ensembles.fleet import InstanceSpec, encode, fit_fleet
from nwb_sae.ensembles.selection import select_model
from nwb_sae.ensembles.significance import coactivation_test
from nwb_sae.ensembles.stability import seed_stability

STABLE_COSINE = 0.9
"""A latent counts as found again by another seed when its one-to-one match has at least this cosine."""


class EnsembleResult(NamedTuple):
    """Outcome of :func:`find_ensembles`."""

    weights: dict
    """Weights of the reference fit, keys ``W_enc``, ``b_enc``, ``W_dec``, ``b_dec`` (numpy) and
    ``threshold`` (float): a BatchTopK :class:`nwb_sae.model.SparseAutoencoder` with ``k``."""
    n_latents: int
    """Number of latents (chosen unless given)."""
    k: float
    """Mean active latents per time bin (chosen unless given)."""
    latent_table: pd.DataFrame
    """One row per latent: ``frequency`` and ``mean_activation`` (held-out codes), ``statistic``,
    ``z_score``, ``p_value``, ``q_value`` (co-activation vs circular shifts, held-out), ``stability``,
    ``matched_fraction`` (seeds), ``significant``."""
    significant: np.ndarray
    """(latents,) bool: ``q_value <= alpha``, active on held-out data, and found again by the
    majority of the other seeds."""
    consensus: np.ndarray
    """Consensus dictionary (latents, neurons) over seeds."""
    selection_curve: pd.DataFrame | None
    """Masked held-out error of every candidate (``None`` when both size and sparsity were given)."""
    mp_count: int | None
    """Marchenko-Pastur count (``None`` when selection was skipped)."""


def find_ensembles(x_train: np.ndarray, x_val: np.ndarray, val_groups: np.ndarray, *,
                   n_latents: int | None = None, k: float | None = None, n_seeds: int = 3,
                   alpha: float = 0.05, n_shifts: int = 200, seed: int = 0,
                   fit_kwargs: dict | None = None) -> EnsembleResult:
    """Select, fit and vet a sparse dictionary of ensembles.

    Parameters
    ----------
    x_train, x_val : numpy.ndarray
        Normalised training and held-out samples (samples, neurons); held-out samples in time order
        with each presentation contiguous (the significance shifts run across all of them).
    val_groups : numpy.ndarray
        (held-out samples,) presentation index of each held-out sample.
    n_latents, k : optional
        Fix the number of latents / the mean active latents per time bin instead of selecting them
        (:func:`nwb_sae.ensembles.selection.select_model`).
    n_seeds : int
        Fits with different seeds for the stability score (1 disables it: stability is then 1).
    alpha : float
        False discovery rate of the significance test.
    n_shifts : int
        Circular-shift copies of the null distribution.
    seed : int
        Seed of the reference fit; the other fits use ``seed + 1, ...``.
    fit_kwargs : dict, optional
        Passed to :func:`nwb_sae.ensembles.fleet.fit_fleet` (``max_epochs``, ``batch_size``, ``lr``, ...).

    Returns
    -------
    EnsembleResult
    """
    xt = torch.as_tensor(np.ascontiguousarray(x_train, dtype=np.float32))
    xv = torch.as_tensor(np.ascontiguousarray(x_val, dtype=np.float32))
    fit_kwargs = fit_kwargs or {}
    curve, mp = None, None
    if n_latents is None or k is None:
        grid = {}
        if n_latents is not None:
            grid["size_factors"] = ()
        if k is not None:
            grid["k_grid"] = (k,)
        sel = select_model(xt, xv, val_groups, seed=seed, fit_kwargs=fit_kwargs, **grid)
        if n_latents is not None and n_latents != sel.n_latents:
            reference = fit_fleet(xt, xv, [InstanceSpec(n_latents, sel.k, seed)], **fit_kwargs)
        else:
            reference = sel.fleet
        n_latents, k, curve, mp = reference.specs[0].n_latents, sel.k, sel.curve, sel.mp_count
    else:
        reference = fit_fleet(xt, xv, [InstanceSpec(n_latents, k, seed)], **fit_kwargs)
    others = []
    if n_seeds > 1:
        fleet = fit_fleet(xt, xv, [InstanceSpec(n_latents, k, seed + s) for s in range(1, n_seeds)],
                          **fit_kwargs)
        others = [fleet.W_dec[i].numpy() for i in range(len(fleet.specs))]
    weights = reference.instance(0)
    atoms = weights["W_dec"]
    codes = encode(reference, xv)[0].numpy()
    test = coactivation_test(atoms, x_val, n_shifts=n_shifts, seed=seed)
    stab = seed_stability(atoms, others, threshold=STABLE_COSINE)
    frequency = (codes > 0).mean(axis=0)
    significant = (test.q_value <= alpha) & (frequency > 0) & (stab.matched_fraction >= 0.5)
    table = pd.DataFrame({
        "frequency": frequency, "mean_activation": codes.mean(axis=0), "statistic": test.statistic,
        "z_score": test.z_score, "p_value": test.p_value, "q_value": test.q_value,
        "stability": stab.stability, "matched_fraction": stab.matched_fraction, "significant": significant,
    })
    table.index.name = "latent"
    return EnsembleResult(weights, int(n_latents), float(k), table, significant, stab.consensus, curve, mp)
