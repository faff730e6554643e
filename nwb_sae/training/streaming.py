"""Which path a recording's fit takes: in memory, streamed block by block, or subsampled.

Recordings that fit in memory are one tensor (:class:`nwb_sae.training.sources.TensorSource`); a lazy
recording larger than :data:`IN_MEMORY_BYTES` is streamed (:class:`nwb_sae.training.sources.BlockSource`) by
the single-model fits (topk / relu).

The default ensemble fit (selection, seeds, statistics) is not streamed: on a lazy recording larger
than :data:`IN_MEMORY_BYTES` it runs in memory on :func:`subsample_presentations`, a seeded random
subset of whole presentations (or of time blocks of long ones) that fits in that many bytes, read
block by block. :func:`prepare_training` makes that choice, in one place.
"""

from __future__ import annotations

from itertools import pairwise
from typing import NamedTuple

import numpy as np
import torch
import xarray as xr

from nwb_sae.io import IN_MEMORY_BYTES as _IN_MEMORY_BYTES
from nwb_sae.io import float32_bytes
from nwb_sae.io.recording.arrays import ACTIVITY_DIMS
from nwb_sae.samples import (
    check_finite,
    drop_constant_neurons,
    fit_normalization,
    normalization_from_moments,
    population_vectors,
    split_presentations,
)
from nwb_sae.training.sources import BlockSource, Moments

IN_MEMORY_BYTES = _IN_MEMORY_BYTES
"""Lazy inputs whose float32 samples fit in this many bytes (128 MiB, :data:`nwb_sae.io.IN_MEMORY_BYTES`)
are loaded and trained in memory; larger ones are streamed (topk / relu) or subsampled to this size
(the default batchtopk ensemble fit)."""
MIN_SUBSAMPLE_UNITS = 50
"""Presentations (or time blocks) a subsample holds at least, for its held-out split and statistics."""


def is_lazy(data) -> bool:
    """True for a DataArray (or array) backed by dask."""
    values = getattr(data, "data", data)
    return type(values).__module__.split(".")[0] == "dask"


def should_stream(data, in_memory_bytes: int | None = None) -> bool:
    """A lazy input whose float32 samples exceed ``in_memory_bytes`` (default :data:`IN_MEMORY_BYTES`)
    is streamed; others are loaded."""
    limit = IN_MEMORY_BYTES if in_memory_bytes is None else in_memory_bytes
    return is_lazy(data) and float32_bytes(data) > limit


