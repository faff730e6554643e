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

    A DataArray or a 3-D array is activity; a 2-D numpy array is (samples, neurons), as in scikit-learn.
    """
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


def fit_normalization(x: np.ndarray, mode: str, neuron_ids, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-neuron (mean, scale) learned on the training samples ``x`` (samples, neurons)."""
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


def describe_neurons(data: xr.DataArray) -> dict:
    """Neuron coordinates as JSON-able lists (the neuron dim itself under ``id``)."""
    return {("id" if name == "neurons" else str(name)): plain(coord.values)
            for name, coord in data.coords.items() if coord.dims == ("neurons",)}


def describe_attrs(attrs: dict) -> dict:
    """The DataArray attrs that JSON can hold: scalars, and lists of scalars (e.g. the window)."""
    return {key: value for key, value in plain(attrs).items() if is_simple(value)}
