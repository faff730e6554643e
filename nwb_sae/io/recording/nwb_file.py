"""Opening NWB files safely: every h5py / pynwb failure becomes an :class:`NwbSaeError`.

Checks run with plain h5py (:func:`nwb_sae.io.h5.open_h5`) before pynwb sees the file, so that the
common failures (not HDF5, truncated, locked by a writer, NWB 1.x, plain HDF5 without NWB markers) get
a specific message instead of whatever pynwb happens to raise.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager

import h5py

from nwb_sae.errors import ObjectNotFoundError, UnsupportedFileError
from nwb_sae.io import remote
from nwb_sae.io.diagnose import damage_in
from nwb_sae.io.h5 import open_h5, reading
from nwb_sae.io.text import first_str

CONVERT_HINT = (
    "Re-export it as NWB 2.x with a current writer (pynwb, MatNWB, NeuroConv; for Allen Brain "
    "Observatory files the AllenSDK), or save the traces as .npy / plain HDF5 and read them with "
    "nwb_sae.read_hdf5."
)


def nwb_version(h5: h5py.File) -> str | None:
    """The NWB schema version written in the file ('2.5.0', '2.0b', 'NWB-1.0.5') or None."""
    version = first_str(h5.attrs.get("nwb_version"))
    if version is None and isinstance(h5.get("nwb_version"), h5py.Dataset):
        version = first_str(h5["nwb_version"][()])
    return version


def is_nwb(h5: h5py.File) -> bool:
    """Whether an open HDF5 file carries NWB markers (any schema version)."""
    return nwb_version(h5) is not None or first_str(h5.attrs.get("neurodata_type")) == "NWBFile"


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
    those cases themselves and say what they did. A URL (:mod:`nwb_sae.io.remote`) is read through the
    remfile-backed handle of :func:`~nwb_sae.io.h5.open_h5`, kept open for pynwb.

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
        version = nwb_version(h5) if is_nwb(h5) else None
        if not remote_file:
            h5.close()  # pynwb opens a local file itself
        check_nwb_version(path, version)
        prerelease = "b" in version or "a" in version
        hint = (f"The file says NWB {version}, a pre-release schema that current pynwb cannot read. "
                f"{CONVERT_HINT}" if prerelease else
                f"The file says NWB {version}; it may be damaged, or its writer did not follow the schema: run "
                "nwbinspector on it, or re-write it with a current pynwb. "
                f"{CONVERT_HINT}")
        with reading(path, "the NWB file with pynwb", hint), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            io = NWBHDF5IO(file=h5, mode="r") if remote_file else NWBHDF5IO(str(path), mode="r")
            nwbfile = io.read()
        try:
            yield io, nwbfile, version
        except ObjectNotFoundError as err:  # pynwb skips objects it cannot read: missing may mean damaged
            damage = damage_in(path)
            if damage is None:
                raise
            raise damage from err
    finally:
        if io is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    io.close()  # closes the remote handle too
                except Exception:  # closing a half-read file must not hide the real error
                    pass
        else:
            h5.close()  # no-op when already closed


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
