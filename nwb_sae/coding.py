"""The transform side of a fitted :class:`nwb_sae.SAE`: codes and reconstructions of labelled arrays.

:class:`Coding` holds what a fitted estimator does with data: pick the model's neurons by id, run the
fitted front end, encode and decode in batches, and give the dictionary in the input's units. It reads
``model_``, ``neuron_coords_``, ``data_attrs_`` and ``preprocessing_``, which
:meth:`nwb_sae.SAE.fit` sets.
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from nwb_sae.errors import InputDataError, NotFittedError
from nwb_sae.io.recording.arrays import ACTIVITY_DIMS, CODE_DIMS
from nwb_sae.model import SparseAutoencoder
from nwb_sae.preprocess import apply_preprocessing
from nwb_sae.samples import as_activity, check_finite, population_vectors, select_model_neurons
from nwb_sae.training.loop import as_tensor


class Coding:
    """Encode, decode and reconstruct with a fitted model (mixed into :class:`nwb_sae.SAE`)."""

    def _check_fitted(self) -> SparseAutoencoder:
        model = getattr(self, "model_", None)
        if model is None:
            raise NotFittedError("This SAE is not fitted yet: call .fit(data) or nwb_sae.load(path) first.")
        return model

    @property
    def n_neurons(self) -> int:
        """Number of neurons the model was trained on."""
        return self._check_fitted().n_inputs

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
        return self._batched(lambda xb: model.encode(model.normalize(xb)), x, model.n_latents, batch_size)

    def decode_samples(self, codes: np.ndarray, batch_size: int = 16384) -> np.ndarray:
        """Reconstruction in input units (samples, neurons) of codes (samples, latents)."""
        model = self._check_fitted()
        codes = np.asarray(codes, dtype=np.float32)
        if codes.ndim != 2 or codes.shape[1] != model.n_latents:
            raise InputDataError(f"codes shaped {codes.shape} do not match the model's {model.n_latents} latents.")
        return self._batched(lambda cb: model.denormalize(model.decode(cb)), codes, model.n_inputs, batch_size)

    def _batched(self, step, x: np.ndarray, n_out: int, batch_size: int) -> np.ndarray:
        """``step`` applied to ``x`` in batches of ``batch_size`` rows, without gradients."""
        out = np.empty((x.shape[0], n_out), dtype=np.float32)
        with torch.no_grad():
            for start in range(0, x.shape[0], batch_size):
                out[start:start + batch_size] = step(as_tensor(x[start:start + batch_size], self._device())).cpu().numpy()
        return out

    def select_neurons(self, X):
        """``X`` (activity or 2-D samples) restricted to the model's neurons, picked by id.

        An input with more neurons than the model (the constant ones :meth:`fit` dropped, say) gives
        the model's neurons in the model's order; one lacking some raises InputDataError.
        """
        arr, is_samples = self._checked_input(X, finite=False, preprocessed=False)
        return population_vectors(arr) if is_samples else arr

    def _checked_input(self, X, finite: bool = True, preprocessed: bool = True) -> tuple[xr.DataArray, bool]:
        """``X`` as the model's neurons; activity (not 2-D samples, taken as already transformed) through
        the fitted front end when ``preprocessed``."""
        arr, is_samples = as_activity(X)
        source = arr.attrs.get("source", "data")
        arr = select_model_neurons(arr, (getattr(self, "neuron_coords_", None) or {}).get("id"), self.n_neurons,
                                   source, self.data_attrs_.get("source", "its training data"),
                                   dropped_ids=self.data_attrs_.get("dropped_neurons", ()))
        if preprocessed and not is_samples:
            arr = apply_preprocessing(arr, getattr(self, "preprocessing_", None))
        if finite:
            check_finite(arr, source)
        return arr, is_samples

    def encode(self, X, batch_size: int = 16384):
        """Codes of ``X``.

        Parameters
        ----------
        X : xarray.DataArray or numpy.ndarray
            Activity with dims (neurons, time, presentations), or population vectors (samples, neurons).
        batch_size : int
            Samples encoded at once (bounds memory; the codes do not depend on it).

        Returns
        -------
        xarray.DataArray or numpy.ndarray
            dims (latents, time, presentations) with the input's time and presentation coordinates;
            for 2-D input a (samples, latents) array.
        """
        arr, is_samples = self._checked_input(X)
        codes = self.encode_samples(population_vectors(arr), batch_size)
        if is_samples:
            return codes
        n_t, n_p, n_latents = arr.sizes["time"], arr.sizes["presentations"], codes.shape[1]
        values = codes.reshape(n_p, n_t, n_latents).transpose(2, 1, 0)
        coords = {name: c for name, c in arr.coords.items() if "neurons" not in c.dims}
        coords["latents"] = np.arange(n_latents)
        return xr.DataArray(values, dims=CODE_DIMS, coords=coords, name="codes",
                            attrs={**arr.attrs, "model": repr(self)})

    transform = encode

    def decode(self, codes, batch_size: int = 16384):
        """Reconstruct activity (neurons, time, presentations) from codes (latents, time, presentations).

        A 2-D numpy array of codes (samples, latents) gives a (samples, neurons) array.
        """
        model = self._check_fitted()
        if not isinstance(codes, xr.DataArray) and np.ndim(codes) == 2:
            return self.decode_samples(codes, batch_size)
        arr = codes.transpose(*CODE_DIMS) if isinstance(codes, xr.DataArray) else \
            xr.DataArray(np.asarray(codes), dims=CODE_DIMS)
        if arr.sizes["latents"] != model.n_latents:
            raise InputDataError(f"codes have {arr.sizes['latents']} latents; the model has {model.n_latents}.")
        flat = arr.transpose("presentations", "time", "latents").values.reshape(-1, model.n_latents)
        recon = self.decode_samples(flat, batch_size)
        n_t, n_p = arr.sizes["time"], arr.sizes["presentations"]
        values = recon.reshape(n_p, n_t, model.n_inputs).transpose(2, 1, 0)
        coords = {name: c for name, c in arr.coords.items() if "latents" not in c.dims}
        coords.update({k if k != "id" else "neurons": ("neurons", v) for k, v in self.neuron_coords_.items()})
        if "neurons" not in coords:
            coords["neurons"] = np.arange(model.n_inputs)
        return xr.DataArray(values, dims=ACTIVITY_DIMS, coords=coords, name="reconstruction")

    inverse_transform = decode

    def reconstruct(self, X):
        """``decode(encode(X))``, with the input's neuron coordinates (2-D in, 2-D out)."""
        arr, is_samples = self._checked_input(X)
        if is_samples:
            return self.decode_samples(self.encode_samples(population_vectors(arr)))
        recon = self.decode(self.encode(arr))
        return recon.assign_coords({n: c for n, c in arr.coords.items() if c.dims == ("neurons",)})

    @property
    def dictionary(self) -> np.ndarray:
        """Atoms (latents, neurons) in the units of the input (normalisation undone), unit-norm rows."""
        model = self._check_fitted()
        with torch.no_grad():
            atoms = (model.W_dec * model.input_scale).cpu().numpy().astype(np.float64)
        return atoms / np.maximum(np.linalg.norm(atoms, axis=1, keepdims=True), 1e-12)

    @property
    def components_(self) -> np.ndarray:
        """The dictionary (latents, neurons), scikit-learn's name for it."""
        return self.dictionary
