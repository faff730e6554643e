"""Opening HDF5 files so that every failure is an :class:`~nwb_sae.errors.NwbSaeError` naming the file.

Readers of recordings and of results both open files through :func:`open_h5` (read-only, with the
usual failures explained) and wrap what they read in :func:`reading`, so a user never sees a raw h5py
or pynwb traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py

from nwb_sae.errors import NwbSaeError
from nwb_sae.io import remote
from nwb_sae.io.diagnose import check_hdf5_file, hdf5_open_error, hdf5_read_error


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
        raise hdf5_read_error(path, what, err, hint) from err


def open_h5(path) -> h5py.File:
    """Open ``path`` read-only with h5py, explaining the usual failures; a URL is opened through remfile.

    Raises
    ------
    UnsupportedFileError
        Missing file, a folder, empty, not readable, not HDF5, truncated or damaged, locked or still
        being written by another program: the cause named by :mod:`nwb_sae.io.diagnose`.
        For a URL: unreachable, missing (404) or refused (see :func:`nwb_sae.io.remote.open_url`).
    """
    if remote.is_url(path):  # http(s):// and dandi:// are read in place (byte ranges) through remfile
        return remote.open_url(path)
    path = Path(path)
    check_hdf5_file(path)
    h5 = None
    try:
        h5 = h5py.File(path, "r")
        list(h5.attrs)  # a damaged root object shows here, not later in a caller's code
        return h5
    except Exception as err:  # mostly OSError (BlockingIOError for a lock), but a damaged file may raise more
        if h5 is not None:
            h5.close()
        raise hdf5_open_error(path, err) from err
