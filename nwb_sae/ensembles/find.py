"""One call from samples to trustworthy ensembles: selection, fit, significance, seed stability.

:func:`find_ensembles` is what :class:`nwb_sae.SAE` runs by default; it works on normalised sample
matrices so it knows nothing of files, labels or the estimator.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from nwb_sae.ensembles.dense import find_dense_ensembles
from nwb_sae.ensembles.selection import SELECTION_STEPS, select_model, vet_fits
from nwb_sae.stats.significance import ShiftNull
from nwb_sae.training.fleet import InstanceSpec, fit_fleet

REFINE_STEPS = 2000
"""Least optimisation steps of the final fits (selection candidates get fewer; rare ensembles need many)."""


MIXED_K = 4
"""When the threshold sweep predicts hidden activity best with this many active latents per time bin
or more, only the dense path's dictionary is fitted. Measured, lowest-error ``k``: 1-2 on 16
overlapping assemblies in 100 neurons (10 seeds), 1/2 on the classic case, 4-8 where 3-8 of 96
ensembles are active per bin, 4 for 256 ensembles in 64 neurons, 2-8 for 64 in 48 with 2-5 active."""


RESOLVED_Z = 2.0
"""A sweep's lowest masked error at a ``k`` above one counts only when every ``k`` of at most one is
more than this many standard errors above it (see :func:`_lowest_error_k`)."""


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
    ``matched_fraction`` (seeds), ``effective_neurons`` (participation ratio of the atom), ``composite`` (see :func:`~nwb_sae.stats.verdict.composite_latents`), ``significant``."""
    significant: np.ndarray
    """(latents,) bool: ``q_value <= alpha``, active on held-out data, found again by the majority of
    the other seeds, more than one neuron (``effective_neurons >= 1.5``) and not a union of other
    significant ensembles."""
    consensus: np.ndarray
    """Consensus dictionary (latents, neurons) over seeds."""
    selection_curve: pd.DataFrame | None
    """Masked held-out error of every candidate (``None`` when both size and sparsity were given)."""
    mp_count: int | None
    """Marchenko-Pastur count (``None`` when selection was skipped)."""
    activation: str = "batchtopk"
    """``batchtopk`` (a threshold code), or ``topk`` when the dense path (:mod:`nwb_sae.ensembles.dense`)
    reported more ensembles; ``k`` is then an integer and ``threshold`` 0."""


