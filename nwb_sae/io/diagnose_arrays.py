"""Why an array file (``.npy``, ``.npz``, ``.nc``) or an in-memory array cannot be used, named by its cause.

The checks read a file's magic bytes and its array headers before numpy or xarray load anything, so:
a text file named ``.npy`` is "not a .npy file" (numpy would call it pickled data), a header that
declares more data than the file holds is "truncated" (and nothing is allocated for it), and
pickled objects, complex numbers, text, records and dates are refused by name (numpy would load
complex values and the conversion to float would drop the imaginary part silently).
"""

from __future__ import annotations

import math
import os
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from nwb_sae.errors import DamagedFileError, InputDataError, UnsupportedFileError
from nwb_sae.io.diagnose import (
    COPY_AGAIN,
    HDF5_SIGNATURE,
    NETCDF3_MAGICS,
    NPY_MAGIC,
    ZIP_MAGICS,
    check_file,
    check_hdf5_file,
    damage_in,
    describe_content,
    truncated_error,
)

ARRAY_SUFFIXES = {".npy": "a .npy file", ".npz": "a .npz file", ".nc": "a netCDF file",
                  ".netcdf": "a netCDF file", ".cdf": "a netCDF file"}

_SAVE_HINT = "Save the activity as a real-valued numeric array, e.g. np.save(path, x.astype('float32'))."


def check_numeric_dtype(dtype, source, what: str = "the array") -> None:
    """Refuse, by name, every dtype that is not real numbers (floats, integers, booleans).

    Parameters
    ----------
    dtype : numpy.dtype
    source : str
        The file (or "array") for the message.
    what : str
        The object inside it, e.g. ``"array 'data'"``.

    Raises
    ------
    InputDataError
        Complex numbers, Python objects, text, records (structured dtypes), dates or durations.

    Examples
    --------
    >>> check_numeric_dtype(np.dtype("float32"), "rec.npy")
    >>> check_numeric_dtype(np.dtype("complex64"), "rec.npy")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nwb_sae.errors.InputDataError: rec.npy: the array holds complex numbers (complex64); ...
    """
    dtype = np.dtype(dtype)
    if dtype.kind in "fiub":
        return
    if dtype.kind == "c":
        reason = (f"holds complex numbers ({dtype}); nwb-sae needs real-valued activity and does not drop "
                  "the imaginary part silently. Save the part you mean as a real array, e.g. np.abs(x) "
                  "(amplitude) or x.real.")
    elif dtype.kind == "O":
        reason = ("holds Python objects (dtype object), which would have to be unpickled; nwb-sae never "
                  f"unpickles a file (unpickling can run code). {_SAVE_HINT}")
    elif dtype.kind in "US":
        reason = f"holds text ({dtype}), not numbers. {_SAVE_HINT}"
    elif dtype.names:
        reason = (f"holds records with the fields {list(dtype.names)} (a structured dtype), not one numeric "
                  "array. Save the field that holds the activity, e.g. np.save(path, x['dff']).")
    elif dtype.kind in "Mm":
        reason = f"holds dates or durations ({dtype}), not activity values. {_SAVE_HINT}"
    else:
        reason = f"holds {dtype}, not numbers. {_SAVE_HINT}"
    raise InputDataError(f"{source}: {what} {reason}")


def check_fits_in_memory(nbytes: int, source, what: str) -> None:
    """Refuse to load ``nbytes`` that exceed this machine's physical memory (before allocating them).

    Examples
    --------
    >>> check_fits_in_memory(1024, "rec.h5", "dataset /d")
    """
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system: let the allocation decide
        return
    if nbytes > total:
        raise InputDataError(
            f"{source}: {what} needs {nbytes / 2**30:,.3g} GiB, more than this machine's memory "
            f"({total / 2**30:,.3g} GiB). Read a part of it (select neurons or presentations, or split the "
            "file), or store it as NWB, whose series nwb-sae reads in blocks."
        )


def _check_npy_stream(f, path, size: int | None, what: str) -> None:
    """Check the header of the ``.npy`` data at the current position of ``f`` (``size``: bytes from there)."""
    head = f.read(len(NPY_MAGIC))
    subject = "is" if what == "the array" else f"{what} is"
    if head != NPY_MAGIC and NPY_MAGIC.startswith(head):
        raise truncated_error(path, None, len(head), "it starts like a .npy array, then ends")
    if head != NPY_MAGIC:
        raise UnsupportedFileError(
            f"{path}: {subject} not a .npy array ({describe_content(head)}; a .npy file starts with "
            "'\\x93NUMPY'). Save arrays with numpy.save, or give the file the suffix of what it is "
            "(.nwb/.h5 for HDF5, .npz, .nc)."
        )
    f.seek(-len(NPY_MAGIC), 1)
    start = f.tell()
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:  # 3.0 (UTF-8 field names) has no public reader: np.load checks it
            return
    except (ValueError, EOFError, OSError) as err:
        raise DamagedFileError(f"{path}: {what} has a damaged .npy header ({err}); {COPY_AGAIN}.") from err
    check_numeric_dtype(dtype, path, what)
    needed = math.prod(shape) * dtype.itemsize
    if size is not None:
        available = size - (f.tell() - start)
        if available < needed:
            raise truncated_error(path, size + needed - available, size,
                                  f"the .npy header of {what} (shape {shape}, {dtype})")


