"""Streaming the codes of a whole recording into an HDF5 dataset, block by block.

:class:`CodeStream` is an hdmf data-chunk iterator: hdmf pulls one block of samples at a time, the
stream reads that block from the source, encodes it and hands it over, so memory stays at one block
whatever the length of the recording. While the blocks go by, :class:`LatentStats` accumulates the
per-latent statistics that end up in the dictionary table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from hdmf.data_utils import AbstractDataChunkIterator, DataChunk

from nwb_sae.errors import InputDataError
from nwb_sae.io.results.schema import STAT_NAMES
from nwb_sae.io.safe_write import stage

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
"""Target size of one HDF5 chunk of codes (all latents over a run of samples): 1 MiB."""

BLOCK_BYTES = 64 << 20
"""Target size of one block of codes encoded and written at once: 64 MiB."""


def default_chunk_rows(n_latents: int, n_samples: int, chunk_bytes: int = CHUNK_BYTES) -> int:
    """Samples per HDF5 chunk: all latents of ``chunk_bytes // (4 * n_latents)`` samples.

    Examples
    --------
    >>> default_chunk_rows(1024, 10**6)
    256
    >>> default_chunk_rows(8, 100)
    100
    """
    rows = max(1, chunk_bytes // (4 * max(1, n_latents)))
    return int(max(1, min(rows, n_samples)))


class LatentStats:
    """Running per-latent statistics of codes seen block by block.

    A latent is *active* in a sample when its code is non-zero. Non-finite codes (from NaN input
    samples) are skipped and counted in ``n_invalid``.

    Parameters
    ----------
    n_latents : int
        Number of latents (columns of every block).
    """

    NAMES = STAT_NAMES
    """The statistics :meth:`result` returns, in the order the dictionary table shows them."""

    def __init__(self, n_latents: int):
        self.n_latents = n_latents
        self.n_samples = 0
        self.n_invalid = 0
        self._valid = np.zeros(n_latents, np.int64)
        self._active = np.zeros(n_latents, np.int64)
        self._sum = np.zeros(n_latents, np.float64)
        self._sum_sq = np.zeros(n_latents, np.float64)
        self._max = np.full(n_latents, -np.inf, np.float64)

    def update(self, codes: np.ndarray) -> None:
        """Add a block of codes shaped (samples, latents)."""
        self.n_samples += codes.shape[0]
        if codes.shape[0] == 0:
            return
        column_sums = codes.sum(axis=0, dtype=np.float64)
        if np.isfinite(column_sums).all():  # the usual case: no NaN or inf in the block, one pass each
            self._valid += codes.shape[0]
            self._active += np.count_nonzero(codes, axis=0)
            self._sum += column_sums
            self._sum_sq += np.einsum("ij,ij->j", codes, codes, dtype=np.float64)
            self._max = np.maximum(self._max, codes.max(axis=0))
            return
        finite = np.isfinite(codes)
        self.n_invalid += int((~finite.all(axis=1)).sum())
        values = np.where(finite, codes, 0.0)
        self._valid += finite.sum(axis=0)
        self._active += np.count_nonzero(values, axis=0)
        self._sum += values.sum(axis=0, dtype=np.float64)
        self._sum_sq += np.einsum("ij,ij->j", values, values, dtype=np.float64)
        self._max = np.maximum(self._max, np.where(finite, codes, -np.inf).max(axis=0))

    def result(self) -> dict[str, np.ndarray]:
        """The statistics, each a float64 array over latents.

        Returns
        -------
        dict
            ``activation_frequency`` (fraction of samples where the latent is non-zero),
            ``mean_activation`` (mean over all samples), ``mean_active_activation`` (mean over the
            samples where it is active; NaN for a latent never active), ``std_activation`` and
            ``max_activation`` (NaN when no valid sample was seen).
        """
        valid = np.maximum(self._valid, 1)
        mean = self._sum / valid
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_active = np.where(self._active > 0, self._sum / np.maximum(self._active, 1), np.nan)
        std = np.sqrt(np.maximum(self._sum_sq / valid - mean**2, 0.0))
        maximum = np.where(np.isfinite(self._max), self._max, np.nan)
        seen = self._valid > 0
        return {
            "activation_frequency": np.where(seen, self._active / valid, np.nan),
            "mean_activation": np.where(seen, mean, np.nan),
            "mean_active_activation": mean_active,
            "std_activation": np.where(seen, std, np.nan),
            "max_activation": maximum,
        }


class CodeStream(AbstractDataChunkIterator):
    """Codes of a whole recording, produced block by block for hdmf to write.

    Parameters
    ----------
    read : callable
        ``read(start, stop)`` -> array (stop - start, n_inputs) of the source samples.
    n_samples : int
        Number of samples (time points) in the recording.
    n_latents : int
        Number of latents the encoder produces.
    encode : callable, optional
        ``encode(x)`` -> float32 array (samples, n_latents). Without it, ``read`` already returns codes.
    chunk_rows : int, optional
        Samples per HDF5 chunk (default: :func:`default_chunk_rows`).
    block_rows : int, optional
        Samples encoded and written at once, a multiple of ``chunk_rows`` (default: about 64 MiB of
        codes).
    progress : bool or None
        Show a tqdm progress bar; ``None`` shows it only on a terminal.
    label : str
        What the progress bar and error messages call the source.

    Attributes
    ----------
    stats : LatentStats
        Filled as the blocks go by; complete once the stream is exhausted.
    error : BaseException or None
        What ``read`` or ``encode`` raised, if they did.

    Examples
    --------
    >>> codes = np.eye(4, dtype=np.float32)
    >>> stream = CodeStream(lambda a, b: codes[a:b], n_samples=4, n_latents=4, chunk_rows=2, block_rows=2)
    >>> [chunk.selection[0] for chunk in stream]
    [slice(0, 2, None), slice(2, 4, None)]
    >>> stream.stats.result()["activation_frequency"].tolist()
    [0.25, 0.25, 0.25, 0.25]
    """

    def __init__(self, read: Callable[[int, int], np.ndarray], n_samples: int, n_latents: int,
                 encode: Callable[[np.ndarray], np.ndarray] | None = None, *,
                 chunk_rows: int | None = None, block_rows: int | None = None,
                 progress: bool | None = False, label: str = "codes"):
        if n_samples < 1 or n_latents < 1:
            raise InputDataError(f"{label}: nothing to write ({n_samples} samples, {n_latents} latents).")
        self.read = read
        self.encode = encode
        self.n_samples = int(n_samples)
        self.n_latents = int(n_latents)
        self.label = label
        self.chunk_rows = int(chunk_rows or default_chunk_rows(n_latents, n_samples))
        if block_rows is None:
            block_rows = max(1, BLOCK_BYTES // (4 * self.n_latents))
        block_rows = max(self.chunk_rows, (int(block_rows) // self.chunk_rows) * self.chunk_rows)
        self.block_rows = block_rows
        self.stats = LatentStats(self.n_latents)
        self.position = 0
        self.error: BaseException | None = None
        self._progress = progress
        self._bar = None

    # -- the hdmf iterator protocol ---------------------------------------------------------------
    def __iter__(self):
        return self

    def __next__(self) -> DataChunk:
        if self.position >= self.n_samples:
            self._close_bar()
            raise StopIteration
        start = self.position
        stop = min(start + self.block_rows, self.n_samples)
        stage(f"encoded block {start // self.block_rows}")
        block = self._block(start, stop)
        self.stats.update(block)
        self.position = stop
        log.debug("encoded samples %d:%d of %d", start, stop, self.n_samples)
        self._advance_bar(stop - start)
        return DataChunk(data=block, selection=np.s_[start:stop, :])

    next = __next__

    def recommended_chunk_shape(self) -> tuple[int, int]:
        """One HDF5 chunk holds all latents of ``chunk_rows`` samples (fast time slices)."""
        return (self.chunk_rows, self.n_latents)

    def recommended_data_shape(self) -> tuple[int, int]:
        """The final shape: the dataset is allocated once."""
        return (self.n_samples, self.n_latents)

    @property
    def dtype(self) -> np.dtype:
        """Codes are float32."""
        return np.dtype("float32")

    @property
    def maxshape(self) -> tuple[int, int]:
        """Fixed: (samples, latents)."""
        return (self.n_samples, self.n_latents)

    # -- internals --------------------------------------------------------------------------------
    def _block(self, start: int, stop: int) -> np.ndarray:
        try:
            x = np.asarray(self.read(start, stop))
            block = x if self.encode is None else np.asarray(self.encode(x))
        except BaseException as err:  # the writer re-raises these unchanged (they are the reader's or model's)
            self.error = err
            raise
        block = np.ascontiguousarray(block, dtype=np.float32)
        if block.shape != (stop - start, self.n_latents):
            raise InputDataError(
                f"{self.label}: samples {start}:{stop} gave codes shaped {block.shape}, expected "
                f"{(stop - start, self.n_latents)}."
            )
        return block

    def _advance_bar(self, n: int) -> None:
        if self._progress is False:
            return
        if self._bar is None:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.n_samples, unit="sample", unit_scale=True,
                             desc=f"writing {self.label}", disable=None if self._progress is None else False)
        self._bar.update(n)

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
