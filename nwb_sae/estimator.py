"""``SAE``: the scikit-learn-style face of the sparse autoencoder, on labelled arrays.

>>> from nwb_sae.synthetic import make_recording
>>> rec = make_recording(n_neurons=16, n_atoms=24, n_time=20, n_presentations=60, seed=1)
>>> sae = SAE(n_latents=48, k=4, epochs=3, progress=False).fit(rec.data)
>>> sae.encode(rec.data).dims
('latents', 'time', 'presentations')
>>> sae.dictionary.shape
(48, 16)

Population vectors as a 2-D (samples, neurons) array work as in scikit-learn:

>>> x = population_vectors(rec.data)
>>> sae.transform(x).shape
(1200, 48)
>>> isinstance(sae.score(x), float)
True
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin

from nwb_sae import metrics
from nwb_sae.coding import Coding
from nwb_sae.config import Settings
from nwb_sae.fitting import fit_ensembles, fit_single_model, vet_latents, with_selectivity
from nwb_sae.fitting.state import checkpoint_meta, sae_from_checkpoint, selection_record
from nwb_sae.preprocess import preprocess as front_end
from nwb_sae.samples import (
    as_activity,
    describe_attrs,
    describe_neurons,
    population_vectors,
)
from nwb_sae.training.checkpoint import save_checkpoint
from nwb_sae.training.distributed import refuse_ensemble_fit
from nwb_sae.training.loop import resolve_device
from nwb_sae.training.streaming import held_out_sample, prepare_training, streamed_code_report


class SAE(Coding, TransformerMixin, BaseEstimator):
    """Sparse autoencoder estimator: learns a dictionary of neuron ensembles.

    A scikit-learn estimator: the parameters below are stored unchanged and checked by :meth:`fit`,
    so ``get_params``/``set_params``, :func:`sklearn.base.clone` and ``GridSearchCV`` work.

    Parameters
    ----------
    n_latents, activation, k, l1_coefficient, normalize, preprocess, decay_time
        The model and its front end (``preprocess="auto"`` deconvolves calcium fluorescence): see
        :class:`nwb_sae.config.ModelConfig` (the same names and defaults).
    epochs, batch_size, lr, warmup_steps, val_fraction, patience, min_delta, seed, device,
    aux_coefficient, dead_after, resample_every, threads, progress, n_seeds, alpha, n_shifts,
    n_permutations, precision
        The training and the statistics: see :class:`nwb_sae.config.TrainConfig` (the same names and
        defaults). With the default ``activation="batchtopk"``, ``n_latents`` and ``k`` left at None
        are selected from the data, and the ensemble fit uses its own epochs, patience, batch size
        and learning rate unless these are changed (:mod:`nwb_sae.fitting.ensemble`).

    Attributes
    ----------
    model_ : SparseAutoencoder
        The fitted torch module (after :meth:`fit` or :func:`load`).
    components_ : numpy.ndarray
        The dictionary (latents, neurons), the same as :attr:`dictionary`.
    n_features_in_ : int
        Number of neurons seen by :meth:`fit` (the model's neurons and the constant ones it dropped).
    neuron_coords_ : dict
        The training data's neuron coordinates (name -> list; the neuron ids under ``id``).
    data_attrs_ : dict
        The training data's description (source, window, sizes of the split, ``dropped_neurons``: ids
        of the constant or all-NaN neurons left out, ...). When the default ensemble fit ran on a
        subsample of a large lazy recording: ``subsample`` (True), ``subsample_samples`` of
        ``recording_samples``, ``subsample_presentations`` of ``recording_presentations``,
        ``subsample_unit`` and ``subsample_seed`` (:func:`nwb_sae.training.streaming.subsample_presentations`);
        ``n_time`` / ``n_presentations`` and the split then describe the subsample.
    history_ : dict
        Per-epoch training history (for batchtopk: ``epoch`` and ``val_loss``, the mean held-out error
        of the fits of the selection and of the final seeds, one after the other).
    significant_ : numpy.ndarray
        (latents,) bool: the latents reported as ensembles (significant against circular shifts on
        held-out presentations at false discovery rate ``alpha``, and found again by other seeds).
    latent_table_ : pandas.DataFrame
        One row per latent: ``frequency``, ``mean_activation``, ``p_value``, ``q_value``,
        ``significant``, ``stability`` (NaN for topk / relu), ... and per categorical presentation
        coordinate ``{name}_eta_squared``, ``{name}_p_value``, ``{name}_q_value``, ``{name}_preferred``.
    selection_curve_ : pandas.DataFrame or None
        The candidates of the model selection (:func:`nwb_sae.viz.plot_selection`); None when
        nothing was selected.
    mp_count_ : int or None
        The Marchenko-Pastur count of the training data (the floor of the selection).
    preprocessing_ : nwb_sae.preprocess.Preprocessing
        What the front end did (method, frame rate, per-neuron decay time, AR coefficient and noise,
        baseline window, and the one-line ``summary``); ``encode`` applies the same transform.
    metrics_ : dict
        Validation metrics of the kept (best) weights.
    best_epoch_ : int
        The epoch whose weights were kept.

    Notes
    -----
    ``fit``, ``transform`` (``encode``) and ``score`` take activity as a DataArray (or 3-D array)
    with dims (neurons, time, presentations) and return labelled arrays, or, as in scikit-learn, a
    2-D array of population vectors (samples, neurons) and then return 2-D numpy arrays. A 2-D
    array's rows are its presentations, so the validation split holds out whole rows. pynapple objects
    (``TsGroup``, ``TsdFrame``, ...) are read by :func:`nwb_sae.from_pynapple` with its defaults.

    Constant (or all-NaN) neurons are dropped by :meth:`fit` with one warning that names them; the
    model keeps the ids of its neurons (``neuron_coords_["id"]``), and ``encode`` / ``transform`` /
    ``score`` pick those neurons by id from an input that has more (:meth:`select_neurons`).
    """

    def __init__(self, n_latents: int | None = None, activation: str = "batchtopk", k: float | None = None,
                 l1_coefficient: float = 0.05, normalize: str = "zscore", preprocess: str = "auto",
                 decay_time: float | None = None, epochs: int = 100,
                 batch_size: int | None = None, lr: float | None = None, warmup_steps: int = 50,
                 val_fraction: float = 0.2, patience: int = 5, min_delta: float = 1e-3, seed: int = 0,
                 device: str = "auto", aux_coefficient: float = 1 / 32, dead_after: int = 100_000,
                 resample_every: int = 2000, threads: int | None = None, progress: bool = True,
                 n_seeds: int = 3, alpha: float = 0.05, n_shifts: int = 0, n_permutations: int = 1000,
                 precision: str = "fp32"):
        self.n_latents = n_latents
        self.activation = activation
        self.k = k
        self.l1_coefficient = l1_coefficient
        self.normalize = normalize
        self.preprocess = preprocess
        self.decay_time = decay_time
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.warmup_steps = warmup_steps
        self.val_fraction = val_fraction
        self.patience = patience
        self.min_delta = min_delta
        self.seed = seed
        self.device = device
        self.aux_coefficient = aux_coefficient
        self.dead_after = dead_after
        self.resample_every = resample_every
        self.threads = threads
        self.progress = progress
        self.n_seeds = n_seeds
        self.alpha = alpha
        self.n_shifts = n_shifts
        self.n_permutations = n_permutations
        self.precision = precision

    # -- scikit-learn protocol (get_params, set_params, clone, tags: from BaseEstimator) ---------
    @property
    def settings(self) -> Settings:
        """The parameters as model and training configs (raises ValueError for impossible ones)."""
        return Settings.from_flat(**self.get_params())

    def __repr__(self) -> str:
        state = "fitted" if getattr(self, "model_", None) is not None else "not fitted"
        model = getattr(self, "model_", None)
        n_latents, k = (model.n_latents, model.config.k) if model is not None else (self.n_latents, self.k)
        return f"SAE(n_latents={n_latents}, activation={self.activation!r}, k={k}, {state})"

    # -- fitting --------------------------------------------------------------------------------
    def fit(self, X, y=None, *, checkpoint_dir=None, resume: bool = False, callback=None) -> SAE:
        """Learn the dictionary from ``X``.

        Parameters
        ----------
        X : xarray.DataArray or numpy.ndarray
            Activity with dims (neurons, time, presentations), or population vectors (samples, neurons).
            A dask-backed DataArray (``read_nwb(..., lazy=True)``, or ``load_data`` of a large NWB
            recording) larger than :data:`nwb_sae.training.streaming.IN_MEMORY_BYTES` is, for topk / relu,
            streamed block by block (memory bounded by the block size, not the recording); for the
            default batchtopk ensemble fit, a seeded random subset of its presentations (or time
            blocks) of that size is loaded and fitted in memory
            (:func:`nwb_sae.training.streaming.subsample_presentations`; ``data_attrs_`` records it). A smaller
            one is loaded and trained in memory.
        y : None
            Ignored (scikit-learn's unsupervised signature).
        checkpoint_dir : path, optional
            Save ``best_model`` and ``last`` checkpoints there after every epoch.
        resume : bool
            Continue an interrupted topk / relu fit from ``checkpoint_dir/last`` (the batchtopk
            ensemble fit starts over).
        callback : callable, optional
            ``callback(sae, row)`` after each epoch, with the epoch's history row.

        Returns
        -------
        SAE
            ``self``, fitted.

        Raises
        ------
        nwb_sae.errors.InputDataError
            Bad data, or the default batchtopk ensemble fit under torchrun (it runs in one process:
            run it without torchrun, or train topk / relu data-parallel).
        """
        settings = self.settings
        cfg_m, cfg_t = settings.model, settings.train
        arr, is_samples = as_activity(X)
        arr, preprocessing = front_end(arr, cfg_m.preprocess, cfg_m.decay_time)
        if cfg_t.progress and not is_samples:
            print(preprocessing.summary, file=sys.stderr)
        source = str(arr.attrs.get("source", "data"))
        ensemble = cfg_m.activation == "batchtopk"
        if ensemble:
            refuse_ensemble_fit(source)  # under torchrun
        device = resolve_device(cfg_t.device)
        neurons_in = np.asarray(arr["neurons"].values)
        prep = prepare_training(arr, cfg_m.normalize, cfg_t.val_fraction, cfg_t.seed, device, source,
                                subsample=ensemble)  # a large lazy recording: the ensemble fit's subsample
        arr, streamed, train_idx, val_idx = prep.data, prep.streamed, prep.train_idx, prep.val_idx
        x_train, x_val, mean, scale = prep.x_train, prep.x_val, prep.mean, prep.scale

        if cfg_t.threads:
            torch.set_num_threads(cfg_t.threads)
        # the data's description first: checkpoints written during training carry it
        self.n_features_in_ = prep.n_input_neurons
        self.neuron_coords_ = describe_neurons(arr)
        self.data_attrs_ = describe_attrs(arr.attrs)
        # the front end's per-neuron record follows the model's neurons (constant ones were dropped)
        self.preprocessing_ = preprocessing.subset(np.flatnonzero(np.isin(neurons_in, arr["neurons"].values))) \
            if preprocessing.method == "deconvolve" else preprocessing
        self.data_attrs_.update(n_time=arr.sizes["time"], n_presentations=arr.sizes["presentations"],
                                train_presentations=len(train_idx), val_presentations=len(val_idx),
                                dropped_neurons=prep.dropped)
        self.history_, self.metrics_, self.latent_table_, self.world_size_ = {}, {}, None, 1
        self.selection_curve_ = self.mp_count_ = self.consensus_ = None
        on_epoch = (lambda row: callback(self, row)) if callback is not None else None
        # a single model's checkpoints, written during training, describe it: model_ is set first
        single = dict(checkpoint_dir=checkpoint_dir, resume=resume, checkpoint_meta=self._meta,
                      on_model=lambda model: setattr(self, "model_", model), on_epoch=on_epoch)
        if streamed is not None:  # larger than memory: one model trained block by block
            outcome = fit_single_model(streamed.train, streamed.val, mean, scale, cfg_m.resolved(), cfg_t, device,
                                       head=streamed.head, **single)
            x_check = held_out_sample(arr, val_idx if len(val_idx) else train_idx)
        elif ensemble and len(val_idx):  # selection, seeds, significance
            outcome = fit_ensembles(arr, val_idx, x_train, x_val, mean, scale, cfg_m, cfg_t, on_epoch)
            outcome = outcome._replace(model=outcome.model.to(device))
            x_check = x_val
        else:
            outcome = fit_single_model(x_train, x_val, mean, scale, cfg_m.resolved(), cfg_t, device, **single)
            x_check = x_val if len(x_val) else x_train

        # the fitted state, set in one place
        self.model_ = outcome.model
        self.history_, self.best_epoch_ = outcome.history, outcome.best_epoch
        self.samples_per_second_, self.world_size_ = outcome.samples_per_second, outcome.world_size
        self.selection_curve_, self.mp_count_ = outcome.selection_curve, outcome.mp_count
        self.consensus_ = outcome.consensus
        table = outcome.latent_table
        if table is None:
            table = vet_latents(self.model_, x_check, self.encode_samples(x_check), alpha=cfg_t.alpha,
                                n_shifts=cfg_t.n_shifts, seed=cfg_t.seed)
        if streamed is None:
            table = with_selectivity(table, arr, self.encode, n_permutations=cfg_t.n_permutations,
                                     seed=cfg_t.seed)
        self.latent_table_ = table
        self.significant_ = table["significant"].to_numpy(dtype=bool)
        report = streamed_code_report(self.model_, streamed.val) if streamed is not None else \
            self._sample_report(x_check)
        self.metrics_ = {**report, "best_epoch": self.best_epoch_, "samples_per_second": self.samples_per_second_,
                         "significant_latents": int(self.significant_.sum())}
        if checkpoint_dir is not None and outcome.rank == 0:  # the best checkpoint gets the final metrics too
            self.save(Path(checkpoint_dir) / "best_model")
        return self

    def _sample_report(self, x: np.ndarray) -> dict:
        codes = self.encode_samples(x)
        return metrics.code_report(x, self.decode_samples(codes), codes)

    def score(self, X, y=None) -> float:
        """Fraction of the variance of ``X`` the reconstruction explains: ``1 - FVU`` (higher is better).

        ``y`` is ignored. This is what ``GridSearchCV`` maximises; :meth:`report` gives FVU, L0, dead
        and dense fractions together.
        """
        return 1.0 - self.report(X)["fvu"]

    def report(self, X) -> dict:
        """FVU, L0, dead and dense fractions of the codes of ``X`` (see :func:`nwb_sae.metrics.code_report`)."""
        arr, _ = self._checked_input(X)
        return self._sample_report(population_vectors(arr))

    # -- persistence ----------------------------------------------------------------------------
    def _meta(self) -> dict:
        return checkpoint_meta(self)

    def provenance(self) -> dict:
        """Settings, normalisation, metrics, training-data description, the model selection and package
        version (JSON-able); the latent table itself goes to the NWB dictionary table."""
        meta = self._meta()
        meta.pop("ensembles")
        return {**meta, "selection": selection_record(self)}

    def save(self, path) -> Path:
        """Write ``path.safetensors`` and ``path.json``; returns the weights path."""
        model = self._check_fitted()
        return save_checkpoint(path, model.state_dict(), self._meta())

    @classmethod
    def load(cls, path, device: str | None = None) -> SAE:
        """Load a fitted SAE saved by :meth:`save` or by ``nwb-sae train`` (on ``device``, default the saved one)."""
        return sae_from_checkpoint(cls, path, device)

def load(path, device: str | None = None) -> SAE:
    """Load a fitted :class:`SAE` from a checkpoint (``.safetensors`` + ``.json``, or a weights-only ``.pt``).

    Parameters
    ----------
    path : str or Path
        ``best_model.safetensors``, ``best_model.json`` or ``best_model`` all name the same checkpoint.
    device : str, optional
        Where to put the model (``auto``, ``cpu``, ``cuda``, ...); default the device it was saved with.

    Returns
    -------
    SAE
    """
    return SAE.load(path, device)
