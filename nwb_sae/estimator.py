"""``SAE``: the scikit-learn-style face of the sparse autoencoder, on labelled arrays.

>>> from nwb_sae.synthetic import make_recording
>>> rec = make_recording(n_neurons=16, n_atoms=24, n_time=20, n_presentations=60, seed=1)
>>> sae = SAE(n_latents=48, k=4, epochs=3, progress=False).fit(rec.data)
>>> sae.encode(rec.data).dims
('latents', 'time', 'presentations')
>>> sae.dictionary.shape
(48, 16)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import xarray as xr

from nwb_sae import metrics
from nwb_sae.checkpoint import load_checkpoint, save_checkpoint
from nwb_sae.config import ModelConfig, Settings
from nwb_sae.errors import CheckpointError, InputDataError, NwbSaeError
from nwb_sae.io.jsonable import is_simple, plain
from nwb_sae.io.recording.arrays import ACTIVITY_DIMS, CODE_DIMS, to_dataarray
from nwb_sae.model import SparseAutoencoder
from nwb_sae.train import as_tensor, resolve_device, train_model

CHECKPOINT_FORMAT = "nwb-sae/1"


def population_vectors(data: xr.DataArray) -> np.ndarray:
    """Samples (time x presentations, neurons): one row per time bin of each presentation.

    Rows are grouped by presentation, so one presentation's bins are contiguous.
    """
    return data.transpose("presentations", "time", "neurons").values.reshape(-1, data.sizes["neurons"])


def split_presentations(n_presentations: int, val_fraction: float, seed: int,
                        source: str = "data") -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of presentation indices into (train, validation); never splits a presentation."""
    if val_fraction <= 0:
        return np.arange(n_presentations), np.arange(0)
    n_val = max(1, int(round(val_fraction * n_presentations)))
    if n_presentations - n_val < 1:
        raise InputDataError(
            f"{source}: {n_presentations} presentation(s) cannot be split into training and "
            f"validation (val_fraction={val_fraction}). Provide more presentations (e.g. cut a long "
            "recording into fixed windows with --window), or set val_fraction=0."
        )
    order = np.random.default_rng(seed).permutation(n_presentations)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def check_finite(data: xr.DataArray, source: str) -> None:
    """Raise InputDataError naming the neurons that hold NaN or Inf."""
    bad = ~np.isfinite(data.values)
    if bad.any():
        per_neuron = bad.any(axis=(1, 2))
        ids = data["neurons"].values[per_neuron][:10].tolist()
        raise InputDataError(
            f"{source}: {int(bad.sum())} NaN/Inf value(s) in {int(per_neuron.sum())} neuron(s) "
            f"(first ids: {ids}). Drop those neurons (data.drop_sel(neurons=[...])) or fill the gaps "
            "(data.fillna(0) / interpolate_na) before training."
        )


