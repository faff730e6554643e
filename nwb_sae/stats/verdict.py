"""The latent table of a fitted dictionary and its verdict: which latents are ensembles.

Arrays in, a table out, no training: :func:`vet_dictionary` joins the significance test
(:mod:`~nwb_sae.stats.significance`), the stability across seeds (:mod:`~nwb_sae.stats.stability`),
the size of each atom and :func:`composite_latents`, and applies the one rule
(:func:`~nwb_sae.stats.significance.is_ensemble`). The threshold fit (:mod:`~nwb_sae.ensembles.find`)
and the dense path (:mod:`~nwb_sae.ensembles.dense`) both call it, so neither imports the other's module
for it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nwb_sae.stats.significance import coactivation_test, effective_neurons, is_ensemble, verdict_reasons
from nwb_sae.stats.stability import seed_stability

STABLE_COSINE = 0.9
"""A latent counts as found again by another seed when its one-to-one match has at least this cosine."""


def vet_dictionary(atoms: np.ndarray, others: list[np.ndarray], codes: np.ndarray, x_test, *,
                   alpha: float = 0.05, n_shifts: int = 0, seed: int = 0,
                   train_frequency: np.ndarray | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """The latent table of a fitted dictionary: significance, stability, size, redundancy, and the verdict.

    Parameters
    ----------
    atoms : numpy.ndarray
        (latents, neurons) dictionary of the reference fit.
    others : list of numpy.ndarray
        Dictionaries of the same data fitted with other seeds.
    codes : numpy.ndarray
        (samples, latents) codes of ``x_test`` by the reference fit.
    x_test : numpy.ndarray or ShiftNull
        Normalised held-out samples in time order that shaped neither the fit nor its selection, or
        the :class:`~nwb_sae.stats.significance.ShiftNull` built on them.
    alpha, n_shifts, seed
        False discovery rate, circular shifts and seed of :func:`coactivation_test`.
    train_frequency : numpy.ndarray, optional
        (latents,) fraction of the training samples in which each latent fires. A latent is active
        when it fires on the training or the held-out samples: a rare ensemble can miss a short
        held-out set entirely (5 s sessions of 2-minute recordings: a latent stable across seeds at
        cosine 0.99, with q 1e-84 on the held-out co-activation, never fired there), while the
        significance is still judged on held-out data only.

    Returns
    -------
    table : pandas.DataFrame
        As :attr:`EnsembleResult.latent_table`.
    consensus : numpy.ndarray
        Consensus dictionary over seeds.
    """
    test = coactivation_test(atoms, x_test, n_shifts=n_shifts, seed=seed)
    stab = seed_stability(atoms, others, threshold=STABLE_COSINE)
    frequency = (codes > 0).mean(axis=0)
    active = frequency if train_frequency is None else np.maximum(frequency, train_frequency)
    neurons = effective_neurons(atoms)
    candidate = is_ensemble(test.q_value, active, neurons, alpha=alpha, matched_fraction=stab.matched_fraction)
    composite = composite_latents(atoms, frequency, candidate)
    significant = candidate & ~composite
    table = pd.DataFrame({
        "frequency": frequency, "mean_activation": codes.mean(axis=0), "statistic": test.statistic,
        "z_score": test.z_score, "p_value": test.p_value, "q_value": test.q_value,
        "stability": stab.stability, "matched_fraction": stab.matched_fraction, "effective_neurons": neurons,
        "composite": composite, "significant": significant,
        "reason": verdict_reasons(test.q_value, active, neurons, alpha=alpha,
                                  matched_fraction=stab.matched_fraction, composite=composite),
    })
    table.index.name = "latent"
    return table, stab.consensus


def composite_latents(atoms: np.ndarray, frequency: np.ndarray, candidates: np.ndarray,
                      cosine: float = STABLE_COSINE) -> np.ndarray:
    """Candidates whose atom is a copy of, or a non-negative mix of, more frequent candidates' atoms.

    Two ensembles that happen to fire together now and then pass the co-activation test as one
    pattern (each half is real), and replicate across seeds; but such a union adds nothing beyond its
    parts, which fire more often on their own. Wide dictionaries also learn copies of one ensemble.
    Candidates are visited from the most to the least frequent; one whose atom is fitted with
    cosine >= ``cosine`` by non-negative least squares on the atoms already kept is marked composite.
    """
    from scipy.optimize import nnls

    atoms = atoms / np.maximum(np.linalg.norm(atoms, axis=1, keepdims=True), 1e-12)
    composite = np.zeros(len(atoms), bool)
    kept: list[int] = []
    for i in sorted(np.flatnonzero(candidates), key=lambda j: -frequency[j]):
        if kept:
            basis = atoms[kept].T
            weights, _ = nnls(basis, atoms[i])
            fit = basis @ weights
            if weights.max() > 0 and fit @ atoms[i] >= cosine * max(np.linalg.norm(fit), 1e-12):
                composite[i] = True
                continue
        kept.append(i)
    return composite
