"""Sample sources the fit loop draws its batches from: an in-memory tensor, or blocks of a lazy array.

:func:`nwb_sae.training.loop.train_model` consumes a *sample source*, so the loop is one loop whatever holds
the data. :class:`TensorSource` is the path for recordings that fit in memory: one tensor of
normalised samples, shuffled as a whole each epoch. :class:`BlockSource` streams a dask-backed
``(neurons, time, presentations)`` array (``read_nwb(..., lazy=True)``) block by block, so memory is
bounded by the block and buffer sizes, never by the recording's length:

- each block is a run of presentations (the dask chunks along ``presentations``); the training or
  validation presentations of the block (the usual seeded split by presentation) become its samples;
- an epoch visits the blocks in a seeded random order and shuffles the samples of a buffer of
  several blocks (the remainder of one buffer carries into the next, so no sample is skipped);
- normalisation statistics come from one streaming pass (:class:`Moments`, Chan et al.'s pairwise
  merge of per-block means and sums of squares, in float64).

Which path a recording takes is decided in :mod:`nwb_sae.training.streaming`.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

import numpy as np
import torch

from nwb_sae.errors import InputDataError

BLOCK_BYTES = 32 * 2**20
"""Target size of one streamed block (all neurons and bins of a run of presentations)."""
BUFFER_BLOCKS = 4
"""Blocks whose samples are shuffled together during an epoch."""

class Moments:
    """Per-neuron count, mean and sum of squared deviations, merged block by block (Chan et al. 1979)."""

    def __init__(self, n_inputs: int):
        self.count = 0
        self.mean = np.zeros(n_inputs, np.float64)
        self.m2 = np.zeros(n_inputs, np.float64)

    def add(self, x) -> None:
        """Merge the samples ``x`` (samples, neurons), a numpy array or a tensor."""
        x = x.detach().to("cpu", torch.float64).numpy() if torch.is_tensor(x) else np.asarray(x, np.float64)
        n = x.shape[0]
        if n == 0:
            return
        mean = x.mean(axis=0)
        m2 = ((x - mean) ** 2).sum(axis=0)
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + delta**2 * (self.count * n / total)
        self.count = total

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation (numpy's default ``ddof=0``)."""
        return np.sqrt(self.m2 / max(self.count, 1))


def to_device(x: np.ndarray, device: torch.device) -> torch.Tensor:
    """float32 tensor on ``device``; through pinned memory and a non-blocking copy on CUDA."""
    tensor = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


