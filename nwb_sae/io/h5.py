"""Opening HDF5 files so that every failure is an :class:`~nwb_sae.errors.NwbSaeError` naming the file.

Readers of recordings and of results both open files through :func:`open_h5` (read-only, with the
usual failures explained) and wrap what they read in :func:`reading`, so a user never sees a raw h5py
or pynwb traceback.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py

from nwb_sae.errors import NwbSaeError, UnsupportedFileError
from nwb_sae.io import remote


@contextmanager
def reading(path, what: str, hint: str = "") -> Iterator[None]:
    """Turn any exception raised while reading ``what`` from ``path`` into an UnsupportedFileError.

    Errors of this package pass through unchanged.

    Examples
    --------
    >>> with reading("a.nwb", "units/spike_times"):     # doctest: +SKIP
    ...     spikes = units["spike_times"].data[:]
    """
    try:
        yield
    except NwbSaeError:
        raise
    except Exception as err:  # a malformed file can make pynwb/h5py raise nearly anything
        message = f"{path}: could not read {what} ({type(err).__name__}: {err})."
        raise UnsupportedFileError(f"{message} {hint}".strip()) from err


def open_h5(path) -> h5py.File:
    """Open ``path`` read-only with h5py, explaining the usual failures; a URL is opened through remfile.

    Raises
    ------
    UnsupportedFileError
        Missing file, not HDF5, truncated, or locked by a program writing to it; for a URL, unreachable,
        missing (404) or refused (see :func:`nwb_sae.io.remote.open_url`).
    """
    if remote.is_url(path):  # http(s):// and dandi:// are read in place (byte ranges) through remfile
        return remote.open_url(path)
    path = Path(path)
    if not path.exists():
        raise UnsupportedFileError(f"{path}: no such file.")
    if path.is_dir():
        raise UnsupportedFileError(
            f"{path}: is a folder. nwb-sae reads NWB files stored as HDF5 (Zarr NWB folders are not supported)."
        )
    try:
        return h5py.File(path, "r")
    except OSError as err:  # BlockingIOError is an OSError
        text = str(err)
        if "truncated" in text:  # its message names the 'sblock', so this test comes before the lock test
            reason = ("is truncated (the file is shorter than its header says): the copy or the "
                      "download did not finish, or the writer crashed. Copy it again.")
        elif re.search(r"\block", text):
            reason = ("is locked by another program that has it open for writing. Close that program "
                      "(or the pynwb/h5py handle) and try again; on a network file system where locks "
                      "are not supported, set HDF5_USE_FILE_LOCKING=FALSE.")
        elif "signature" in text or not h5py.is_hdf5(path):
            reason = ("is not an HDF5 file, so not an NWB file nwb-sae can read (NWB files are HDF5). "
                      "Arrays can be given as .npy, .npz or .nc instead.")
        else:
            reason = f"cannot be opened as HDF5 ({text})."
        raise UnsupportedFileError(f"{path}: {reason}") from err
