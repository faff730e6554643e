"""Readers and writers, cut by artefact: every file format in, one labelled DataArray out, results back.

- :mod:`nwb_sae.io.align`: the one window rule every reader (and the napari plugin) cuts windows by.
- :mod:`nwb_sae.io.recording`: recordings in (NWB, plain HDF5, ``.npy`` / ``.npz`` / ``.nc``).
- :mod:`nwb_sae.io.results`: the results module's schema, its writer and its reader.
- :mod:`nwb_sae.io.safe_write`: the one atomic-write mechanism; :mod:`nwb_sae.io.h5` opens HDF5 files,
  local or remote (:mod:`nwb_sae.io.remote`: URLs and DANDI addresses through remfile);
  :mod:`nwb_sae.io.text`, :mod:`nwb_sae.io.jsonable` and :mod:`nwb_sae.io.netcdf` turn values into
  text, JSON and netCDF the same way everywhere.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from nwb_sae.io.recording.arrays import read_array_file, to_dataarray
from nwb_sae.io.remote import is_url, path_or_url

__all__ = ["load_data", "to_dataarray", "read_array_file", "IN_MEMORY_BYTES"]

IN_MEMORY_BYTES = 128 * 2**20
"""The one size rule between "in memory" and "large": a recording whose float32 samples
(neurons x time x presentations x 4 bytes) take more than this many bytes (128 MiB, e.g. 64 channels x
524,288 samples) is large. :func:`load_data` keeps a large NWB recording lazy (read window by window),
and :meth:`nwb_sae.SAE.fit` streams it (topk / relu) or fits the default ensemble model on a subsample
of it (:func:`nwb_sae.training.streaming.subsample_presentations`). :data:`nwb_sae.training.streaming.IN_MEMORY_BYTES`
is this value."""


def float32_bytes(data) -> int:
    """Bytes of ``data``'s samples as float32 (whatever its dtype), without reading them."""
    return int(np.prod(data.shape, dtype=np.int64)) * 4


def load_data(path, **options) -> xr.DataArray:
    """Read any supported recording into a DataArray with dims (neurons, time, presentations).

    This is the one entry point the CLI uses; it picks the reader by the file's suffix.

    Parameters
    ----------
    path : str or Path
        ``.nwb`` (NWB), ``.h5``/``.hdf5`` (plain HDF5 or NWB), ``.npy``, ``.npz`` or ``.nc``; or the URL of
        an NWB/HDF5 file (``https://...``, ``dandi://DANDISET_ID/path.nwb``; see :mod:`nwb_sae.io.remote`).
    **options
        Passed to the format's reader (e.g. ``activity``, ``presentations``, ``window``, ``bin_size``
        for NWB files; ``dataset``, ``dims`` for plain HDF5). Options that are ``None`` are dropped.
        ``window`` also applies to a 2-D ``[neurons, time]`` array file: such a file is a continuous
        recording, cut into consecutive windows as a continuous NWB series is (default
        :data:`nwb_sae.io.align.DEFAULT_WINDOW_SAMPLES` samples; see
        :mod:`nwb_sae.io.recording.continuous`). An in-memory 2-D numpy array passed to
        :class:`nwb_sae.SAE` is instead population vectors ``(samples, neurons)``, as in scikit-learn.
        ``preprocess`` / ``decay_time`` deconvolve an NWB series before it is cut into windows
        (:func:`~nwb_sae.io.recording.nwb.read_nwb`; a deconvolved recording is then in memory); for other
        files they are ignored here (``SAE.fit`` applies the front end).
        ``lazy`` applies to NWB recordings only (array files and plain HDF5 datasets are read whole):
        ``None`` (the default) reads them window by window and keeps them lazy (a dask-backed array)
        when their float32 samples exceed :data:`IN_MEMORY_BYTES` (128 MiB), loading smaller ones into
        memory; ``True`` keeps every NWB recording lazy, ``False`` reads it whole. A lazy recording
        is streamed, or subsampled for the default ensemble fit, by :meth:`nwb_sae.SAE.fit`.

    Returns
    -------
    xarray.DataArray
    """
    lazy = options.pop("lazy", None)
    options = {k: v for k, v in options.items() if v is not None}
    path = path_or_url(path)
    front_end = {k: options.pop(k) for k in ("preprocess", "decay_time") if k in options}
    if is_url(path) or path.suffix.lower() in (".nwb", ".h5", ".hdf5"):  # a URL is read in place: HDF5 only
        from nwb_sae.io.recording import nwb as nwb_reader

        if "dataset" not in options:
            options.update(front_end)  # read_nwb deconvolves before windowing where the rule applies

        data = nwb_reader.load_hdf5_or_nwb(path, **options, lazy=lazy is not False)  # plain HDF5: read whole
        if lazy is None and _is_dask(data) and float32_bytes(data) <= IN_MEMORY_BYTES:
            data = data.compute(scheduler="synchronous")  # small: in memory, as an eager read gives it
        return _with_signal(data, options.get("dataset"))
    window = options.pop("window", None)
    if options:
        from nwb_sae.errors import InputDataError

        raise InputDataError(f"{path}: the options {sorted(options)} only apply to NWB or HDF5 files; an array "
                             "file takes only a window (for a 2-D [neurons, time] recording).")
    return _with_signal(read_array_file(path, window=window), path.name)


def _with_signal(data, name):
    """``data`` with ``attrs["signal"]`` from a plain array's name (suite2p's F.npy, spks.npy, ...) if unset."""
    from nwb_sae.io.recording.signal import signal_of_name

    signal = signal_of_name(name) if name and "signal" not in data.attrs else ""
    if signal:
        data.attrs["signal"] = signal
    return data


def _is_dask(data) -> bool:
    return type(getattr(data, "data", data)).__module__.split(".")[0] == "dask"
