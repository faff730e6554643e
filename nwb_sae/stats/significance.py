"""Is a latent a real ensemble? A test against independent neurons, on held-out presentations.

The null hypothesis of every latent: its neurons fire independently of each other, each at its own
rate and with its own autocorrelation. The null data are made by shifting each neuron's time series
(all held-out presentations concatenated) circularly by its own random offset: rates, bursts and
slow drifts of every neuron survive, co-activation across neurons does not.

The statistic needs no refit: the co-activation of the latent's atom ``d`` on z-scored held-out data,
``s(d) = d^T (C - diag C) d`` with ``C`` the neurons' correlation matrix; it is large when the atom's
neurons fire together more than chance. Atoms are tested on presentations they were not fitted to, so
an atom that fitted noise in the training split has no advantage on the test data. The null
mean and variance of ``s`` over all circular shifts are exact and cheap (:class:`ShiftNull`); they give
a z-score and a one-sided Gaussian p-value; Benjamini-Hochberg q-values
control the false discovery rate across latents.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import stats

from nwb_sae.metrics import ensemble_sizes


class SignificanceResult(NamedTuple):
    """Per-latent outcome of :func:`coactivation_test`."""

    statistic: np.ndarray
    """Co-activation ``d^T (C - diag C) d`` of each atom on the held-out data."""
    z_score: np.ndarray
    """``(statistic - null mean) / null std``."""
    p_value: np.ndarray
    """One-sided p-value (Gaussian tail of the shift null)."""
    q_value: np.ndarray
    """Benjamini-Hochberg q-value across latents."""
    null_mean: np.ndarray
    """Mean of the statistic over shifted copies."""
    null_std: np.ndarray
    """Standard deviation of the statistic over shifted copies."""


MIN_EFFECTIVE_NEURONS = 1.5
"""An ensemble involves more than one neuron: atoms with fewer :func:`effective_neurons` are single-neuron latents."""


def effective_neurons(atoms: np.ndarray) -> np.ndarray:
    """About the number of neurons each atom raises together: the participation ratio
    ``(sum p_i**2)**2 / sum p_i**4`` of its positive weights ``p``, at most its :func:`ensemble_sizes`.

    Codes are non-negative, so an atom's positive weights are the neurons it raises. A latent that
    codes one neuron's own variance, alone or against the rest of the population (its other weights
    negative), scores about 1; on a long recording its small weights can pick up enough co-activation
    to pass :func:`coactivation_test`, but it is not an ensemble. The cap matters on wide
    populations: one dominant weight over a tail of small ones on 200 ROIs has a participation ratio
    of 3-5 (the suite2p export of the corpus listed such one-member latents as ensembles), but one
    member. Two equal members give 2, ten give 10.

    Examples
    --------
    >>> atoms = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [1.0, 0.05, 0.05], [1.0, -0.5, -0.5]])
    >>> effective_neurons(atoms).round(2).tolist()
    [1.0, 2.0, 1.0, 1.0]
    >>> float(effective_neurons(np.r_[1.0, np.full(171, 0.08)][None])[0])  # ratio 4.3, one member
    1.0
    """
    sq = np.clip(np.asarray(atoms, dtype=np.float64), 0.0, None) ** 2
    ratio = sq.sum(axis=1) ** 2 / np.maximum((sq ** 2).sum(axis=1), 1e-300)
    return np.minimum(ratio, ensemble_sizes(atoms))


def is_ensemble(q_value: np.ndarray, frequency: np.ndarray, neurons: np.ndarray, *, alpha: float = 0.05,
                matched_fraction: np.ndarray | None = None, min_matched: float = 0.5) -> np.ndarray:
    """The one verdict "this latent is an ensemble", shared by every fit path.

    Significant against independent neurons (``q_value <= alpha``), active on held-out data
    (``frequency > 0``), more than one neuron (``neurons >= MIN_EFFECTIVE_NEURONS``, see
    :func:`effective_neurons`) and, when other seeds were fitted, found again by at least
    ``min_matched`` of them (``matched_fraction``). Copies and unions of more frequent ensembles are
    removed afterwards by :func:`nwb_sae.ensembles.composite_latents` where seeds were fitted.

    Examples
    --------
    >>> is_ensemble(np.array([0.01, 0.01, 0.5]), np.array([0.1, 0.1, 0.1]), np.array([5.0, 1.0, 5.0])).tolist()
    [True, False, False]
    """
    verdict = (np.asarray(q_value) <= alpha) & (np.asarray(frequency) > 0) & (
        np.asarray(neurons) >= MIN_EFFECTIVE_NEURONS)
    if matched_fraction is not None:
        verdict &= np.asarray(matched_fraction) >= min_matched
    return verdict


REASONS = {"ensemble": "", "not_significant": "not significant", "never_active": "never active",
           "one_neuron": "one neuron", "not_replicated": "not replicated", "composite": "composite"}
"""The reason a latent is not reported as an ensemble, as :func:`verdict_reasons` writes it ('' = reported)."""


def verdict_reasons(q_value: np.ndarray, frequency: np.ndarray, neurons: np.ndarray, *, alpha: float = 0.05,
                    matched_fraction: np.ndarray | None = None, min_matched: float = 0.5,
                    composite: np.ndarray | None = None) -> np.ndarray:
    """Why each latent is or is not an ensemble: '' for a reported one, else the first rule of
    :func:`is_ensemble` it fails (:data:`REASONS`), or 'composite' (a copy or union of others).

    Same arguments as :func:`is_ensemble`; a latent gets '' exactly when ``is_ensemble`` holds and it is
    not ``composite``, so the verdict and its reason cannot disagree.

    Examples
    --------
    >>> verdict_reasons(np.array([0.01, 0.01, 0.5, 0.01]), np.array([0.1, 0.1, 0.1, 0.0]),
    ...                 np.array([5.0, 1.0, 5.0, 5.0])).tolist()
    ['', 'one neuron', 'not significant', 'never active']
    """
    q, f, n = np.asarray(q_value), np.asarray(frequency), np.asarray(neurons)
    rules = [(~(q <= alpha), REASONS["not_significant"]), (~(f > 0), REASONS["never_active"]),
             (~(n >= MIN_EFFECTIVE_NEURONS), REASONS["one_neuron"])]
    if matched_fraction is not None:
        rules.append((~(np.asarray(matched_fraction) >= min_matched), REASONS["not_replicated"]))
    if composite is not None:
        rules.append((np.asarray(composite, dtype=bool), REASONS["composite"]))
    reasons = np.full(q.shape, REASONS["ensemble"], dtype=object)
    for failed, text in reversed(rules):  # the first rule failed wins
        reasons[failed] = text
    return reasons


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values); rejecting ``q <= alpha`` controls the FDR at alpha.

    Examples
    --------
    >>> benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.5])).round(3).tolist()
    [0.04, 0.053, 0.053, 0.5]
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.size == 0:
        return p.copy()
    return stats.false_discovery_control(np.clip(p, 0.0, 1.0), method="bh")


def _standardise(x: np.ndarray) -> np.ndarray:
    """Columns centred to mean 0 and scaled to norm ``sqrt(samples)`` (constant columns stay 0)."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean(axis=0)
    sd = x.std(axis=0)
    return x / np.where(sd > 0, sd, 1.0)


