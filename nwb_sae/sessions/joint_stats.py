"""What the joint model says per session: the single-session statistics, presence and drift of every latent.

Arrays in, tables out, no training. Each session's latents are vetted by the same function as a
single-session fit (:func:`nwb_sae.stats.verdict.vet_dictionary`: co-activation against circular
shifts on that session's held-out presentations, stability across seeds, size, copies and unions,
and the one verdict :func:`~nwb_sae.stats.significance.is_ensemble`), on the session's own
decoder restricted to the neurons it observed.

Presence of latent ``l`` in session ``s`` (:func:`presence_table`) rests on what the latent does for
that session's held-out data, not on the size of its decoder alone: removing the latent from the
reconstruction of the held-out presentations must cost error (its *held-out gain*, tested over
presentations), at least :data:`PRESENT_FRACTION` of the gain in the latent's best session, and the
latent must be active there at least that fraction of its best session's rate; and the session must
have observed at least :data:`MIN_OBSERVED` of the shared atom's squared weight (otherwise the
ensemble cannot be seen that day, and presence is False with ``observed`` saying why). The decoder
norm of each session is reported beside these.

Drift (:func:`drift_table`) is ``1 - cosine`` between a session's decoder and the shared atom on the
neurons that session observed, NaN where the latent is absent.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from nwb_sae.stats.significance import ShiftNull
from nwb_sae.stats.verdict import vet_dictionary

PRESENT_FRACTION = 0.1
"""A latent is present in a session when its held-out gain and its activation rate there are at least
this fraction of those in its best session."""
MIN_OBSERVED = 0.3
"""Least fraction of the shared atom's squared weight a session must have observed to judge presence."""