def check_npy_file(path) -> None:
    """A ``.npy`` file: NumPy's magic, a readable header, a numeric dtype, all its data present."""
    check_file(path, "a .npy file")
    with open(path, "rb") as f:
        _check_npy_stream(f, path, Path(path).stat().st_size, "the array")


def npz_members(path) -> list[str]:
    """Names of the arrays of a ``.npz`` file, after checking each member's header.

    Raises
    ------
    UnsupportedFileError, DamagedFileError, InputDataError
        Not a ZIP archive; truncated or damaged archive; a member that is not a numeric array.
    """
    head = check_file(path, "a .npz file")
    if not head.startswith(ZIP_MAGICS):
        raise UnsupportedFileError(
            f"{path}: is not a .npz file ({describe_content(head)}; a .npz file is a ZIP archive of .npy "
            "arrays). Save arrays with numpy.savez, or give the file the suffix of what it is."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            names = []
            for info in archive.infolist():
                key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                with archive.open(info) as member:
                    _check_npy_stream(member, path, info.file_size, f"array {key!r}")
                names.append(key)
    except zipfile.BadZipFile as err:
        raise DamagedFileError(f"{path}: is truncated or damaged: the ZIP archive cannot be read ({err}); "
                               f"{COPY_AGAIN}.") from err
    return names


def check_netcdf_file(path) -> None:
    """A netCDF file: netCDF-3 magic, or HDF5 (netCDF-4) that is not truncated."""
    head = check_file(path, "a netCDF file")
    if head.startswith(HDF5_SIGNATURE):
        check_hdf5_file(path, "a netCDF file")
    elif head.startswith(NETCDF3_MAGICS):
        _check_netcdf3(path)
    else:
        raise UnsupportedFileError(
            f"{path}: is not a netCDF file ({describe_content(head)}). Write arrays with "
            "xarray's DataArray.to_netcdf, or give the file the suffix of what it is (.npy, .npz, .nwb)."
        )


def _check_netcdf3(path) -> None:
    """A netCDF-3 file whose variables all fit in it (the netCDF library reads a cut file as zeros)."""
    from scipy.io import netcdf_file

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # closing while its memory map is referenced: nothing leaks
            opened = netcdf_file(path, mmap=True)
            opened.variables.clear()
            opened.close()
    except Exception as err:  # scipy maps each variable onto the file: a cut file fails here
        raise DamagedFileError(f"{path}: is truncated or damaged: its netCDF-3 header describes data the "
                               f"file does not hold ({err}); {COPY_AGAIN}.") from err


def check_array_file(path) -> None:
    """Check an array file by its suffix before anything loads it; see the module docstring."""
    suffix = Path(path).suffix.lower()
    if suffix == ".npy":
        check_npy_file(path)
    elif suffix == ".npz":
        npz_members(path)
    elif suffix in ARRAY_SUFFIXES:
        check_netcdf_file(path)


def array_read_error(path, err: BaseException) -> UnsupportedFileError:
    """The error to raise when numpy or xarray failed to read an array file that passed the checks."""
    path = Path(path)
    if isinstance(err, zipfile.BadZipFile | zlib.error | EOFError):
        return DamagedFileError(f"{path}: is damaged: the data of an array cannot be unpacked ({err}); "
                                f"{COPY_AGAIN}.")
    if isinstance(err, MemoryError):
        return UnsupportedFileError(f"{path}: the array is too large to load into this machine's memory "
                                    f"({err}). Cut it into smaller files, or store it as NWB/HDF5.")
    if path.suffix.lower() in (".nc", ".netcdf", ".cdf"):
        with open(path, "rb") as f:
            hdf5 = f.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE
        damage = damage_in(path) if hdf5 else None
        if damage is not None:
            return damage
    kind = ARRAY_SUFFIXES.get(path.suffix.lower(), path.suffix)
    return UnsupportedFileError(f"{path}: cannot be read as {kind} ({type(err).__name__}: {err}).")