def find_ensembles(x_train: np.ndarray, x_val: np.ndarray, val_groups: np.ndarray, *,
                   n_latents: int | None = None, k: float | None = None, n_seeds: int = 3,
                   alpha: float = 0.05, n_shifts: int = 0, seed: int = 0,
                   fit_kwargs: dict | None = None, progress: bool = False) -> EnsembleResult:
    """Select, fit and vet a sparse dictionary of ensembles.

    Parameters
    ----------
    x_train, x_val : numpy.ndarray
        Normalised training and held-out samples (samples, neurons); held-out samples in time order
        with each presentation contiguous (the significance shifts run across all of them).
    val_groups : numpy.ndarray
        (held-out samples,) presentation index of each held-out sample. Every other held-out
        presentation is used to choose the model (and to stop training early), the rest to test the
        latents, so the test never sees data that shaped the choice.
    n_latents, k : optional
        Fix the number of latents / the mean active latents per time bin instead of selecting them
        (:func:`nwb_sae.ensembles.selection.select_model`).
    n_seeds : int
        Final fits with different seeds for the stability score (1 disables it: stability is then 1);
        they are fitted together as one fleet.
    alpha : float
        False discovery rate of the significance test.
    n_shifts : int
        Circular-shift copies of the null distribution.
    seed : int
        Seed of the first fit; the others use ``seed + 1, ...``; the one with the lowest held-out error is the reference.
    fit_kwargs : dict, optional
        Passed to every :func:`nwb_sae.training.fleet.fit_fleet` (``max_epochs``, ``batch_size``,
        ``lr``, ...), the dense path's too. The dense path (:mod:`nwb_sae.ensembles.dense`): when
        both size and sparsity are selected, the Marchenko-Pastur count is at least 2, and either the threshold fit
        reports fewer ensembles than half that count or the masked held-out error of the ``k`` sweep
        is lowest at its densest ``k`` (every time bin mixes several ensembles), a wide per-sample
        TopK dictionary is fitted and vetted too, and the result that reports more ensembles is
        returned.
    progress : bool
        Show a progress bar for every stage (selection sweeps, final fits, dense path).

    Returns
    -------
    EnsembleResult
    """
    groups = np.asarray(val_groups)
    names = np.unique(groups)
    tune = np.isin(groups, names[0::2])  # half of the held-out presentations chooses, half tests
    if tune.all() or not tune.any():
        tune = np.ones(len(groups), bool)
    test_rows = ~tune if (~tune).any() else tune
    xt = torch.as_tensor(np.ascontiguousarray(x_train, dtype=np.float32))
    xv = torch.as_tensor(np.ascontiguousarray(x_val[tune], dtype=np.float32))
    x_test = np.asarray(x_val)[test_rows]
    null = ShiftNull(x_test, n_shifts=n_shifts, seed=seed)
    fit_kwargs = fit_kwargs or {}
    curve, mp, tune_null, chosen = None, None, None, (n_latents, k)
    if n_latents is None or k is None:
        tune_null = ShiftNull(xv.numpy(), n_shifts=n_shifts, seed=seed)  # shared with the dense path
        sel = select_model(xt, xv, groups[tune], n_latents=n_latents, k=k, seed=seed, null=tune_null,
                           fit_kwargs=fit_kwargs, progress=progress)
        curve, mp, chosen = sel.curve, sel.mp_count, (sel.n_latents, sel.k)
    def dense_path():
        return find_dense_ensembles(xt, xv, x_test, n_seeds=n_seeds, alpha=alpha, null=null, tune_null=tune_null,
                                    seed=seed, fit_kwargs=fit_kwargs, n_latents=n_latents, progress=progress)

    dense = None
    mixed = mp is not None and _mixed(curve)
    if mp is not None and mp >= 2 and (mixed or curve["trustworthy"].max() < mp / 2 or _wants_denser(curve)):
        # the threshold candidates could not trust half the Marchenko-Pastur count, or their error still
        # fell at the densest k: the dense path runs first, and when it reports more ensembles than the
        # best candidate trusted, the threshold fits are not run again (they cannot win). When held-out
        # activity is predicted best with MIXED_K or more ensembles per bin, a threshold code is the
        # wrong model whatever it reports (it reported 80 "ensembles", 0 of them planted, where the
        # dense path found 64 of 64): the dense path's answer is the answer.
        dense = dense_path()
        if mixed or dense[3]["significant"].sum() > curve["trustworthy"].max():
            return _with_dense(None, dense, curve, mp)
    result = _threshold_fits(xt, xv, x_test, null, *chosen, n_seeds=n_seeds, alpha=alpha, seed=seed,
                             fit_kwargs=fit_kwargs, progress=progress)._replace(selection_curve=curve, mp_count=mp)
    if dense is None and mp is not None and mp >= 2 and result.significant.sum() < mp / 2:
        dense = dense_path()
    return result if dense is None else _with_dense(result, dense, curve, mp)


def _threshold_fits(xt, xv, x_test, null, n_latents, k, *, n_seeds, alpha, seed, fit_kwargs,
                    progress) -> EnsembleResult:
    """The chosen threshold dictionary fitted with every seed and vetted (no selection curve)."""
    # the chosen size and sparsity are fitted again from scratch (a selection candidate, trained briefly
    # beside the others, can sit in a poorer optimum: one of 8 planted assemblies merged into another on
    # 60,000 bins), then trained on from a fresh optimiser state to at least REFINE_STEPS steps: the
    # restart leaves optima that one longer fit keeps (overlapping assemblies, seed 8: 14-16 of 16 per
    # seed after 2,000 steps in one fit, 16 of 16 in each after the two). The user's epochs are the
    # whole budget: then one fit.
    specs = [InstanceSpec(n_latents, k, seed + s) for s in range(max(n_seeds, 1))]
    label = progress and f"final fits ({n_latents} latents, k={k:g}, {len(specs)} seeds)" or None
    if not fit_kwargs.get("raise_epochs", True):
        fits = fit_fleet(xt, xv, specs, **fit_kwargs, label=label)
    else:
        fits = fit_fleet(xt, xv, specs, **{"max_steps": SELECTION_STEPS, **fit_kwargs}, label=label)
        fits = fit_fleet(xt, xv, specs, init=fits, **{"min_steps": REFINE_STEPS, **fit_kwargs},
                         label=label and f"{label}, trained on")
    weights, table, consensus = vet_fits(fits, xt, x_test, null, alpha)
    return EnsembleResult(weights, int(n_latents), float(k), table, table["significant"].to_numpy(bool),
                          consensus, None, None)


