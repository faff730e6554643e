"""Opening NWB files safely: every h5py / pynwb failure becomes an :class:`NwbSaeError`.

Checks run with plain h5py before pynwb sees the file, so that the common failures (not HDF5,
truncated, locked by a writer, NWB 1.x, plain HDF5 without NWB markers) get a specific message
instead of whatever pynwb happens to raise.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py

from nwb_sae.errors import NwbSaeError, UnsupportedFileError
from nwb_sae.io import remote

CONVERT_HINT = (
    "Re-export it as NWB 2.x with a current writer (pynwb, MatNWB, NeuroConv; for Allen Brain "
    "Observatory files the AllenSDK), or save the traces as .npy / plain HDF5 and read them with "
    "nwb_sae.read_hdf5."
)


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


def _text(value) -> str | None:
    """An HDF5 attribute that may be str, bytes or a 1-element array of either, as str."""
    if value is None:
        return None
    if hasattr(value, "shape") and getattr(value, "shape", ()) != ():
        value = value.ravel()[0] if value.size else None
        if value is None:
            return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


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


def nwb_version(h5: h5py.File) -> str | None:
    """The NWB schema version written in the file ('2.5.0', '2.0b', 'NWB-1.0.5') or None."""
    version = _text(h5.attrs.get("nwb_version"))
    if version is None and isinstance(h5.get("nwb_version"), h5py.Dataset):
        version = _text(h5["nwb_version"][()])
    return version


def is_nwb(h5: h5py.File) -> bool:
    """Whether an open HDF5 file carries NWB markers (any schema version)."""
    return nwb_version(h5) is not None or _text(h5.attrs.get("neurodata_type")) == "NWBFile"


def check_nwb_version(path, version: str | None) -> None:
    """Refuse NWB 1.x and files without any NWB version, with what to do instead."""
    if version is None:
        raise UnsupportedFileError(
            f"{path}: is HDF5 but not NWB (no 'nwb_version' attribute at its root). For a plain HDF5 "
            "file, name the dataset: nwb_sae.read_hdf5(path, dataset) or --dataset on the command line."
        )
    if version.upper().startswith("NWB-1") or version.startswith("1."):
        raise UnsupportedFileError(
            f"{path}: is an NWB 1.x file (version {version!r}); NWB 1.x is not supported (pynwb reads "
            f"NWB 2.x only). {CONVERT_HINT}"
        )


@contextmanager
def open_nwb(path):
    """Open an NWB file with pynwb, read-only, yielding ``(io, nwbfile, version)``.

    pynwb's own warnings about the file (e.g. transposed data) are silenced here: the readers detect
    those cases themselves and say what they did.

    Raises
    ------
    UnsupportedFileError
        For anything that keeps pynwb from reading the file, with the schema version in the message.
    """
    from pynwb import NWBHDF5IO

    h5 = open_h5(path)
    remote_file = remote.is_url(path)  # stays open: pynwb reads the remote file through the same handle
    io = None
    try:
        if not remote_file:
            with h5:
                version, is_nwb_file = nwb_version(h5), is_nwb(h5)
        else:
            version, is_nwb_file = nwb_version(h5), is_nwb(h5)
        check_nwb_version(path, version if is_nwb_file else None)
        prerelease = "b" in version or "a" in version
        hint = (f"The file says NWB {version}, a pre-release schema that current pynwb cannot read. "
                f"{CONVERT_HINT}" if prerelease else
                f"The file says NWB {version}; run nwbinspector on it, or re-write it with a current pynwb. "
                f"{CONVERT_HINT}")
        with reading(path, "the NWB file with pynwb", hint), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            io = NWBHDF5IO(file=h5, mode="r") if remote_file else NWBHDF5IO(str(path), mode="r")
            nwbfile = io.read()
        yield io, nwbfile, version
    finally:
        if io is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    io.close()  # closes the remote handle too
                except Exception:  # closing a half-read file must not hide the real error
                    pass
        elif remote_file:
            h5.close()


def object_path(io, container) -> str:
    """Path of a pynwb object inside the file, e.g. ``processing/ophys/DfOverF/RoiResponseSeries``."""
    builder = io.manager.get_builder(container)
    if builder is not None:
        path = builder.path
        return path[len("root/"):] if path.startswith("root/") else path
    names = []
    while container is not None and container.parent is not None:
        names.append(container.name)
        container = container.parent
    return "/".join(reversed(names))
