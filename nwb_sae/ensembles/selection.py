"""How many latents, and how sparse? Chosen from the data by predicting masked held-out entries.

The rule (documented in :func:`select_model`):

1. A floor from random-matrix theory: ``m`` = number of eigenvalues of the neurons' correlation
   matrix (training split) above the Marchenko-Pastur edge ``(1 + sqrt(neurons / samples))**2``,
   the count of co-activation patterns distinguishable from independent noise (Lopes-dos-Santos 2013).
2. The score of a (n_latents, k) candidate is its error on masked entries of held-out presentations:
   10% of the entries of every held-out sample are replaced by the model's "no information" value
   (its decoder bias), the sample is encoded and decoded, and the squared error is measured on the
   masked entries only, relative to predicting them by the bias. A latent that fires on noise (too
   large ``k``) or fits a fragment of noise (too many latents) cannot predict a masked neuron from the
   others, so unlike plain held-out reconstruction this score rises again past the truth.
3. ``k`` (mean active latents per time bin, BatchTopK) is chosen first on a log2 grid at ``2 m``
   latents; then ``n_latents`` on ``m * (1, 2, 4, 8)`` at that ``k``. In each sweep the sparsest /
   smallest candidate whose score is within one standard error of the best (paired over held-out
   presentations) wins: simpler models are preferred unless the data say otherwise.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from nwb_sae.ensembles.fleet import Fleet, InstanceSpec, _pre, decode, fit_fleet

K_GRID = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1, 2, 4, 8)
"""Candidate mean numbers of active latents per time bin."""
SIZE_FACTORS = (1, 2, 4, 8)
"""Candidate numbers of latents, as multiples of the Marchenko-Pastur count."""


class Selection(NamedTuple):
    """Outcome of :func:`select_model`."""

    n_latents: int
    """Chosen number of latents."""
    k: float
    """Chosen mean number of active latents per time bin."""
    mp_count: int
    """Marchenko-Pastur count (the floor of ``n_latents``)."""
    curve: pd.DataFrame
    """One row per candidate: ``sweep`` (k or n_latents), ``n_latents``, ``k``, ``masked_error``,
    ``standard_error``, ``chosen``."""
    fleet: Fleet
    """The fitted candidates of the last sweep (the chosen one is ``fleet.specs.index((n_latents, k, seed))``)."""


def marchenko_pastur_count(x: np.ndarray) -> int:
    """Eigenvalues of the correlation matrix of ``x`` (samples, neurons) above the Marchenko-Pastur edge."""
    x = np.asarray(x, dtype=np.float64)
    sd = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    eig = np.linalg.eigvalsh(z.T @ z / z.shape[0])
    edge = (1 + np.sqrt(x.shape[1] / x.shape[0])) ** 2
    return int((eig > edge).sum())


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
        pre = _pre(filled, fleet.W_enc, fleet.b_enc, fleet.b_dec, fleet.latent_mask)
        codes = pre * (pre > fleet.threshold.view(-1, 1, 1))
        err = ((decode(fleet, codes) - x_val) ** 2 * mask).sum(dim=2).numpy()
        base = ((fleet.b_dec.unsqueeze(1) - x_val) ** 2 * mask).sum(dim=2).numpy()
    _, g = np.unique(groups, return_inverse=True)
    per_err = np.stack([np.bincount(g, weights=e) for e in err])
    per_base = np.stack([np.bincount(g, weights=b) for b in base])
    return per_err / per_base.sum(axis=1, keepdims=True) * per_base.shape[1]


def _one_se_choice(errors: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """First candidate (simplest first) within one paired standard error of the best; means and SEs."""
    means = errors.mean(axis=1)
    best = int(means.argmin())
    diff = errors - errors[best]
    se = diff.std(axis=1, ddof=1) / np.sqrt(errors.shape[1]) if errors.shape[1] > 1 else np.zeros(len(means))
    ok = np.flatnonzero(means - means[best] <= se)
    return int(ok[0]), means, se


def select_model(x_train: torch.Tensor, x_val: torch.Tensor, val_groups: np.ndarray, *, seed: int = 0,
                 k_grid=K_GRID, size_factors=SIZE_FACTORS, max_latents: int = 4096, fit_kwargs=None
                 ) -> Selection:
    """Choose ``n_latents`` and ``k`` by the masked held-out rule of this module's docstring.

    Parameters
    ----------
    x_train, x_val : torch.Tensor
        Normalised training and held-out samples (samples, neurons).
    val_groups : numpy.ndarray
        Presentation index of each held-out sample (standard errors are over presentations).
    seed : int
        Seed of every candidate's initialisation.
    k_grid, size_factors : sequence
        Candidates for ``k`` and for ``n_latents / m``.
    max_latents : int
        Upper bound of ``n_latents``.
    fit_kwargs : dict, optional
        Passed to :func:`nwb_sae.ensembles.fleet.fit_fleet`.

    Returns
    -------
    Selection
    """
    fit_kwargs = fit_kwargs or {}
    m = max(1, marchenko_pastur_count(x_train.numpy()))
    base = min(max(2 * m, 2), max_latents)
    ks = [k for k in k_grid if k <= base / 2] or [min(k_grid)]
    fleet_k = fit_fleet(x_train, x_val, [InstanceSpec(base, k, seed) for k in ks], **fit_kwargs)
    errors_k = masked_errors(fleet_k, x_val, val_groups)
    pick_k, means_k, se_k = _one_se_choice(errors_k)
    k = ks[pick_k]

    sizes = sorted({min(max(int(f * m), 2), max_latents) for f in size_factors} | {base})
    sizes = [s for s in sizes if s >= k * 2]
    new = [s for s in sizes if s != base]
    fleet_n = fit_fleet(x_train, x_val, [InstanceSpec(s, k, seed) for s in new], **fit_kwargs) if new else None
    errors_by_size = {base: errors_k[pick_k]}
    if fleet_n is not None:
        errors_by_size.update(zip(new, masked_errors(fleet_n, x_val, val_groups)))
    errors_n = np.stack([errors_by_size[s] for s in sizes])
    pick_n, means_n, se_n = _one_se_choice(errors_n)
    n_latents = sizes[pick_n]

    rows = [dict(sweep="k", n_latents=base, k=kk, masked_error=e, standard_error=s, chosen=i == pick_k)
            for i, (kk, e, s) in enumerate(zip(ks, means_k, se_k))]
    rows += [dict(sweep="n_latents", n_latents=s, k=k, masked_error=e, standard_error=se, chosen=i == pick_n)
             for i, (s, e, se) in enumerate(zip(sizes, means_n, se_n))]
    fleet = fleet_k if n_latents == base else fleet_n
    chosen = fleet.specs.index(InstanceSpec(n_latents, k, seed))
    fleet = _subset(fleet, [chosen])
    return Selection(n_latents, float(k), m, pd.DataFrame(rows), fleet)


def _subset(fleet: Fleet, idx: list[int]) -> Fleet:
    """The instances ``idx`` of a fleet, padding trimmed to their largest ``n_latents``."""
    width = max(fleet.specs[i].n_latents for i in idx)
    return Fleet([fleet.specs[i] for i in idx], fleet.W_enc[idx, :width], fleet.b_enc[idx, :width],
                 fleet.W_dec[idx, :width], fleet.b_dec[idx], fleet.threshold[idx],
                 fleet.latent_mask[idx, :width], fleet.epochs)