def subsample_presentations(data, max_bytes: int, seed: int, min_units: int = MIN_SUBSAMPLE_UNITS) -> xr.DataArray:
    """A seeded random subset of the presentations of ``data`` whose float32 samples fit in ``max_bytes``.

    What the default ensemble fit trains on when the recording is too large for memory. When at least
    ``min_units`` whole presentations fit, whole presentations are drawn; otherwise (a continuous
    recording with few, long presentations) every presentation is first cut along time into blocks
    of equal length (short enough for ``min_units`` of them to fit; a remainder shorter than a block
    is left out) and blocks are drawn, each becoming one presentation of the result. The result holds
    at least ``min_units`` presentations of at least one bin, even when ``max_bytes`` is smaller.

    The data are read in runs of presentations (the chunks of a dask-backed array), so memory holds
    the result and one run at a time.

    Parameters
    ----------
    data : xarray.DataArray
        Activity (neurons, time, presentations), lazy (dask) or in memory.
    max_bytes : int
        Bound on the result's float32 samples (neurons x time x presentations x 4).
    seed : int
        Seed of the draw.
    min_units : int
        Presentations (or blocks) the result holds at least.

    Returns
    -------
    xarray.DataArray
        In memory (float32), dims (neurons, time, presentations), the chosen presentations in their
        order in ``data`` with their coordinates; blocks keep their presentation's coordinates, the
        presentation's id under ``source_presentation``, the block's first bin under
        ``block_start`` and the time coordinate of the presentation's first bins. ``attrs`` add
        ``subsample`` (True), ``subsample_samples`` / ``recording_samples`` (samples drawn / in
        ``data``), ``subsample_presentations`` / ``recording_presentations``, ``subsample_unit``
        (``presentations`` or ``blocks of N bins``) and ``subsample_seed``. ``data`` itself, loaded,
        when it fits.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> data = xr.DataArray(np.ones((4, 10, 300), np.float32), dims=("neurons", "time", "presentations"))
    >>> sub = subsample_presentations(data, max_bytes=4 * 10 * 60 * 4, seed=0)
    >>> sub.sizes["presentations"], sub.attrs["subsample_samples"], sub.attrs["recording_samples"]
    (60, 600, 3000)
    >>> long = xr.DataArray(np.ones((4, 1000, 3), np.float32), dims=("neurons", "time", "presentations"))
    >>> blocks = subsample_presentations(long, max_bytes=4 * 200 * 4, seed=0)  # 200 samples of 3000
    >>> blocks.attrs["subsample_unit"], blocks.sizes["presentations"], blocks.attrs["subsample_samples"]
    ('blocks of 4 bins', 50, 200)
    """
    data = data.transpose(*ACTIVITY_DIMS)
    n_neurons, n_time, n_presentations = (data.sizes[d] for d in ACTIVITY_DIMS)
    budget = max(int(max_bytes) // max(4 * n_neurons, 1), min_units)  # samples that fit
    if n_time * n_presentations <= budget:
        return data.compute() if is_lazy(data) else data
    if budget // n_time >= min_units:  # whole presentations
        length, per = n_time, 1
    else:  # blocks along time, as presentations
        length = max(1, budget // min_units)
        per = n_time // length
    n_units = n_presentations * per
    chosen = np.sort(np.random.default_rng(seed).choice(n_units, min(n_units, budget // length), replace=False))
    owner, start = chosen // per, (chosen % per) * length
    values = _read_units(data, owner, start, length)
    sub = data.isel(presentations=owner, time=slice(0, length)).copy(data=values).compute()  # and its coords
    if per > 1:
        sub = sub.assign_coords(presentations=np.arange(len(chosen)), block_start=("presentations", start),
                                source_presentation=("presentations", data["presentations"].values[owner]))
    unit = "presentations" if per == 1 else f"blocks of {length} bins"
    sub.attrs.update(subsample=True, subsample_samples=int(values.shape[1] * values.shape[2]),
                     recording_samples=int(n_time * n_presentations), subsample_presentations=len(chosen),
                     recording_presentations=int(n_presentations), subsample_unit=unit, subsample_seed=int(seed))
    return sub


def _read_units(data: xr.DataArray, owner: np.ndarray, start: np.ndarray, length: int) -> np.ndarray:
    """float32 (neurons, length, units): bins ``start:start + length`` of presentations ``owner``
    (sorted), read one run of presentations (a dask chunk) at a time."""
    values, lazy = data.data, is_lazy(data)
    out = np.empty((data.sizes["neurons"], length, len(owner)), np.float32)
    bounds = np.cumsum((0, *values.chunks[2])) if lazy else (0, data.sizes["presentations"])
    for a, b in pairwise(bounds):
        first, last = np.searchsorted(owner, [a, b])
        if first == last:
            continue
        wanted = np.unique(owner[first:last])
        block = values[:, :, wanted]  # a dask array computes this one chunk
        block = np.asarray(block.compute() if lazy else block, dtype=np.float32)
        where = np.searchsorted(wanted, owner[first:last])
        for j, (w, s) in enumerate(zip(where, start[first:last], strict=True)):
            out[:, :, first + j] = block[:, s:s + length, w]
    return out


class StreamedSplit(NamedTuple):
    """The training and validation sources of a streamed fit, and what was learned in the first pass."""

    train: BlockSource
    """Training presentations."""
    val: BlockSource
    """Validation presentations (the training source when there are none)."""
    mean: np.ndarray
    """Per-neuron mean of the normalisation (float32)."""
    scale: np.ndarray
    """Per-neuron scale of the normalisation (float32)."""
    head: np.ndarray
    """The first (up to 16384) raw training samples, e.g. for the decoder bias."""
    train_presentations: np.ndarray
    """Indices of the training presentations."""
    val_presentations: np.ndarray
    """Indices of the validation presentations."""


def streamed_split(data, normalize: str, val_fraction: float, seed: int, device: torch.device,
                   source: str = "data") -> StreamedSplit:
    """Split a lazy DataArray by presentation and learn its normalisation in one streaming pass.

    Parameters
    ----------
    data : xarray.DataArray
        Dask-backed activity (neurons, time, presentations).
    normalize : str
        ``zscore``, ``scale`` or ``none`` (see :class:`nwb_sae.config.ModelConfig`).
    val_fraction, seed : float, int
        The split (the same as :func:`nwb_sae.samples.split_presentations` gives in memory).
    device : torch.device
        Where the batches go.
    source : str
        Names the recording in error messages.

    Returns
    -------
    StreamedSplit
    """
    train_idx, val_idx = split_presentations(data.sizes["presentations"], val_fraction, seed, source)
    values = data.transpose(*ACTIVITY_DIMS).data
    train = BlockSource(values, train_idx, device, source)
    val = BlockSource(values, val_idx, device, source) if len(val_idx) else train
    moments, head = train.moments()
    mean, scale = normalization_from_moments(moments.mean, moments.std, normalize, data["neurons"].values, source)
    for part in {id(train): train, id(val): val}.values():
        part.set_normalization(torch.from_numpy(mean), torch.from_numpy(scale))
    return StreamedSplit(train, val, mean, scale, head, train_idx, val_idx)


@torch.no_grad()
def held_out_sample(data, presentations: np.ndarray, max_bytes: int = 256 * 2**20) -> np.ndarray:
    """Population vectors of the first of ``presentations`` that fit in ``max_bytes`` (read into memory):
    what the significance test of a streamed fit uses, so its memory stays bounded too."""
    per_presentation = data.sizes["neurons"] * data.sizes["time"] * 4
    n = max(1, min(len(presentations), max_bytes // max(per_presentation, 1)))
    chosen = data.isel(presentations=np.asarray(presentations)[:n])
    return population_vectors(chosen.compute() if is_lazy(chosen) else chosen)


@torch.no_grad()
def streamed_code_report(model, source, batch_size: int = 16384, dense_threshold: float = 0.1) -> dict:
    """:func:`nwb_sae.metrics.code_report` of the samples of ``source``, in input units, block by block."""
    moments = Moments(model.n_inputs)
    sq_err = 0.0
    counts = torch.zeros(model.n_latents, dtype=torch.float64, device=source.device)
    n = 0
    for xb in source.chunks(batch_size):
        codes = model.encode(xb)
        x = model.denormalize(xb)
        sq_err += float((model.denormalize(model.decode(codes)) - x).double().pow(2).sum())
        counts += (codes != 0).sum(dim=0).double()
        moments.add(x)
        n += xb.shape[0]
    total = float(moments.m2.sum())
    frequency = counts.cpu().numpy() / max(n, 1)
    return {"fvu": sq_err / total if total > 0 else float("nan"), "l0": float(frequency.sum()),
            "dead_fraction": float(np.mean(frequency == 0)),
            "dense_fraction": float(np.mean(frequency > dense_threshold))}


class TrainingData(NamedTuple):
    """What a fit trains on: in memory (``x_train``/``x_val``) or streamed (``streamed``), split and normalised."""

    data: xr.DataArray
    """The activity, without the constant neurons dropped from an in-memory recording."""
    streamed: StreamedSplit | None
    """The streamed split of a recording too large for memory, else None."""
    train_idx: np.ndarray
    val_idx: np.ndarray
    x_train: np.ndarray | None
    """Training samples (samples, neurons), in memory only."""
    x_val: np.ndarray | None
    mean: np.ndarray
    scale: np.ndarray
    dropped: list
    """Ids of the constant or all-NaN neurons left out (in-memory recordings; a streamed one keeps them)."""
    n_input_neurons: int


def prepare_training(data, normalize: str, val_fraction: float, seed: int, device: torch.device,
                     source: str, subsample: bool = False) -> TrainingData:
    """Split ``data`` by presentation and learn its normalisation, in memory or streamed.

    A lazy ``data`` larger than :data:`IN_MEMORY_BYTES` is streamed block by block, or, with
    ``subsample`` (the default ensemble fit, which runs in memory), replaced by
    :func:`subsample_presentations` (seeded with ``seed``) and then split and normalised in memory:
    the subsample's own presentations (or time blocks) are split, and its training part gives the
    normalisation. Smaller data are loaded and split in memory.

    Parameters
    ----------
    data : xarray.DataArray
        Activity (neurons, time, presentations).
    normalize : str
        ``zscore``, ``scale`` or ``none``.
    val_fraction, seed : float, int
        The split by presentation (and the subsample's draw).
    device : torch.device
        Where a streamed fit's batches go.
    source : str
        Names the recording in messages.
    subsample : bool
        Subsample a large lazy ``data`` instead of streaming it.

    Returns
    -------
    TrainingData
    """
    n_input = data.sizes["neurons"]
    if subsample and should_stream(data):
        data = subsample_presentations(data, IN_MEMORY_BYTES, seed)
    if should_stream(data):  # constant neurons stay (their std is floored): dropping them needs a pass first
        split = streamed_split(data, normalize, val_fraction, seed, device, source)
        return TrainingData(data, split, split.train_presentations, split.val_presentations, None, None,
                            split.mean, split.scale, [], n_input)
    data = data.compute() if is_lazy(data) else data
    data, dropped = drop_constant_neurons(data, source)  # one warning names them
    check_finite(data, source)
    train_idx, val_idx = split_presentations(data.sizes["presentations"], val_fraction, seed, source)
    x_train = population_vectors(data.isel(presentations=train_idx))
    x_val = population_vectors(data.isel(presentations=val_idx)) if len(val_idx) else x_train[:0]
    mean, scale = fit_normalization(x_train, normalize, data["neurons"].values, source)
    return TrainingData(data, None, train_idx, val_idx, x_train, x_val, mean, scale, dropped, n_input)