def fit_normalization(x: np.ndarray, mode: str, neuron_ids, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-neuron (mean, scale) learned on the training samples ``x`` (samples, neurons)."""
    n = x.shape[1]
    if mode == "none":
        return np.zeros(n, np.float32), np.ones(n, np.float32)
    mean = x.mean(axis=0, dtype=np.float64)
    std = x.std(axis=0, dtype=np.float64)
    constant = std <= 1e-12 * np.maximum(1.0, np.abs(mean))
    if mode == "zscore" and constant.any():
        ids = np.asarray(neuron_ids)[constant][:10].tolist()
        raise InputDataError(
            f"{source}: {int(constant.sum())} neuron(s) are constant over the training presentations "
            f"(first ids: {ids}), so they cannot be z-scored. Drop them "
            "(data.drop_sel(neurons=[...])), or use normalize='scale'."
        )
    if mode == "zscore":
        return mean.astype(np.float32), std.astype(np.float32)
    scale = np.sqrt(np.mean(std**2))
    return mean.astype(np.float32), np.full(n, max(scale, 1e-12), np.float32)


def _json_coords(data: xr.DataArray) -> dict:
    """Neuron coordinates as JSON-able lists (the neuron dim itself under ``id``)."""
    out = {}
    for name, coord in data.coords.items():
        if coord.dims == ("neurons",):
            key = "id" if name == "neurons" else str(name)
            out[key] = plain(coord.values)
    return out


def _json_attrs(attrs: dict) -> dict:
    """The DataArray attrs that JSON can hold: scalars, and lists of scalars (e.g. the window)."""
    return {key: value for key, value in plain(attrs).items() if is_simple(value)}


class SAE:
    """Sparse autoencoder estimator: learns a dictionary of neuron ensembles.

    Parameters
    ----------
    **settings
        Any field of :class:`nwb_sae.config.ModelConfig` (``n_latents``, ``activation``, ``k``,
        ``l1_coefficient``, ``normalize``) or :class:`nwb_sae.config.TrainConfig` (``epochs``,
        ``batch_size``, ``lr``, ``seed``, ``device``, ``patience``, ...).

    Attributes
    ----------
    model_ : SparseAutoencoder
        The fitted torch module (after :meth:`fit` or :func:`load`).
    history_ : dict
        Per-epoch training history.
    metrics_ : dict
        Validation metrics of the kept (best) weights.
    """

    def __init__(self, **settings):
        self.settings = Settings.from_flat(**settings)
        self.model_: SparseAutoencoder | None = None
        self.history_: dict = {}
        self.metrics_: dict = {}
        self.neuron_coords: dict = {}
        self.data_attrs: dict = {}
        self.best_epoch_: int | None = None
        self.samples_per_second_: float | None = None

    # -- scikit-learn protocol ------------------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict:
        """All settings as a flat dict."""
        return self.settings.to_flat()

    def set_params(self, **params) -> SAE:
        """Change settings (before fitting)."""
        self.settings = Settings.from_flat(**{**self.settings.to_flat(), **params})
        return self

    def __repr__(self) -> str:
        m = self.settings.model
        state = "fitted" if self.model_ is not None else "not fitted"
        return f"SAE(n_latents={m.n_latents}, activation={m.activation!r}, k={m.k}, {state})"

    # -- fitting --------------------------------------------------------------------------------
    def fit(self, data, *, checkpoint_dir=None, resume: bool = False, callback=None) -> SAE:
        """Learn the dictionary from ``data``.

        Parameters
        ----------
        data : xarray.DataArray or numpy.ndarray
            Activity with dims (neurons, time, presentations).
        checkpoint_dir : path, optional
            Save ``best_model`` and ``last`` checkpoints there after every epoch.
        resume : bool
            Continue an interrupted fit from ``checkpoint_dir/last``.
        callback : callable, optional
            ``callback(sae, row)`` after each epoch, with the epoch's history row.

        Returns
        -------
        SAE
            ``self``, fitted.
        """
        cfg_m, cfg_t = self.settings.model, self.settings.train
        arr = to_dataarray(data)
        source = str(arr.attrs.get("source", "data"))
        check_finite(arr, source)
        train_idx, val_idx = split_presentations(arr.sizes["presentations"], cfg_t.val_fraction,
                                                 cfg_t.seed, source)
        x_train = population_vectors(arr.isel(presentations=train_idx))
        x_val = population_vectors(arr.isel(presentations=val_idx)) if len(val_idx) else x_train[:0]
        mean, scale = fit_normalization(x_train, cfg_m.normalize, arr["neurons"].values, source)

        if cfg_t.threads:
            torch.set_num_threads(cfg_t.threads)
        device = resolve_device(cfg_t.device)
        torch.manual_seed(cfg_t.seed)
        model = SparseAutoencoder(arr.sizes["neurons"], ModelConfig(**vars(cfg_m)))
        model.reset_parameters(torch.Generator().manual_seed(cfg_t.seed))
        model.input_mean.copy_(torch.from_numpy(mean))
        model.input_scale.copy_(torch.from_numpy(scale))
        model.to(device)
        xt = model.normalize(as_tensor(x_train, device))
        xv = model.normalize(as_tensor(x_val, device)) if len(x_val) else xt
        model.init_from_data(xt)

        self.model_ = model
        self.neuron_coords = _json_coords(arr)
        self.data_attrs = _json_attrs(arr.attrs)
        self.data_attrs.update(n_time=arr.sizes["time"], n_presentations=arr.sizes["presentations"],
                               train_presentations=len(train_idx), val_presentations=len(val_idx))
        epoch_callback = (lambda _m, row: callback(self, row)) if callback is not None else None
        result = train_model(model, xt, xv, cfg_t, checkpoint_dir=checkpoint_dir, resume=resume,
                             checkpoint_meta=self._meta, callback=epoch_callback)
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        self.samples_per_second_ = result.samples_per_second
        self.metrics_ = self._validation_metrics(x_val if len(x_val) else x_train)
        if checkpoint_dir is not None:  # the best checkpoint gets the final metrics too
            self.save(Path(checkpoint_dir) / "best_model")
        return self

    def _sample_metrics(self, x: np.ndarray) -> dict:
        codes = self.encode_samples(x)
        return metrics.code_report(x, self.decode_samples(codes), codes)

    def _validation_metrics(self, x: np.ndarray) -> dict:
        return {**self._sample_metrics(x), "best_epoch": self.best_epoch_,
                "samples_per_second": self.samples_per_second_}

    # -- encoding / decoding ----------------------------------------------------------------------
    def _check_fitted(self) -> SparseAutoencoder:
        if self.model_ is None:
            raise NwbSaeError("This SAE is not fitted yet: call .fit(data) or nwb_sae.load(path) first.")
        return self.model_

    @property
    def n_neurons(self) -> int:
        """Number of neurons the model was trained on."""
        return self._check_fitted().n_inputs

    @property
    def n_latents(self) -> int:
        """Number of dictionary atoms."""
        return self._check_fitted().n_latents

    def _device(self) -> torch.device:
        return self._check_fitted().W_dec.device

    def encode_samples(self, x: np.ndarray, batch_size: int = 16384) -> np.ndarray:
        """Codes of population vectors ``x`` (samples, neurons) in input units -> (samples, latents)."""
        model = self._check_fitted()
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != model.n_inputs:
            raise InputDataError(
                f"samples shaped {x.shape} do not match the model's {model.n_inputs} neurons."
            )
        out = np.empty((x.shape[0], model.n_latents), dtype=np.float32)
        with torch.no_grad():
            for start in range(0, x.shape[0], batch_size):
                xb = model.normalize(as_tensor(x[start:start + batch_size], self._device()))
                out[start:start + batch_size] = model.encode(xb).cpu().numpy()
        return out

    def decode_samples(self, codes: np.ndarray, batch_size: int = 16384) -> np.ndarray:
        """Reconstruction in input units (samples, neurons) of codes (samples, latents)."""
        model = self._check_fitted()
        codes = np.asarray(codes, dtype=np.float32)
        out = np.empty((codes.shape[0], model.n_inputs), dtype=np.float32)
        with torch.no_grad():
            for start in range(0, codes.shape[0], batch_size):
                cb = as_tensor(codes[start:start + batch_size], self._device())
                out[start:start + batch_size] = model.denormalize(model.decode(cb)).cpu().numpy()
        return out

    def _checked_input(self, data) -> xr.DataArray:
        arr = to_dataarray(data)
        source = arr.attrs.get("source", "data")
        if arr.sizes["neurons"] != self.n_neurons:
            raise InputDataError(
                f"{source}: has {arr.sizes['neurons']} neurons, but the model was trained on "
                f"{self.n_neurons} (from {self.data_attrs.get('source', 'its training data')}). "
                "Encode data from the same recording and neuron selection as the training data."
            )
        check_finite(arr, source)
        return arr

    def encode(self, data) -> xr.DataArray:
        """Codes of ``data``.

        Parameters
        ----------
        data : xarray.DataArray or numpy.ndarray
            Activity with dims (neurons, time, presentations).

        Returns
        -------
        xarray.DataArray
            dims (latents, time, presentations), with the input's time and presentation coordinates.
        """
        arr = self._checked_input(data)
        codes = self.encode_samples(population_vectors(arr))
        n_t, n_p = arr.sizes["time"], arr.sizes["presentations"]
        values = codes.reshape(n_p, n_t, self.n_latents).transpose(2, 1, 0)
        coords = {name: c for name, c in arr.coords.items() if "neurons" not in c.dims}
        coords["latents"] = np.arange(self.n_latents)
        return xr.DataArray(values, dims=CODE_DIMS, coords=coords, name="codes",
                            attrs={**arr.attrs, "model": repr(self)})

    transform = encode

    def decode(self, codes) -> xr.DataArray:
        """Reconstruct activity (neurons, time, presentations) from codes (latents, time, presentations)."""
        if isinstance(codes, xr.DataArray):
            arr = codes.transpose(*CODE_DIMS)
        else:
            arr = xr.DataArray(np.asarray(codes), dims=CODE_DIMS)
        if arr.sizes["latents"] != self.n_latents:
            raise InputDataError(f"codes have {arr.sizes['latents']} latents; the model has {self.n_latents}.")
        flat = arr.transpose("presentations", "time", "latents").values.reshape(-1, self.n_latents)
        recon = self.decode_samples(flat)
        n_t, n_p = arr.sizes["time"], arr.sizes["presentations"]
        values = recon.reshape(n_p, n_t, self.n_neurons).transpose(2, 1, 0)
        coords = {name: c for name, c in arr.coords.items() if "latents" not in c.dims}
        coords.update({k if k != "id" else "neurons": ("neurons", v)
                       for k, v in self.neuron_coords.items()})
        if "neurons" not in coords:
            coords["neurons"] = np.arange(self.n_neurons)
        return xr.DataArray(values, dims=ACTIVITY_DIMS, coords=coords, name="reconstruction")

    inverse_transform = decode

    def reconstruct(self, data) -> xr.DataArray:
        """``decode(encode(data))`` with the input's neuron coordinates."""
        arr = self._checked_input(data)
        recon = self.decode(self.encode(arr))
        return recon.assign_coords({n: c for n, c in arr.coords.items() if c.dims == ("neurons",)})

    def score(self, data) -> dict:
        """FVU, L0, dead and dense fractions of the codes of ``data``."""
        return self._sample_metrics(population_vectors(self._checked_input(data)))

    @property
    def dictionary(self) -> np.ndarray:
        """Atoms (latents, neurons) in the units of the input (normalisation undone), unit-norm rows."""
        model = self._check_fitted()
        with torch.no_grad():
            atoms = (model.W_dec * model.input_scale).cpu().numpy().astype(np.float64)
        return atoms / np.maximum(np.linalg.norm(atoms, axis=1, keepdims=True), 1e-12)

    # -- persistence ----------------------------------------------------------------------------
    def _meta(self) -> dict:
        model = self._check_fitted()
        return {
            "format": CHECKPOINT_FORMAT,
            "nwb_sae_version": _version(),
            "settings": self.settings.to_flat(),
            "n_neurons": model.n_inputs,
            "normalization": {"mode": self.settings.model.normalize,
                              "mean": model.input_mean.cpu().tolist(),
                              "scale": model.input_scale.cpu().tolist()},
            "neuron_coords": self.neuron_coords,
            "data_attrs": self.data_attrs,
            "metrics": self.metrics_,
            "history": self.history_,
        }

    def provenance(self) -> dict:
        """Settings, normalisation, metrics, training-data description and package version (JSON-able)."""
        return self._meta()

    def save(self, path) -> Path:
        """Write ``path.safetensors`` and ``path.json``; returns the weights path."""
        model = self._check_fitted()
        return save_checkpoint(path, model.state_dict(), self._meta())

    @classmethod
    def load(cls, path) -> SAE:
        """Load a fitted SAE saved by :meth:`save` or by ``nwb-sae train``."""
        tensors, meta = load_checkpoint(path)
        if "format" not in meta:
            return _from_legacy(tensors, meta, path)
        try:
            sae = cls(**meta["settings"])
            model = SparseAutoencoder(int(meta["n_neurons"]), ModelConfig(**vars(sae.settings.model)))
            model.load_state_dict(tensors)
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise CheckpointError(f"{path}: the weights do not match the saved settings ({err}).") from err
        sae.model_ = model.to(resolve_device(sae.settings.train.device))
        sae.neuron_coords = meta.get("neuron_coords", {})
        sae.data_attrs = meta.get("data_attrs", {})
        sae.metrics_ = meta.get("metrics", {})
        sae.history_ = meta.get("history", {})
        sae.best_epoch_ = sae.metrics_.get("best_epoch")
        return sae


def _from_legacy(tensors: dict, meta: dict, path) -> SAE:
    """A ``.pt`` state dict of the original design (nn.Linear encoder/decoder, ReLU + L1)."""
    try:
        w_enc, b_enc = tensors["encoder.weight"], tensors["encoder.bias"]
        w_dec, b_dec = tensors["decoder.weight"].T, tensors["decoder.bias"]
    except KeyError as err:
        raise CheckpointError(
            f"{path}: a state dict without nwb-sae settings and without encoder/decoder weights "
            f"(keys: {sorted(tensors)[:8]}). Save models with nwb-sae's SAE.save()."
        ) from err
    # relu is positively homogeneous: folding the decoder norms into the encoder keeps the model exact
    norms = w_dec.norm(dim=1).clamp_min(1e-8)
    sae = SAE(n_latents=w_enc.shape[0], activation="relu", normalize="none", device="cpu")
    model = SparseAutoencoder(w_enc.shape[1], ModelConfig(**vars(sae.settings.model)))
    with torch.no_grad():
        model.W_enc.copy_(w_enc * norms[:, None])
        model.b_enc.copy_(b_enc * norms + w_enc @ b_dec * norms)
        model.W_dec.copy_(w_dec / norms[:, None])
        model.b_dec.copy_(b_dec)
    sae.model_ = model
    sae.data_attrs = {"source": str(path)}
    return sae


def load(path) -> SAE:
    """Load a fitted :class:`SAE` from a checkpoint (``.safetensors`` + ``.json``, or a weights-only ``.pt``).

    Parameters
    ----------
    path : str or Path
        ``best_model.safetensors``, ``best_model.json`` or ``best_model`` all name the same checkpoint.

    Returns
    -------
    SAE
    """
    return SAE.load(path)


def _version() -> str:
    from nwb_sae import __version__

    return __version__