def _lowest_error_k(curve: pd.DataFrame) -> tuple[float, float] | None:
    """The ``k`` of the threshold sweep's lowest masked held-out error and the densest ``k`` it tried.

    ``None`` when it tried fewer than two, or when a ``k`` of at most one ensemble per bin predicts
    held-out activity as well (within :data:`RESOLVED_Z` standard errors, paired over the held-out
    presentations): then the sweep cannot tell that bins mix several ensembles. Deconvolved calcium
    traces, where no ``k`` predicts more than 4% of the masked entries, gave the lowest error at
    ``k = 8`` with ``k = 1/2`` 0.7 standard errors above it; the mixed cases measured were 10-16 above.
    """
    rows = curve[curve["sweep"] == "k"]
    if len(rows) < 2:
        return None
    lowest = rows.loc[rows["masked_error"].idxmin()]
    sparse = rows[rows["k"] <= 1]
    if "error_excess_z" in rows and lowest["k"] > 1 and len(sparse) and sparse["error_excess_z"].min() <= RESOLVED_Z:
        return None
    return float(lowest["k"]), float(rows["k"].max())


def _mixed(curve: pd.DataFrame) -> bool:
    """Whether the threshold sweep's masked held-out error is lowest at :data:`MIXED_K` or more active
    latents per time bin (every bin mixes several ensembles)."""
    ks = _lowest_error_k(curve)
    return ks is not None and ks[0] >= MIXED_K


def _wants_denser(curve: pd.DataFrame) -> bool:
    """Whether the masked held-out error still falls at the densest ``k`` the threshold sweep tried."""
    ks = _lowest_error_k(curve)
    return ks is not None and ks[0] == ks[1]


def _with_dense(result: EnsembleResult | None, dense: tuple, curve: pd.DataFrame, mp: int) -> EnsembleResult:
    """The dense path's result when ``result`` is None or reports fewer ensembles; the curve gets its rows."""
    weights, n_latents, k, table, consensus, dense_curve = dense
    significant = table["significant"].to_numpy(bool)
    chosen = result is None or significant.sum() > result.significant.sum()
    dense_curve["chosen"] &= chosen
    rows = curve.assign(chosen=curve["chosen"] & (not chosen))
    merged = pd.concat([rows, dense_curve.reindex(columns=rows.columns)], ignore_index=True)
    if not chosen:
        return result._replace(selection_curve=merged)
    return EnsembleResult(weights, n_latents, float(k), table, significant, consensus, merged, mp, "topk")


def load_weights(model, weights: dict) -> None:
    """Copy ``EnsembleResult.weights`` into a :class:`nwb_sae.model.SparseAutoencoder`.

    The model must have the ``activation``, ``n_latents`` and ``k`` of the result;
    its normalisation buffers are left as they are (the samples given to :func:`find_ensembles` must
    have been normalised with them).
    """
    with torch.no_grad():
        for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
            getattr(model, name).copy_(torch.as_tensor(weights[name]))
        model.threshold.fill_(float(weights["threshold"]))


def selectivity_table(responses: np.ndarray, columns: dict, tested: np.ndarray, *,
                      n_permutations: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Stimulus selectivity of the ``tested`` latents for every categorical presentation column.

    Parameters
    ----------
    responses : numpy.ndarray
        (latents, presentations): each latent's mean activation in each presentation.
    columns : dict
        Column name -> (presentations,) labels (e.g. the presentation coordinates of the data).
    tested : numpy.ndarray
        (latents,) bool: the latents to test (the significant ones); BH runs across them only.
    n_permutations, seed : int
        Of :func:`nwb_sae.stats.selectivity.selectivity_test`.

    Returns
    -------
    pandas.DataFrame
        One row per latent, per column ``{name}_eta_squared``, ``{name}_p_value``, ``{name}_q_value``,
        ``{name}_preferred`` (NaN / None for untested latents).
    """
    from nwb_sae.stats.selectivity import selectivity_test

    n = responses.shape[0]
    idx = np.flatnonzero(tested)
    table = pd.DataFrame(index=pd.RangeIndex(n, name="latent"))
    for name, labels in columns.items():
        result = selectivity_test(responses[idx], labels, n_permutations=n_permutations, seed=seed)
        for field in ("eta_squared", "p_value", "q_value", "preferred"):
            values = np.full(n, None if field == "preferred" else np.nan, dtype=object if field == "preferred"
                             else float)
            values[idx] = getattr(result, field)
            table[f"{name}_{field}"] = values
    return table
