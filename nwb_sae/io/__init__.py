"""Readers and writers: every file format in, one labelled DataArray out (and results back)."""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from nwb_sae.io.arrays import read_array_file, to_dataarray
from nwb_sae.io.remote import is_url

__all__ = ["load_data", "to_dataarray", "read_array_file"]


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

    Returns
    -------
    xarray.DataArray
    """
    options = {k: v for k, v in options.items() if v is not None}
    if is_url(path):  # remote files are read in place, which only HDF5 allows
        from nwb_sae.io import nwb as nwb_reader

        return nwb_reader.load_hdf5_or_nwb(path, **options)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".nwb", ".h5", ".hdf5"):
        from nwb_sae.io import nwb as nwb_reader

        return nwb_reader.load_hdf5_or_nwb(path, **options)
    if options:
        raise TypeError(f"{path}: options {sorted(options)} only apply to NWB or HDF5 files.")
    return read_array_file(path)
