"""``MultiSessionSAE``: one dictionary of ensembles fitted to several sessions at once.

Per-session fits followed by tracking (:mod:`nwb_sae.sessions.tracking`) compare dictionaries that
were learned apart; an ensemble seen weakly in one session can then be missed there, and a drifting
one split in two. The joint model learns one dictionary over the union of registered neurons from all
sessions together (the training loop and its losses: :mod:`nwb_sae.sessions.joint_train`): every
session is reconstructed on the neurons it observed only, with its own neuron gains and decoder
offsets held near the shared atoms by a drift penalty. Its latents are tracks by construction; which
session each is present in, how far it drifted and whether it is a real ensemble are computed per
session on held-out presentations (:mod:`nwb_sae.sessions.joint_stats`).

Identity across sessions comes from the neuron registry (:class:`nwb_sae.sessions.registry.Registry`):
without one (or with one that shares no neuron between sessions) nothing says which neuron of one
day is which of another, and the model refuses to fit.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import torch
import xarray as xr
from sklearn.base import BaseEstimator

from nwb_sae.errors import InputDataError, NotFittedError
from nwb_sae.samples import (
    check_finite,
    drop_constant_neurons,
    fit_normalization,
    population_vectors,
    split_presentations,
)
from nwb_sae.sessions.joint_stats import (
    between_sessions_cosine,
    drift_table,
    observed_fraction,
    presence_table,
    session_statistics,
)
from nwb_sae.sessions.joint_train import as_session_samples, encode_session, fit_joint
from nwb_sae.sessions.registry import Registry


class IdentityError(InputDataError):
    """Which neuron of one session is which of another cannot be established (no usable registry)."""


def as_session_dict(data) -> dict[str, xr.DataArray]:
    """``{session: DataArray (neurons, time, presentations)}`` from a dict or one DataArray with a ``session`` dim.

    A DataArray with a ``session`` dimension shares one ``neurons`` coordinate across sessions; a
    neuron whose values are all NaN in a session was not observed there and is left out of it.
    """
    if isinstance(data, xr.DataArray) and "session" in data.dims:
        out = {}
        for name in data["session"].values:
            arr = data.sel(session=name).drop_vars("session", errors="ignore")
            seen = ~arr.isnull().all(dim=[d for d in arr.dims if d != "neurons"])
            out[str(name)] = arr.isel(neurons=np.flatnonzero(seen.values)).transpose("neurons", "time",
                                                                                         "presentations")
        return out
    if not isinstance(data, dict) or not data:
        raise InputDataError("MultiSessionSAE.fit: data must be a dict {session: DataArray (neurons, time, "
                             f"presentations)}} or one DataArray with a 'session' dimension, got {type(data).__name__}.")
    out = {}
    for name, arr in data.items():
        if not isinstance(arr, xr.DataArray) or set(arr.dims) != {"neurons", "time", "presentations"}:
            raise InputDataError(f"session {name!r}: expected a DataArray with dims (neurons, time, presentations) "
                                 f"(nwb_sae.read_nwb gives one), got {getattr(arr, 'dims', type(arr).__name__)}.")
        out[str(name)] = arr.transpose("neurons", "time", "presentations")
    return out


def implied_registry(sessions: dict[str, xr.DataArray]) -> Registry:
    """The registry of sessions cut from one DataArray: its shared ``neurons`` coordinate is the identity."""
    rows = [(s, n, str(n)) for s, arr in sessions.items() for n in arr["neurons"].values.tolist()]
    return Registry.from_table(pd.DataFrame(rows, columns=["session", "neuron", "global_id"]),
                               source="the neurons coordinate shared by the sessions")


def paired_presentation_columns(sessions: dict[str, xr.DataArray]) -> list[str]:
    """Presentation coordinates whose set of labels is the same in every session (the same stimuli each day)."""
    first, *rest = sessions.values()
    names = [str(c) for c, v in first.coords.items() if v.dims == ("presentations",) and c != "presentations"]
    return [c for c in names if all(c in a.coords and set(map(str, a[c].values)) == set(map(str, first[c].values))
                                    for a in rest)]


def refuse_without_identity(sessions: dict[str, xr.DataArray], registry: Registry | None) -> None:
    """Raise :class:`IdentityError` when the registry cannot say which neuron is which across sessions."""
    names = list(sessions)
    if len(names) < 2:
        raise InputDataError(f"MultiSessionSAE.fit: got {len(names)} session ({names}); fit one session with "
                             "nwb_sae.SAE, or give two or more.")
    paired = paired_presentation_columns(sessions)
    pairing = (f" The sessions share presentation labels ({paired}), but paired presentations align codes, not "
               "neurons: the joint model's dictionary is over neurons and needs them registered."
               if paired else " Nor do the sessions share presentation labels (the same stimuli each day).")
    if registry is None:
        raise IdentityError(
            f"MultiSessionSAE.fit: no neuron registry for sessions {names}, so which neuron of one session is "
            f"which of another cannot be established (neuron ids are per file).{pairing} Register the neurons "
            "(ROICaT, CellReg, UnitMatch) and pass registry=nwb_sae.Registry.from_table(df) (columns session, "
            "neuron, global_id), or fit each session with nwb_sae.SAE and compare them with track_ensembles.")
    ids = {s: set(registry.global_ids(s, arr["neurons"].values)) for s, arr in sessions.items()}
    lonely = [s for s in names if not any(ids[s] & ids[o] for o in names if o != s)]
    if lonely:
        raise IdentityError(
            f"MultiSessionSAE.fit: session(s) {lonely} share no registered neuron with any other session (registry "
            f"{registry.hash[:12]}, sessions {list(registry.sessions)}), so their ensembles cannot be identified "
            f"with the others'.{pairing} Check that the registry's session names and local neuron ids match the "
            "data's (session keys and `neurons` coordinate), or leave those sessions out.")


class MultiSessionSAE(BaseEstimator):
    """A sparse dictionary of neuron ensembles shared by several sessions of registered neurons.

    Parameters
    ----------
    n_latents : int, optional
        Latents of the shared dictionary. Default: the larger of twice the largest Marchenko-Pastur
        count of any session (the base size of the single-session selection,
        :mod:`nwb_sae.ensembles.selection`) and the sum of the sessions' counts (room for every
        session's ensembles to be new; latents left over are not reported: they fail the verdict).
    k : float, optional
        Mean active latents per time bin. Default: chosen by the single-session selection's ``k``
        sweep (:func:`nwb_sae.ensembles.select_model`) on the session with the most data.
    drift_penalty : float
        How strongly each session's decoder is held to the previous session's (sessions in the order
        given; see :mod:`nwb_sae.sessions.joint_train`).
    n_seeds : int
        Joint fits with seeds ``seed, seed + 1, ...``; the one with the lowest held-out error is kept,
        the others give every latent's stability in every session.
    alpha : float
        False discovery rate of the significance test.
    n_shifts : int
        Circular-shift copies of the significance null (0: its exact moments).
    val_fraction : float
        Fraction of each session's presentations held out (half for early stopping, half for the statistics).
    max_steps, batch_size, lr
        Training budget, samples per session per step, Adam learning rate.
    seed : int
        Seed of the split, the selection and the first fit.

    Attributes
    ----------
    sessions_ : list of str
    global_ids_ : numpy.ndarray
        The union of global neuron ids, the ``neurons`` coordinate of every fitted array.
    registry_, registry_hash_ : Registry, str
    neuron_ids_ : dict
        Session -> the local neuron ids the fit used (its ``neurons`` coordinate, without constant neurons).
    n_latents_, k_ : int, float
    components_ : xarray.DataArray
        (latents, neurons) the shared unit-norm dictionary.
    decoders_ : xarray.DataArray
        (session, latents, neurons): each session's decoder (gains included, z-scored units), NaN where
        the session did not observe the neuron.
    gains_ : xarray.DataArray
        (session, neurons) per-session neuron gains, NaN where absent.
    observed_ : xarray.DataArray
        (session, neurons) bool.
    presence_ : xarray.DataArray
        (latents, session) bool, by the rule of :mod:`nwb_sae.sessions.joint_stats`.
    presence_table_ : pandas.DataFrame
        Its evidence per (latent, session): frequency, held-out gain and p-value, decoder norm, observed share.
    drift_ : xarray.DataArray
        (latents, session): ``1 - cosine`` of the session's decoder with the shared atom; NaN where absent.
    session_cosine_ : xarray.DataArray
        (latents, session, session_b): cosine of two sessions' decoders on the neurons both observed.
    latent_table_ : pandas.DataFrame
        Per (session, latent): the single-session statistics (``q_value``, ``stability``, ``significant``, ...).
    significant_ : xarray.DataArray
        (latents, session) bool: significant and present.
    ensembles_ : numpy.ndarray
        (latents,) bool: significant and present in at least one session.
    """

    def __init__(self, n_latents: int | None = None, k: float | None = None, drift_penalty: float = 1.0,
                 n_seeds: int = 3, alpha: float = 0.05, n_shifts: int = 0, val_fraction: float = 0.2,
                 max_steps: int = 3000, batch_size: int = 256, lr: float = 4e-3, seed: int = 0):
        self.n_latents = n_latents
        self.k = k
        self.drift_penalty = drift_penalty
        self.n_seeds = n_seeds
        self.alpha = alpha
        self.n_shifts = n_shifts
        self.val_fraction = val_fraction
        self.max_steps = max_steps
        self.batch_size = batch_size
        self.lr = lr
        self.seed = seed

    def fit(self, data, y=None, *, registry: Registry | None = None) -> MultiSessionSAE:
        """Fit the shared dictionary to every session at once.

        Parameters
        ----------
        data : dict or xarray.DataArray
            ``{session: DataArray (neurons, time, presentations)}``, or one DataArray with a ``session``
            dimension (its shared ``neurons`` coordinate is then the identity unless ``registry`` is given).
        y : None
            Ignored.
        registry : Registry
            Which local neuron of which session is which global neuron.

        Returns
        -------
        MultiSessionSAE
            ``self``, fitted.

        Raises
        ------
        IdentityError
            No registry, or a session shares no registered neuron with any other.
        nwb_sae.errors.InputDataError
            Fewer than two sessions, bad arrays, too few presentations to hold some out.
        """
        sessions = as_session_dict(data)
        if registry is None and isinstance(data, xr.DataArray):
            registry = implied_registry(sessions)
        refuse_without_identity(sessions, registry)
        prepared = {s: _prepare(arr, s, registry, self.val_fraction, self.seed) for s, arr in sessions.items()}
        names = list(prepared)
        global_ids = np.array(list(dict.fromkeys(g for p in prepared.values() for g in p["global_ids"])), dtype=str)
        where = {g: i for i, g in enumerate(global_ids)}
        columns = [np.array([where[g] for g in prepared[s]["global_ids"]]) for s in names]
        train, tune, test = (as_session_samples([prepared[s][part] for s in names], columns, len(global_ids))
                             for part in ("train", "tune", "test"))
        n_latents, k = self._size(prepared)
        fits = [fit_joint(train, tune, n_latents, k, seed=self.seed + i, drift_penalty=self.drift_penalty,
                          max_steps=self.max_steps, batch_size=self.batch_size, lr=self.lr)
                for i in range(max(self.n_seeds, 1))]
        fits.sort(key=lambda w: w.val_error)
        self._set_fitted(fits, names, global_ids, prepared, train.mask, test, registry, n_latents, k)
        return self

    def _size(self, prepared: dict) -> tuple[int, float]:
        """``n_latents`` and ``k`` as given, or by the rule in the class docstring."""
        from nwb_sae.ensembles import marchenko_pastur_count, select_model

        counts = {s: max(1, marchenko_pastur_count(p["train"])) for s, p in prepared.items()}
        n_latents = self.n_latents or max(2, 2 * max(counts.values()), sum(counts.values()))
        k = self.k
        if k is None:
            largest = max(prepared, key=lambda s: prepared[s]["train"].size)
            p = prepared[largest]
            k = select_model(torch.from_numpy(p["train"]), torch.from_numpy(p["tune"]), p["tune_groups"],
                             n_latents=2 * counts[largest], seed=self.seed, alpha=self.alpha,
                             n_shifts=self.n_shifts).k
        return int(n_latents), float(k)

    def _set_fitted(self, fits, names, global_ids, prepared, mask_t, test, registry, n_latents, k) -> None:
        """Every fitted attribute, in one place."""
        best = fits[0]
        mask = mask_t.numpy().astype(bool)
        decoders = best.session_decoders().numpy()
        others = [w.session_decoders().numpy() for w in fits[1:]]
        shared = best.D.numpy()
        tables = {}
        for s, name in enumerate(names):
            cols = mask[s]
            codes = encode_session(best, test.x[s], s, mask_t).numpy()
            tables[name] = session_statistics(decoders[s][:, cols], [o[s][:, cols] for o in others],
                                              test.x[s].numpy()[:, cols], codes, best.b_dec[s].numpy()[cols],
                                              prepared[name]["test_groups"], alpha=self.alpha,
                                              n_shifts=self.n_shifts, seed=self.seed)
        presence = presence_table(tables, observed_fraction(shared, mask.astype(float)))
        present = presence["present"].to_numpy().reshape(n_latents, len(names))
        latents = np.arange(n_latents)
        self.sessions_, self.global_ids_, self.registry_, self.registry_hash_ = names, global_ids, registry, registry.hash
        self.n_latents_, self.k_, self.weights_ = n_latents, k, best
        self.normalization_ = {s: (prepared[s]["local_ids"], prepared[s]["mean"], prepared[s]["scale"]) for s in names}
        self.neuron_ids_ = {s: prepared[s]["neuron_ids"] for s in names}
        coords = {"session": names, "latents": latents, "neurons": global_ids}
        self.components_ = xr.DataArray(shared, dims=("latents", "neurons"),
                                        coords={"latents": latents, "neurons": global_ids})
        self.decoders_ = xr.DataArray(np.where(mask[:, None, :], decoders, np.nan), dims=("session", "latents", "neurons"),
                                      coords=coords, attrs={"registry_hash": registry.hash})
        self.gains_ = xr.DataArray(np.where(mask, best.log_gain.exp().numpy(), np.nan), dims=("session", "neurons"),
                                   coords={"session": names, "neurons": global_ids})
        self.observed_ = xr.DataArray(mask, dims=("session", "neurons"), coords={"session": names, "neurons": global_ids})
        self.presence_ = xr.DataArray(present, dims=("latents", "session"), coords={"latents": latents, "session": names})
        self.presence_table_ = presence
        self.drift_ = xr.DataArray(drift_table(shared, decoders, mask, present), dims=("latents", "session"),
                                   coords={"latents": latents, "session": names})
        self.session_cosine_ = xr.DataArray(between_sessions_cosine(decoders, mask),
                                            dims=("latents", "session", "session_b"),
                                            coords={"latents": latents, "session": names, "session_b": names})
        self.latent_table_ = pd.concat(tables, names=["session"])
        significant = np.stack([tables[s]["significant"].to_numpy(bool) for s in names], axis=1) & present
        self.significant_ = xr.DataArray(significant, dims=("latents", "session"),
                                         coords={"latents": latents, "session": names})
        self.ensembles_ = significant.any(axis=1)

    def encode(self, data: xr.DataArray, session: str) -> xr.DataArray:
        """Codes of one session's activity.

        Parameters
        ----------
        data : xarray.DataArray
            (neurons, time, presentations) of session ``session``, holding every neuron the fit used
            from that session (selected by id; others are ignored).
        session : str
            One of :attr:`sessions_`.

        Returns
        -------
        xarray.DataArray
            (latents, time, presentations), with the input's time and presentation coordinates.
        """
        if not hasattr(self, "weights_"):
            raise NotFittedError("This MultiSessionSAE is not fitted yet; call fit(data, registry=...) first.")
        if str(session) not in self.sessions_:
            raise InputDataError(f"encode: session {session!r} was not fitted (fitted: {self.sessions_}); its gains "
                                 "and decoder offsets are unknown. Refit with it, or pass one of the fitted sessions.")
        s = self.sessions_.index(str(session))
        local_ids, mean, scale = self.normalization_[str(session)]
        arr = data.transpose("neurons", "time", "presentations")
        where = {str(n): i for i, n in enumerate(arr["neurons"].values.tolist())}
        missing = [n for n in local_ids if n not in where]
        if missing:
            raise InputDataError(f"encode: session {session!r} data lack {len(missing)} neuron(s) the fit used "
                                 f"(first ids: {missing[:10]}); pass that session's recording with the same neurons.")
        arr = arr.isel(neurons=[where[n] for n in local_ids])
        x = (population_vectors(arr) - mean) / scale
        ids = self.registry_.global_ids(str(session), local_ids)
        column = {g: i for i, g in enumerate(self.global_ids_.tolist())}
        cols = np.array([column[g] for g in ids.tolist()])
        samples = as_session_samples([x], [cols], len(self.global_ids_)).x[0]
        mask = torch.as_tensor(self.observed_.values, dtype=torch.float32)
        codes = encode_session(self.weights_, samples, s, mask).numpy()
        codes = codes.reshape(arr.sizes["presentations"], arr.sizes["time"], -1).transpose(2, 1, 0)
        return xr.DataArray(codes, dims=("latents", "time", "presentations"),
                            coords={"latents": np.arange(codes.shape[0]), "time": arr["time"].values,
                                    "presentations": arr["presentations"].values},
                            attrs={"session": str(session), "registry_hash": self.registry_hash_})


def _prepare(arr: xr.DataArray, session: str, registry: Registry, val_fraction: float, seed: int) -> dict:
    """One session's split (train / tune / test presentations), normalisation and global ids."""
    source = f"session {session!r}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a neuron constant in one session is absent there
        arr, _ = drop_constant_neurons(arr, source)
    check_finite(arr, source)
    train_idx, val_idx = split_presentations(arr.sizes["presentations"], max(val_fraction, 1e-9), seed, source)
    tune_idx, test_idx = (val_idx[0::2], val_idx[1::2]) if len(val_idx) > 1 else (val_idx, val_idx)
    local_ids = [str(n) for n in arr["neurons"].values.tolist()]
    x_train = population_vectors(arr.isel(presentations=train_idx)).astype(np.float64)
    mean, scale = fit_normalization(x_train, "zscore", local_ids, source)

    def samples(idx):
        return ((population_vectors(arr.isel(presentations=idx)) - mean) / scale).astype(np.float32)

    n_time = arr.sizes["time"]
    return {"global_ids": registry.global_ids(session, local_ids), "local_ids": local_ids,
            "neuron_ids": arr["neurons"].values, "mean": mean,
            "scale": scale, "train": samples(train_idx), "tune": samples(tune_idx), "test": samples(test_idx),
            "tune_groups": np.repeat(np.arange(len(tune_idx)), n_time),
            "test_groups": np.repeat(np.arange(len(test_idx)), n_time)}
