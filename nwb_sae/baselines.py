"""The field's assembly detectors, with the same face as :class:`nwb_sae.SAE`, to compare like for like.

- :class:`ICAAssemblies`: PCA/ICA cell-assembly detection (Lopes-dos-Santos, Ribeiro & Tort 2013,
  J Neurosci Methods 220:149), the field's standard: z-score each neuron, count the eigenvalues of the
  correlation matrix above a null bound (Marchenko-Pastur, or circular shifts of each neuron), run
  FastICA in that signal subspace, and report each pattern's activation strength over time.
- :class:`NMFEnsembles`: non-negative matrix factorisation with the same count.

Both fit on a DataArray (neurons, time, presentations) or on a 2-D array (samples, neurons), return
``self``; ``encode``/``transform`` give the codes; ``components_``/``dictionary`` hold unit-norm patterns
(components, neurons); every component counts as significant (the count itself is the null test), and
``latent_table_`` summarises each one. :func:`make_method` builds any of them, the SAE included, by name.
"""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import xarray as xr

from nwb_sae.errors import InputDataError, NwbSaeError
from nwb_sae.io.recording.arrays import CODE_DIMS, to_dataarray
from nwb_sae.metrics import orient
from nwb_sae.stats.marchenko_pastur import marchenko_pastur_bound

NULLS = ("mp", "shift")