def held_out_gain(x: np.ndarray, codes: np.ndarray, atoms: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """(samples, latents): error added to each sample's reconstruction by removing each latent.

    With residual ``r = x - (bias + codes @ atoms)``, removing latent ``l`` adds
    ``|r + c_l a_l|^2 - |r|^2 = 2 c_l (r . a_l) + c_l^2 |a_l|^2``.
    """
    residual = x - (bias + codes @ atoms)
    return 2 * codes * (residual @ atoms.T) + codes ** 2 * (atoms ** 2).sum(1)


def session_statistics(atoms: np.ndarray, others: list[np.ndarray], x_test: np.ndarray, codes: np.ndarray,
                       bias: np.ndarray, groups: np.ndarray, *, alpha: float, n_shifts: int,
                       seed: int) -> pd.DataFrame:
    """One session's latent table: :func:`vet_dictionary`'s columns, the held-out gain and its p-value.

    Parameters
    ----------
    atoms : numpy.ndarray
        (latents, observed neurons) the session's decoders.
    others : list of numpy.ndarray
        The same session's decoders fitted with other seeds.
    x_test : numpy.ndarray
        (samples, observed neurons) normalised held-out samples in time order.
    codes : numpy.ndarray
        (samples, latents) their codes.
    bias : numpy.ndarray
        (observed neurons,) the session's decoder bias.
    groups : numpy.ndarray
        (samples,) held-out presentation of each sample.
    alpha, n_shifts, seed
        Of the significance test (:func:`nwb_sae.stats.significance.coactivation_test`).
    """
    table, _ = vet_dictionary(atoms, others, codes, ShiftNull(x_test, n_shifts=n_shifts, seed=seed), alpha=alpha)
    gain = held_out_gain(x_test, codes, atoms, bias)
    _, g = np.unique(groups, return_inverse=True)
    per_presentation = np.stack([np.bincount(g, weights=gain[:, j]) for j in range(gain.shape[1])], axis=1)
    table["gain"] = gain.mean(axis=0)
    table["gain_p_value"] = _greater_than_zero(per_presentation)
    table["decoder_norm"] = np.linalg.norm(atoms, axis=1)
    return table


def _greater_than_zero(values: np.ndarray) -> np.ndarray:
    """One-sided p-value per column that its mean over rows (presentations) exceeds 0 (t-test; 1 if all 0)."""
    p = np.ones(values.shape[1])
    varies = values.std(axis=0) > 0
    if len(values) > 1 and varies.any():
        p[varies] = stats.ttest_1samp(values[:, varies], 0.0, alternative="greater").pvalue
    positive_constant = ~varies & (values.mean(axis=0) > 0)
    p[positive_constant] = 0.0
    return p


def presence_table(tables: dict[str, pd.DataFrame], observed: np.ndarray) -> pd.DataFrame:
    """Presence of every latent in every session, by the rule of this module's docstring.

    Parameters
    ----------
    tables : dict
        Session -> its :func:`session_statistics` table (same latents, same order).
    observed : numpy.ndarray
        (latents, sessions) fraction of each shared atom's squared weight the session observed.

    Returns
    -------
    pandas.DataFrame
        Indexed by (latent, session): ``frequency``, ``gain``, ``gain_p_value``, ``decoder_norm``,
        ``observed``, ``present``.
    """
    sessions = list(tables)
    frequency = np.stack([tables[s]["frequency"].to_numpy() for s in sessions], axis=1)
    gain = np.stack([tables[s]["gain"].to_numpy() for s in sessions], axis=1)
    p = np.stack([tables[s]["gain_p_value"].to_numpy() for s in sessions], axis=1)
    norm = np.stack([tables[s]["decoder_norm"].to_numpy() for s in sessions], axis=1)
    seen = observed >= MIN_OBSERVED
    best_gain = np.where(seen, gain, -np.inf).max(axis=1, keepdims=True)
    best_frequency = np.where(seen, frequency, 0.0).max(axis=1, keepdims=True)
    present = seen & (gain > 0) & (gain >= PRESENT_FRACTION * best_gain) \
        & (frequency >= PRESENT_FRACTION * best_frequency)
    index = pd.MultiIndex.from_product([range(len(frequency)), sessions], names=["latent", "session"])
    return pd.DataFrame({"frequency": frequency.ravel(), "gain": gain.ravel(), "gain_p_value": p.ravel(),
                         "decoder_norm": norm.ravel(), "observed": observed.ravel(),
                         "present": present.ravel()}, index=index)


def observed_fraction(shared: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(latents, sessions): share of each shared atom's squared weight on the neurons each session observed."""
    weight = shared ** 2
    return weight @ mask.T / np.maximum(weight.sum(axis=1, keepdims=True), 1e-12)


def drift_table(shared: np.ndarray, decoders: np.ndarray, mask: np.ndarray, present: np.ndarray) -> np.ndarray:
    """(latents, sessions): ``1 - cosine`` of each session's decoder with the shared atom on that session's
    neurons; NaN where the latent is not present.

    Parameters
    ----------
    shared : numpy.ndarray
        (latents, global neurons) the shared dictionary.
    decoders : numpy.ndarray
        (sessions, latents, global neurons) the session decoders.
    mask : numpy.ndarray
        (sessions, global neurons) bool, observed neurons.
    present : numpy.ndarray
        (latents, sessions) bool.
    """
    drift = np.full(present.shape, np.nan)
    for s in range(mask.shape[0]):
        a, b = shared[:, mask[s]], decoders[s][:, mask[s]]
        cosine = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
        drift[:, s] = np.where(present[:, s], 1.0 - cosine, np.nan)
    return drift


def between_sessions_cosine(decoders: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(latents, sessions, sessions): cosine of two sessions' decoders on the neurons both observed."""
    n_sessions, n_latents, _ = decoders.shape
    out = np.full((n_latents, n_sessions, n_sessions), np.nan)
    for a in range(n_sessions):
        for b in range(n_sessions):
            both = mask[a] & mask[b]
            da, db = decoders[a][:, both], decoders[b][:, both]
            norm = np.linalg.norm(da, axis=1) * np.linalg.norm(db, axis=1)
            out[:, a, b] = (da * db).sum(1) / np.maximum(norm, 1e-12)
    return out
