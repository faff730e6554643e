"""Training samples: population vectors, the split by presentation, normalisation statistics.

A training sample is the population vector ``x[:, t, p]`` of one time bin of one presentation. The
validation split is drawn over presentations, never over the bins of one presentation, so the bins
of a held-out trial never leak into training.

>>> import numpy as np, xarray as xr
>>> data = xr.DataArray(np.arange(12.0).reshape(2, 3, 2), dims=("neurons", "time", "presentations"))
>>> population_vectors(data).shape
(6, 2)
>>> samples_as_activity(np.zeros((5, 2))).sizes["presentations"]
5
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from nwb_sae.errors import InputDataError
from nwb_sae.io.jsonable import is_simple, plain
from nwb_sae.io.recording.arrays import ACTIVITY_DIMS, to_dataarray


def population_vectors(data: xr.DataArray) -> np.ndarray:
    """Samples (time x presentations, neurons): one row per time bin of each presentation.

    Rows are grouped by presentation, so one presentation's bins are contiguous.
    """
    return data.transpose("presentations", "time", "neurons").values.reshape(-1, data.sizes["neurons"])


def samples_as_activity(x, source: str = "array") -> xr.DataArray:
    """A 2-D array of samples (samples, neurons), scikit-learn's layout, as activity with one time bin.

    Each sample becomes its own presentation, so the validation split holds out whole samples.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or 0 in x.shape:
        raise InputDataError(f"{source}: samples must be a non-empty 2-D array (samples, neurons), got {x.shape}.")
    return xr.DataArray(x.T[:, None, :], dims=ACTIVITY_DIMS,
                        coords={d: np.arange(n) for d, n in zip(ACTIVITY_DIMS, (x.shape[1], 1, x.shape[0]),
                                                                 strict=True)},
                        attrs={"source": source})


def as_activity(X) -> tuple[xr.DataArray, bool]:
    """(activity with dims (neurons, time, presentations), whether ``X`` was a 2-D array of samples).

    A DataArray or a 3-D array is activity; a 2-D numpy array is (samples, neurons), as in scikit-learn;
    a pynapple object (TsGroup, TsdFrame, ...) is read by :func:`nwb_sae.from_pynapple` with its defaults
    (consecutive windows; call it yourself to align on an IntervalSet).
    """
    if type(X).__module__.split(".")[0] == "pynapple":
        from nwb_sae.io.recording.pynapple import from_pynapple

        X = from_pynapple(X)
    if not isinstance(X, xr.DataArray) and np.ndim(X) == 2:
        return samples_as_activity(X), True
    return to_dataarray(X), False


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


MAX_NAMED = 100
"""Most neuron ids one message lists."""

STD_FLOOR = 0.01
"""z-scoring divides each neuron by at least this fraction of the median neuron's standard deviation
(on the training split). A neuron almost constant in training (a few changed frames in one held-out
window) would otherwise be blown up by its tiny std: its validation values reach 1e5 standard
deviations and the reconstruction error with them. 1 %: such a neuron enters the model at most 100
times louder than a typical one; any neuron with at least 1 % of the typical spread is z-scored exactly."""


def _named(ids) -> str:
    ids = list(ids)
    return f"{ids[:MAX_NAMED]}{' ...' if len(ids) > MAX_NAMED else ''}"