class TensorSource:
    """Normalised samples held as one tensor (samples, neurons): the in-memory path."""

    def __init__(self, x: torch.Tensor):
        self.x = x

    @property
    def n_samples(self) -> int:
        """Number of samples."""
        return self.x.shape[0]

    @property
    def device(self) -> torch.device:
        """Where the batches live."""
        return self.x.device

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
        """One epoch of shuffled full batches (the incomplete last one is dropped)."""
        order = torch.randperm(self.n_samples, generator=generator).to(self.device)
        for i in range(self.n_samples // batch_size):
            yield self.x[order[i * batch_size:(i + 1) * batch_size]]

    def chunks(self, size: int) -> Iterator[torch.Tensor]:
        """All samples in order, ``size`` at a time."""
        for start in range(0, self.n_samples, size):
            yield self.x[start:start + size]

    def probe(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` random samples (with replacement), e.g. to resample dead latents."""
        rows = torch.randint(0, self.n_samples, (min(n, self.n_samples),), generator=generator)
        return self.x[rows.to(self.device)]


class BlockSource:
    """Samples of some presentations of a lazy (neurons, time, presentations) array, read block by block.

    Parameters
    ----------
    data : dask.array.Array
        Activity (neurons, time, presentations), chunked along presentations.
    presentations : array of int
        The presentations whose samples this source yields (e.g. the training split).
    device : torch.device
        Where the batches go.
    source : str
        Names the recording in error messages.
    block_bytes : int
        Target size of a block when ``data`` has to be rechunked (its chunks span more).
    """

    def __init__(self, data, presentations, device: torch.device, source: str = "data",
                 block_bytes: int = BLOCK_BYTES):
        n_neurons, n_time, _ = data.shape
        per_presentation = max(n_neurons * n_time * 4, 1)
        if max(data.chunks[2]) * per_presentation > 2 * block_bytes or len(data.chunks[0]) > 1 \
                or len(data.chunks[1]) > 1:
            data = data.rechunk((-1, -1, max(1, block_bytes // per_presentation)))
        self.data, self.device, self.source = data, device, source
        self.n_inputs, self.n_time = n_neurons, n_time
        wanted = np.zeros(data.shape[2], dtype=bool)
        wanted[np.asarray(presentations, dtype=np.int64)] = True
        bounds = np.cumsum((0, *data.chunks[2]))
        self.blocks = [(int(a), int(b), np.flatnonzero(wanted[a:b])) for a, b in pairwise(bounds)
                       if wanted[a:b].any()]
        self.n_samples = int(wanted.sum()) * n_time
        self.mean = torch.zeros(n_neurons, device=device)
        self.scale = torch.ones(n_neurons, device=device)

    def set_normalization(self, mean: torch.Tensor, scale: torch.Tensor) -> None:
        """Batches are ``(x - mean) / scale`` from now on (the model's normalisation)."""
        self.mean, self.scale = mean.to(self.device), scale.to(self.device)

    def read_block(self, index: int) -> np.ndarray:
        """Raw samples (samples, neurons) of block ``index``, grouped by presentation; NaN/Inf refused."""
        start, stop, keep = self.blocks[index]
        values = np.asarray(self.data[:, :, start:stop].compute(), dtype=np.float32)[:, :, keep]
        samples = values.transpose(2, 1, 0).reshape(-1, self.n_inputs)
        if not np.isfinite(samples).all():
            bad = np.flatnonzero(~np.isfinite(samples).all(axis=0))
            raise InputDataError(
                f"{self.source}: NaN/Inf value(s) in {len(bad)} neuron(s) (first positions: "
                f"{bad[:10].tolist()}) in presentations {start}..{stop - 1}. Drop those neurons or fill "
                "the gaps before training."
            )
        return samples

    def _normalised(self, samples: np.ndarray) -> torch.Tensor:
        """In place where possible: on the CPU the tensor shares the freshly read block's memory."""
        return to_device(samples, self.device).sub_(self.mean).div_(self.scale)

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
        """One epoch: blocks in random order, samples shuffled across a buffer of :data:`BUFFER_BLOCKS`."""
        order = torch.randperm(len(self.blocks), generator=generator).tolist()
        carry = torch.empty(0, self.n_inputs, device=self.device)
        steps = self.n_samples // batch_size
        for first in range(0, len(order), BUFFER_BLOCKS):
            buffer = self._normalised(np.concatenate([self.read_block(i) for i in order[first:first + BUFFER_BLOCKS]]))
            if len(carry):
                buffer = torch.cat([carry, buffer])
            shuffled = buffer[torch.randperm(buffer.shape[0], generator=generator).to(self.device)]
            del buffer  # at most two buffers are alive: the one being read and the shuffled one
            n_full = shuffled.shape[0] // batch_size
            for i in range(min(n_full, steps)):
                yield shuffled[i * batch_size:(i + 1) * batch_size]
            steps -= min(n_full, steps)
            carry = shuffled[n_full * batch_size:]

    def _read_blocks(self, indices: list[int]) -> np.ndarray:
        """Raw samples of several blocks, read straight into one array (no second copy)."""
        sizes = [len(self.blocks[i][2]) * self.n_time for i in indices]
        out = np.empty((sum(sizes), self.n_inputs), np.float32)
        for index, start, size in zip(indices, np.cumsum([0, *sizes[:-1]]), sizes, strict=True):
            out[start:start + size] = self.read_block(index)
        return out

    def chunks(self, size: int) -> Iterator[torch.Tensor]:
        """All samples in order (block by block), at most ``size`` at a time."""
        for index in range(len(self.blocks)):
            x = self._normalised(self.read_block(index))
            for start in range(0, x.shape[0], size):
                yield x[start:start + size]

    def probe(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Up to ``n`` random samples of one random block."""
        index = int(torch.randint(0, len(self.blocks), (1,), generator=generator))
        x = self._normalised(self.read_block(index))
        rows = torch.randint(0, x.shape[0], (min(n, x.shape[0]),), generator=generator)
        return x[rows.to(self.device)]

    def moments(self) -> tuple[Moments, np.ndarray]:
        """One pass over the raw samples: their :class:`Moments` and the first up to 16384 of them."""
        moments, head = Moments(self.n_inputs), []
        for index in range(len(self.blocks)):
            samples = self.read_block(index)
            moments.add(samples)
            if sum(len(h) for h in head) < 16384:
                head.append(samples[:16384])
        return moments, np.concatenate(head)[:16384] if head else np.zeros((0, self.n_inputs), np.float32)