def circular_shift(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each column of ``x`` (samples, neurons) rolled by its own uniform random offset."""
    n = x.shape[0]
    offsets = rng.integers(0, n, size=x.shape[1])
    rows = (np.arange(n)[:, None] - offsets[None, :]) % n
    return np.take_along_axis(x, rows, axis=0)


MAX_STORED_CORRELATIONS = 2**24
"""With random shifts, their correlation matrices are kept for the next dictionary up to this many entries."""


class ShiftNull:
    """The circular-shift null of one held-out recording, built once and shared by every dictionary tested on it.

    Under the null each neuron's series is rolled by its own uniform random offset. The statistic
    ``s(d) = sum_{i != j} d_i d_j C_ij`` then has mean 0 (the series are centred) and, since the
    correlation of two neurons depends only on the difference of their offsets and those differences
    are pairwise independent, variance ``4 sum_{i<j} d_i^2 d_j^2 V_ij``, where ``V_ij`` is the mean
    squared circular cross-correlation of neurons ``i`` and ``j`` over all lags. By Parseval
    ``V = P^T P / T^4`` with ``P`` the power spectra of the standardised series (``T`` samples): the
    exact moments over *all* shifts, in one matrix product, with each neuron's autocorrelation
    (bursts, calcium decay, drift) accounted for. ``n_shifts > 0`` estimates the moments from that
    many random shifted copies instead (the earlier Monte-Carlo null, :func:`circular_shift`).

    The moments do not depend on the atoms, so model selection (many candidates) and the final verdict
    test every dictionary against one null at the cost of a small product per atom.

    Parameters
    ----------
    x_test : numpy.ndarray
        Held-out samples (samples, neurons) in time order, presentations concatenated.
    n_shifts : int
        0 for the exact moments; otherwise the number of random shifted copies.
    seed : int
        Seed of the random shifts (``n_shifts > 0``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((4000, 6)).cumsum(axis=0)      # slow, autocorrelated, independent
    >>> atoms = np.ones((1, 6))
    >>> exact = ShiftNull(x).test(atoms).null_std
    >>> sampled = ShiftNull(x, n_shifts=2000, seed=1).test(atoms).null_std
    >>> bool(abs(sampled[0] / exact[0] - 1) < 0.1)
    True
    """

    def __init__(self, x_test: np.ndarray, n_shifts: int = 0, seed: int = 0):
        z = _standardise(x_test)
        self.n_samples, n = z.shape
        self.corr = _correlation(z)
        rng = np.random.default_rng(seed)
        self.offsets = [rng.integers(0, max(self.n_samples, 1), size=n) for _ in range(n_shifts)]
        self._doubled = np.asfortranarray(np.concatenate([z, z])) if self.offsets else None
        self._null_stack = None  # the shifted correlations, kept when small (n_shifts > 0)
        if not self.offsets:
            power = np.abs(np.fft.rfft(z, axis=0)) ** 2
            weights = np.full(power.shape[0], 2.0)
            weights[0] = 1.0
            if self.n_samples % 2 == 0:
                weights[-1] = 1.0
            self.pair_variance = (power * weights[:, None]).T @ power / max(self.n_samples, 1) ** 4
            np.fill_diagonal(self.pair_variance, 0.0)

    def _shifted_corr(self, offsets: np.ndarray) -> np.ndarray:
        n_t = self.n_samples
        shifted = np.empty((n_t, len(offsets)), order="F")
        for j, o in enumerate(offsets):  # column j rolled by o: rows n_t - o .. 2 n_t - o of the doubled data
            shifted[:, j] = self._doubled[n_t - o:2 * n_t - o, j]
        return _correlation(shifted)

    def test(self, atoms: np.ndarray) -> SignificanceResult:
        """Test each atom (rows of ``atoms``, any norm) against this null; see :func:`coactivation_test`."""
        atoms = np.asarray(atoms, dtype=np.float64)
        atoms = atoms / np.maximum(np.linalg.norm(atoms, axis=1, keepdims=True), 1e-12)
        observed = np.einsum("an,nm,am->a", atoms, self.corr, atoms)
        if self.offsets:
            n = self.corr.shape[0]
            if self._null_stack is None and n * n * len(self.offsets) <= MAX_STORED_CORRELATIONS:
                self._null_stack = np.stack([self._shifted_corr(o) for o in self.offsets])
            if self._null_stack is not None:
                null = np.einsum("san,an->sa", atoms @ self._null_stack, atoms)
            else:
                null = np.stack([np.einsum("an,nm,am->a", atoms, self._shifted_corr(o), atoms)
                                 for o in self.offsets])
            mean, std = null.mean(axis=0), null.std(axis=0, ddof=1)
        else:
            squared = atoms ** 2
            mean = np.zeros(len(atoms))
            std = np.sqrt(np.maximum(2 * np.einsum("an,nm,am->a", squared, self.pair_variance, squared), 0.0))
        z_score = (observed - mean) / np.maximum(std, 1e-12)
        p = stats.norm.sf(z_score)
        return SignificanceResult(observed, z_score, p, benjamini_hochberg(p), mean, std)


def _correlation(z: np.ndarray) -> np.ndarray:
    """``C - diag C`` of standardised samples ``z`` (samples, neurons)."""
    corr = z.T @ z / max(z.shape[0], 1)
    np.fill_diagonal(corr, 0.0)
    return corr


def coactivation_test(atoms: np.ndarray, x_test: np.ndarray | ShiftNull, *, n_shifts: int = 0,
                      seed: int = 0) -> SignificanceResult:
    """Test each atom's co-activation on held-out samples against independent circular shifts.

    Parameters
    ----------
    atoms : numpy.ndarray
        Dictionary (latents, neurons); rows need not be unit-norm (they are normalised here).
    x_test : numpy.ndarray or ShiftNull
        Held-out samples (samples, neurons) in time order, presentations concatenated: the shifts
        run across the whole held-out recording. A :class:`ShiftNull` built on them is reused as it is
        (``n_shifts`` and ``seed`` are then its own).
    n_shifts : int
        0 (default): the exact null moments over all circular shifts; otherwise that many random
        shifted copies (:class:`ShiftNull`).
    seed : int
        Seed of the random shifts.

    Returns
    -------
    SignificanceResult

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> x = rng.poisson(0.1, (5000, 20)).astype(float)
    >>> events = rng.random(5000) < 0.05
    >>> x[events, :5] += 1                       # neurons 0-4 fire together
    >>> atoms = np.zeros((2, 20)); atoms[0, :5] = 1; atoms[1, 10:15] = 1
    >>> result = coactivation_test(atoms, x)
    >>> bool(result.q_value[0] < 0.01), bool(result.q_value[1] < 0.05)
    (True, False)
    """
    null = x_test if isinstance(x_test, ShiftNull) else ShiftNull(x_test, n_shifts=n_shifts, seed=seed)
    return null.test(atoms)