def drop_constant_neurons(data: xr.DataArray, source: str) -> tuple[xr.DataArray, list]:
    """``data`` without its constant or all-NaN neurons, and their ids; one warning names them.

    Such neurons carry no information (suite2p exports, for one, keep ROIs whose trace is flat), and a
    constant cannot be z-scored. Neurons with some NaN and some varying values are kept (and refused
    by :func:`check_finite`).

    Raises
    ------
    InputDataError
        Every neuron is constant or NaN.

    Examples
    --------
    >>> data = xr.DataArray(np.stack([np.arange(6.0), np.ones(6)]).reshape(2, 3, 2), dims=ACTIVITY_DIMS,
    ...                     coords={"neurons": [10, 11]})
    >>> with warnings.catch_warnings(record=True):
    ...     kept, dropped = drop_constant_neurons(data, "rec")
    >>> kept["neurons"].values.tolist(), dropped
    ([10], [11])
    """
    flat = data.values.reshape(data.sizes["neurons"], -1)
    finite = np.where(np.isfinite(flat), flat, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows
        low, high = np.nanmin(finite, axis=1), np.nanmax(finite, axis=1)
    all_nan = np.isnan(low)
    constant = ~all_nan & (high - low <= 1e-12 * np.maximum(1.0, np.abs(high)))
    drop = all_nan | constant
    if not drop.any():
        return data, []
    ids = plain(data["neurons"].values[drop])
    if drop.all():
        raise InputDataError(f"{source}: all {len(ids)} neurons are constant or NaN; there is nothing to learn. "
                             "Check that the right activity was read (nwb-sae inspect FILE).")
    kinds = " and ".join(k for k, n in (("constant", constant.sum()), ("all-NaN", all_nan.sum())) if n)
    warnings.warn(f"{source}: dropped {len(ids)} of {data.sizes['neurons']} neurons that are {kinds} (they carry "
                  f"no information); ids: {_named(ids)}. The model keeps the other {int((~drop).sum())} and "
                  "records the dropped ones (data_attrs_['dropped_neurons']).", UserWarning, stacklevel=3)
    return data.isel(neurons=np.flatnonzero(~drop)), ids


def select_model_neurons(data: xr.DataArray, model_ids, n_model: int, source: str,
                         trained_on: str = "its training data", dropped_ids=()) -> xr.DataArray:
    """The model's neurons of ``data``, picked by id when ``data`` also holds the ones fit dropped.

    Only the neurons :func:`drop_constant_neurons` removed at fit time (``dropped_ids``) may be extra:
    any other difference (another recording, another neuron selection) is refused, because matching
    plain positional ids (0, 1, 2, ... of an array) would silently encode the wrong neurons.

    Raises
    ------
    InputDataError
        ``data`` lacks some of the model's neurons, or holds neurons the model neither kept nor dropped.
    """
    n = data.sizes["neurons"]
    missing = []
    if model_ids is not None and n != n_model:
        where = {str(v): i for i, v in enumerate(data["neurons"].values)}
        missing = [v for v in model_ids if str(v) not in where]
        known = {str(v) for v in model_ids} | {str(v) for v in dropped_ids}
        unknown = [v for v in where if v not in known]
        if not missing and not unknown and len(model_ids) == n_model:
            return data.isel(neurons=[where[str(v)] for v in model_ids])
    if n != n_model:
        lacking = f"; the model's neuron ids {_named(missing)} are not in it" if missing else ""
        raise InputDataError(
            f"{source}: has {n} neurons, but the model was trained on {n_model} (from {trained_on}){lacking}. "
            "Encode data from the same recording and neuron selection as the training data."
        )
    return data


def fit_normalization(x: np.ndarray, mode: str, neuron_ids, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-neuron (mean, scale) learned on the training samples ``x`` (samples, neurons).

    ``zscore`` divides by each neuron's standard deviation, floored at :data:`STD_FLOOR` times the
    median one; ``scale`` by one common scale; ``none`` leaves the data as they are.
    """
    if mode == "none":
        n = x.shape[1]
        return np.zeros(n, np.float32), np.ones(n, np.float32)
    return normalization_from_moments(x.mean(axis=0, dtype=np.float64), x.std(axis=0, dtype=np.float64),
                                      mode, neuron_ids, source)


def normalization_from_moments(mean: np.ndarray, std: np.ndarray, mode: str, neuron_ids,
                               source: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-neuron (mean, scale) from the training samples' per-neuron mean and std (also when streamed)."""
    n = len(mean)
    if mode == "none":
        return np.zeros(n, np.float32), np.ones(n, np.float32)
    if mode == "zscore":
        floor = STD_FLOOR * float(np.median(std))
        if floor <= 1e-12 * max(1.0, float(np.median(np.abs(mean)))):
            constant = std <= 1e-12 * np.maximum(1.0, np.abs(mean))
            raise InputDataError(
                f"{source}: {int(constant.sum())} of {n} neurons are constant over the training presentations "
                f"(first ids: {np.asarray(neuron_ids)[constant][:10].tolist()}), so they cannot be z-scored. "
                "Use longer or more presentations, or normalize='scale'."
            )
        return mean.astype(np.float32), np.maximum(std, floor).astype(np.float32)
    scale = np.sqrt(np.mean(std**2))
    return mean.astype(np.float32), np.full(n, max(scale, 1e-12), np.float32)


def describe_neurons(data: xr.DataArray) -> dict:
    """Neuron coordinates as JSON-able lists (the neuron dim itself under ``id``)."""
    return {("id" if name == "neurons" else str(name)): plain(coord.values)
            for name, coord in data.coords.items() if coord.dims == ("neurons",)}


def describe_attrs(attrs: dict) -> dict:
    """The DataArray attrs that JSON can hold: scalars, and lists of scalars (e.g. the window)."""
    return {key: value for key, value in plain(attrs).items() if is_simple(value)}