def zscore(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Z-scored samples (samples, neurons) with each neuron's mean and scale; silent neurons get z = 0."""
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    scale = np.where(std > 1e-12, std, np.inf)  # a constant neuron carries no co-activation
    return (x - mean) / scale, mean, scale


def assembly_count(z: np.ndarray, null: str = "mp", n_shifts: int = 20, percentile: float = 99.0,
                   seed: int = 0) -> tuple[int, np.ndarray, float]:
    """Number of assemblies: eigenvalues of the correlation matrix above the null's bound.

    Parameters
    ----------
    z : numpy.ndarray
        Z-scored samples (samples, neurons), samples in time order (the shift null needs it).
    null : {'mp', 'shift'}
        'mp': the Marchenko-Pastur upper bound for independent neurons. 'shift': the ``percentile``
        of the largest eigenvalue over ``n_shifts`` surrogates in which each neuron's series is
        circularly shifted by its own random lag (keeps rates and autocorrelation, destroys
        co-activation).
    n_shifts, percentile : int, float
        Surrogates and percentile of the shift null.
    seed : int
        Seed of the shifts.

    Returns
    -------
    (int, numpy.ndarray, float)
        The count, the eigenvalues (descending) and the bound.
    """
    if null not in NULLS:
        raise InputDataError(f"null must be one of {NULLS}, got {null!r}.")
    n_samples, n_neurons = z.shape
    eig = np.linalg.eigvalsh(z.T @ z / n_samples)[::-1]
    if null == "mp":
        bound = marchenko_pastur_bound(n_neurons, n_samples)
    else:
        rng = np.random.default_rng(seed)
        z = np.asfortranarray(z, dtype=np.float32)  # column rolls and Gram products are the cost
        shifted = np.empty_like(z)
        peaks = []
        for _ in range(n_shifts):
            for i, lag in enumerate(rng.integers(0, n_samples, size=n_neurons)):
                shifted[:, i] = np.roll(z[:, i], lag)
            peaks.append(np.linalg.eigvalsh(shifted.T @ shifted / n_samples)[-1])
        bound = float(np.percentile(peaks, percentile))
    return int(np.sum(eig > bound)), eig, float(bound)


class _Baseline:
    """What both baselines share: input handling, codes as DataArrays, the scikit-learn protocol."""

    @property
    def _active_above(self) -> float:
        """Codes above this count as an activation in ``latent_table_``."""
        return 0.0

    def get_params(self, deep: bool = True) -> dict:
        """The ``__init__`` settings as a dict (scikit-learn protocol; ``sklearn.base.clone`` works)."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def set_params(self, **params):
        """Change settings (before fitting)."""
        valid = self.get_params()
        for name, value in params.items():
            if name not in valid:
                raise InputDataError(f"{type(self).__name__} has no setting {name!r}; "
                                     f"settings: {sorted(valid)}.")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({settings})"

    @staticmethod
    def _samples(data) -> tuple[np.ndarray, xr.DataArray | None]:
        """(samples, neurons) float64, and the labelled array when one was given."""
        if isinstance(data, xr.DataArray) or np.ndim(data) == 3:
            from nwb_sae.samples import check_finite, population_vectors

            arr = to_dataarray(data)
            check_finite(arr, str(arr.attrs.get("source", "data")))
            return population_vectors(arr).astype(np.float64), arr
        x = np.asarray(data, dtype=np.float64)
        if x.ndim != 2:
            raise InputDataError(f"data shaped {x.shape}: give a DataArray (neurons, time, presentations) "
                                 "or a 2-D array (samples, neurons).")
        if not np.isfinite(x).all():
            raise InputDataError("data hold NaN/Inf values; drop or fill them before fitting.")
        return x, None

    def _check_fitted(self) -> None:
        if not hasattr(self, "components_"):
            raise NwbSaeError(f"This {type(self).__name__} is not fitted yet: call .fit(data) first.")

    @property
    def dictionary(self) -> np.ndarray:
        """The patterns (components, neurons), unit-norm rows (same as ``components_``)."""
        self._check_fitted()
        return self.components_

    @property
    def n_latents(self) -> int:
        """Number of components found."""
        self._check_fitted()
        return len(self.components_)

    def encode(self, data):
        """Codes of ``data``.

        Parameters
        ----------
        data : xarray.DataArray or numpy.ndarray
            Activity (neurons, time, presentations), or samples (samples, neurons).

        Returns
        -------
        xarray.DataArray or numpy.ndarray
            dims (latents, time, presentations) with the input's coordinates for a labelled input,
            else (samples, latents).
        """
        self._check_fitted()
        x, arr = self._samples(data)
        if x.shape[1] != self.n_features_in_:
            raise InputDataError(f"data have {x.shape[1]} neurons; {type(self).__name__} was fitted on "
                                 f"{self.n_features_in_}. Encode data from the same neuron selection.")
        codes = self._codes(x)
        if arr is None:
            return codes
        n_t, n_p = arr.sizes["time"], arr.sizes["presentations"]
        coords = {name: c for name, c in arr.coords.items() if "neurons" not in c.dims}
        coords["latents"] = np.arange(codes.shape[1])
        return xr.DataArray(codes.reshape(n_p, n_t, -1).transpose(2, 1, 0), dims=CODE_DIMS, coords=coords,
                            name="codes", attrs={**arr.attrs, "model": repr(self)})

    transform = encode

    def fit_transform(self, data):
        """``fit(data).encode(data)``."""
        return self.fit(data).encode(data)

    def _finish(self, x: np.ndarray, patterns: np.ndarray) -> None:
        """Set the fitted attributes shared by every baseline."""
        self.components_ = patterns
        self.n_features_in_ = x.shape[1]
        self.significant_ = np.ones(len(patterns), dtype=bool)
        codes = self._codes(x)
        active = codes > self._active_above
        count = active.sum(axis=0)
        mean = np.where(count > 0, (codes * active).sum(axis=0) / np.maximum(count, 1), 0.0)
        self.latent_table_ = pd.DataFrame({
            "frequency": count / max(len(codes), 1), "mean_activation": mean,
            "significant": self.significant_}, index=pd.RangeIndex(len(patterns), name="latent"))


class ICAAssemblies(_Baseline):
    """PCA/ICA cell-assembly detection (Lopes-dos-Santos, Ribeiro & Tort 2013).

    Parameters
    ----------
    n_components : int, optional
        Number of assemblies; default: counted by ``null``.
    null : {'mp', 'shift'}
        How to count: eigenvalues of the neurons' correlation matrix above the Marchenko-Pastur bound
        ``(1 + sqrt(N / T))**2``, or above the 99th percentile of the largest eigenvalue of circularly
        shifted surrogates (see :func:`assembly_count`).
    n_shifts : int
        Surrogates of the shift null.
    max_iter : int
        FastICA iterations.
    activation_threshold : float
        Activation strength above which an assembly counts as active in ``latent_table_`` (R is in
        squared z units; 5 is a common choice in the literature).
    seed : int
        Seed of FastICA and the shifts.

    Attributes
    ----------
    components_ : numpy.ndarray
        Assembly patterns (assemblies, neurons) over z-scored neurons, unit norm, each signed so its
        largest-magnitude weight is positive.
    eigenvalues_ : numpy.ndarray
        Eigenvalues of the correlation matrix, descending; ``bound_`` is the null's threshold.
    significant_ : numpy.ndarray of bool
        All True: only components above the null bound are kept.
    latent_table_ : pandas.DataFrame
        One row per assembly: ``frequency`` (fraction of samples with R above the threshold),
        ``mean_activation`` (mean R over those samples), ``significant``.

    Notes
    -----
    The code of assembly ``k`` at sample ``t`` is its activation strength
    ``R_k(t) = z(t)^T (w_k w_k^T - diag(w_k^2)) z(t) = (w_k . z)^2 - sum_i w_ki^2 z_i^2``: the diagonal
    is zeroed so that one neuron firing alone does not count as an assembly activation.
    """

    def __init__(self, n_components: int | None = None, null: str = "mp", n_shifts: int = 20,
                 max_iter: int = 1000, activation_threshold: float = 5.0, seed: int = 0):
        self.n_components = n_components
        self.null = null
        self.n_shifts = n_shifts
        self.max_iter = max_iter
        self.activation_threshold = activation_threshold
        self.seed = seed

    def fit(self, data, y=None) -> ICAAssemblies:
        """Find the assemblies of ``data``.

        Parameters
        ----------
        data : xarray.DataArray or numpy.ndarray
            Activity (neurons, time, presentations), or samples (samples, neurons) in time order, as
            scikit-learn and :class:`nwb_sae.SAE` take them.
        y : ignored
            For scikit-learn pipelines.

        Returns
        -------
        ICAAssemblies
            ``self``, fitted.
        """
        from sklearn.decomposition import FastICA

        x, _ = self._samples(data)
        z, self.mean_, self.scale_ = zscore(x)
        n, self.eigenvalues_, self.bound_ = assembly_count(z, self.null, self.n_shifts, seed=self.seed)
        n = n if self.n_components is None else int(self.n_components)
        if n == 0:
            self._finish(x, np.zeros((0, x.shape[1])))
            return self
        _, vectors = np.linalg.eigh(z.T @ z / len(z))
        subspace = vectors[:, ::-1][:, :n]  # (neurons, n): the signal subspace
        ica = FastICA(n_components=n, whiten="unit-variance", max_iter=self.max_iter,
                      random_state=self.seed)
        ica.fit(z @ subspace)
        self._finish(x, orient((subspace @ ica.components_.T).T))
        return self

    @property
    def _active_above(self) -> float:
        return self.activation_threshold

    def _codes(self, x: np.ndarray) -> np.ndarray:
        z = (x - self.mean_) / self.scale_
        w = self.components_.T
        return (z @ w) ** 2 - (z**2) @ (w**2)


class NMFEnsembles(_Baseline):
    """Non-negative matrix factorisation of the activity (scikit-learn NMF).

    Each neuron is divided by its standard deviation (not centred, so the data stay non-negative and
    every neuron weighs the same, as in z-scoring); ``samples ~ codes @ components_``.

    Parameters
    ----------
    n_components : int, optional
        Number of ensembles; default: the Marchenko-Pastur count of :func:`assembly_count`.
    null : {'mp', 'shift'}
        The count's null when ``n_components`` is not given.
    clip_negative : bool
        Set negative values (e.g. noise in calcium traces) to 0 instead of raising an error.
    max_iter : int
        NMF iterations.
    seed : int
        Seed of the initialisation.

    Attributes
    ----------
    components_ : numpy.ndarray
        Ensemble patterns (ensembles, neurons) over scaled neurons, unit norm, non-negative.
    significant_ : numpy.ndarray of bool
        All True.
    latent_table_ : pandas.DataFrame
        One row per ensemble: ``frequency`` (fraction of samples with a non-zero code),
        ``mean_activation`` (mean code over those samples), ``significant``.
    """

    def __init__(self, n_components: int | None = None, null: str = "mp", clip_negative: bool = False,
                 max_iter: int = 500, seed: int = 0):
        self.n_components = n_components
        self.null = null
        self.clip_negative = clip_negative
        self.max_iter = max_iter
        self.seed = seed

    def _scaled(self, x: np.ndarray) -> np.ndarray:
        if x.min() < 0:
            if not self.clip_negative:
                raise InputDataError(
                    f"NMF needs non-negative data, but the smallest value is {x.min():.3g}. Pass "
                    "clip_negative=True to set negative values to 0, or use ICAAssemblies.")
            x = np.clip(x, 0.0, None)
        return x / self.scale_

    def fit(self, data, y=None) -> NMFEnsembles:
        """Factorise ``data``.

        Parameters
        ----------
        data : xarray.DataArray or numpy.ndarray
            Activity (neurons, time, presentations), or samples (samples, neurons).
        y : ignored
            For scikit-learn pipelines.

        Returns
        -------
        NMFEnsembles
            ``self``, fitted.
        """
        from sklearn.decomposition import NMF

        x, _ = self._samples(data)
        z, _, self.scale_ = zscore(x)
        n = self.n_components
        if n is None:
            n, self.eigenvalues_, self.bound_ = assembly_count(z, self.null, seed=self.seed)
        if n == 0:
            self._finish(x, np.zeros((0, x.shape[1])))
            return self
        model = NMF(n_components=int(n), init="nndsvda", max_iter=self.max_iter, random_state=self.seed)
        model.fit(self._scaled(x))
        self._nmf = model
        norms = np.maximum(np.linalg.norm(model.components_, axis=1), 1e-12)
        self._norms = norms
        self._finish(x, model.components_ / norms[:, None])
        return self

    def _codes(self, x: np.ndarray) -> np.ndarray:
        if len(self.components_) == 0:
            return np.zeros((len(x), 0))
        return self._nmf.transform(self._scaled(x)) * self._norms


def make_method(name: str, **settings):
    """An unfitted estimator by name, for ``nwb-sae train --method``.

    Parameters
    ----------
    name : {'sae', 'ica', 'nmf'}
        :class:`nwb_sae.SAE`, :class:`ICAAssemblies` or :class:`NMFEnsembles`.
    **settings
        Passed to its constructor.

    Examples
    --------
    >>> make_method("ica", null="shift")
    ICAAssemblies(n_components=None, null='shift', n_shifts=20, max_iter=1000, activation_threshold=5.0, seed=0)
    """
    if name == "sae":
        from nwb_sae.estimator import SAE

        return SAE(**settings)
    methods = {"ica": ICAAssemblies, "nmf": NMFEnsembles}
    if name not in methods:
        raise InputDataError(f"unknown method {name!r}; choose one of {METHODS}.")
    return methods[name](**settings)


METHODS = ("sae", "ica", "nmf")
