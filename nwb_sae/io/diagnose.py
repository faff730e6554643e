"""Why a file cannot be read, named by its cause: the one place every open of a user's file goes through.

HDF5's own error text is a poor guide: a truncated file says ``truncated file: eof = X,
sblock->base_addr = Y, stored_eof = Z`` (and "sblock" contains "lock", which once made a truncated
file look locked), a damaged one says whatever internal check failed first. So the checks here read
the file's first bytes and the HDF5 superblock themselves, before h5py or numpy see the file, and
only then interpret the library's error:

* the file itself: missing, a folder, empty, permission denied (:func:`check_file`);
* HDF5: no signature (not HDF5 at all), shorter than the end-of-file address its superblock stores
  (truncated, with both sizes), marked as open for writing (a writer is running or crashed), locked
  by a writer (only for HDF5's real file-locking error), damaged (any other HDF5 failure);
* arrays (:mod:`nwb_sae.io.diagnose_arrays`): ``.npy`` / ``.npz`` / ``.nc`` by their magic bytes,
  dtypes refused by name.

Every function raises (or returns) an :class:`~nwb_sae.errors.NwbSaeError` subclass whose message
names the file, the object and what to do.
"""

from __future__ import annotations

import errno
import re
from pathlib import Path
from typing import NamedTuple

from nwb_sae.errors import DamagedFileError, FileAccessError, FileInUseError, UnsupportedFileError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
NETCDF3_MAGICS = (b"CDF\x01", b"CDF\x02", b"CDF\x05")

_HEAD_BYTES = 64
_UNDEFINED = {2**32 - 1, 2**64 - 1}  # HDF5's "undefined address" for 4- and 8-byte offsets

COPY_AGAIN = "copy or download it again from its source (or re-export it)"

# HDF5 failures that only a damaged file produces (bad checksums, signatures, versions, addresses).
_DAMAGE_MARKERS = (
    "truncated file", "checksum", "signature", "bad object header", "bad version", "bad symbol table",
    "bad heap", "b-tree", "addr overflow", "address overflow", "ring type mismatch", "corrupt",
    "can't decode", "unable to decode", "inflate", "filter returned failure", "bad local heap",
    "incorrect metadata", "can't deserialize", "file read failed", "bad flag", "bad layout",
)


class Superblock(NamedTuple):
    """Fields of an HDF5 superblock this module uses (see the HDF5 file format specification)."""

    offset: int
    """Where the signature was found (0, or after a user block of 512, 1024, 2048, ... bytes)."""
    version: int
    base: int
    """Base address: file addresses are relative to it."""
    stored_eof: int | None
    """End-of-file address the writer stored (None when undefined)."""
    flags: int
    """File consistency flags (versions 2 and 3): bit 0 open for writing, bit 2 SWMR writing."""
    length: int
    """Bytes the superblock's fixed fields take (the file must hold at least ``offset + length``)."""

    @property
    def expected_size(self) -> int | None:
        """Bytes the file must have, by its superblock."""
        return None if self.stored_eof is None else self.base + self.stored_eof


def file_size(path) -> int:
    """Size of ``path`` in bytes."""
    return Path(path).stat().st_size


def check_file(path, kind: str = "a file") -> bytes:
    """Check that ``path`` is a readable, non-empty file; return its first bytes.

    Parameters
    ----------
    path : str or Path
    kind : str
        What the file should be, for the messages (``"an NWB/HDF5 file"``, ``"a .npy file"``).

    Raises
    ------
    UnsupportedFileError
        The file does not exist.
    FileAccessError
        A folder, an empty file, or one this user may not read.
    """
    path = Path(path)
    if not path.exists():
        raise UnsupportedFileError(f"{path}: no such file.")
    if path.is_dir():
        raise FileAccessError(f"{path}: is a folder, not {kind}. Give the path of the file itself "
                              "(NWB files stored as Zarr folders are not supported).")
    try:
        with open(path, "rb") as f:
            head = f.read(_HEAD_BYTES)
    except PermissionError as err:
        raise FileAccessError(f"{path}: permission denied: this user may not read it. Make it "
                              "readable (chmod u+r), or copy it somewhere you can read.") from err
    except OSError as err:
        raise FileAccessError(f"{path}: cannot be read ({err.strerror or err}).") from err
    if not head:
        raise FileAccessError(f"{path}: is empty (0 bytes), not {kind}: the copy or the download did not "
                              f"happen or failed; {COPY_AGAIN}.")
    return head


def describe_content(head: bytes) -> str:
    """What a file's first bytes look like, for messages that say what a file is instead.

    Examples
    --------
    >>> describe_content(b"hello")
    "it starts with the text 'hello'"
    >>> describe_content(b"\\x93NUMPY\\x01\\x00")
    'it is a NumPy .npy file'
    """
    if head.startswith(HDF5_SIGNATURE):
        return "it is an HDF5 file (NWB, .h5 or netCDF-4)"
    if head.startswith(NPY_MAGIC):
        return "it is a NumPy .npy file"
    if head.startswith(ZIP_MAGICS):
        return "it is a ZIP archive (a NumPy .npz file?)"
    if head.startswith(NETCDF3_MAGICS):
        return "it is a netCDF-3 file"
    if head.startswith((b"\x80", b"PK")):
        return "it looks like a pickle or an archive"
    text = head[:40].decode("utf-8", "strict") if _is_text(head) else None
    if text is not None:
        return f"it starts with the text {text.strip()[:32]!r}"
    return f"it starts with the bytes {head[:8].hex(' ')}"


def _is_text(head: bytes) -> bool:
    try:
        decoded = head.decode("utf-8")
    except UnicodeDecodeError:
        try:  # the cut may fall inside a multi-byte character
            decoded = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    return all(c.isprintable() or c in "\r\n\t" for c in decoded)


def find_superblock(path) -> Superblock | None:
    """The HDF5 superblock of ``path``: searched at offsets 0, 512, 1024, 2048, ... (None if absent)."""
    size = file_size(path)
    with open(path, "rb") as f:
        offset = 0
        while offset + len(HDF5_SIGNATURE) <= size:
            f.seek(offset)
            block = f.read(96)
            if block.startswith(HDF5_SIGNATURE):
                return _parse_superblock(offset, block)
            offset = 512 if offset == 0 else offset * 2
    return None


def _parse_superblock(offset: int, block: bytes) -> Superblock:
    """Fields of the superblock starting at ``block`` (fields cut off by a short file become None / 0)."""
    version = block[8] if len(block) > 8 else -1
    if version in (0, 1):
        width = block[13] if len(block) > 13 else 8
        flags = _uint(block, 20, 4) or 0
        fields_at = 24 if version == 0 else 28
        # four addresses, then the root group's symbol table entry (2 addresses + 24 bytes)
        length = fields_at + 6 * width + 24
    elif version in (2, 3):
        width = block[9] if len(block) > 9 else 8
        flags = block[11] if len(block) > 11 else 0
        fields_at = 12
        length = fields_at + 4 * width + 4  # four addresses and a checksum
    else:
        return Superblock(offset, version, offset, None, 0, 9)
    if width not in (2, 4, 8):
        return Superblock(offset, version, offset, None, flags, fields_at)
    base = _uint(block, fields_at, width)
    # version 0/1: base, free-space address, end-of-file address; 2/3: base, extension, end-of-file
    eof = _uint(block, fields_at + 2 * width, width)
    if base is None or base in _UNDEFINED:
        base = offset
    eof = None if eof is None or eof in _UNDEFINED else eof
    return Superblock(offset, version, base, eof, flags, length)


def _uint(block: bytes, at: int, width: int) -> int | None:
    if at + width > len(block):
        return None
    return int.from_bytes(block[at : at + width], "little")


def check_hdf5_file(path, kind: str = "an NWB/HDF5 file") -> Superblock:
    """Before h5py opens ``path``: readable, HDF5 at all, not truncated. Returns the superblock.

    Raises
    ------
    FileAccessError, UnsupportedFileError, DamagedFileError
        See :func:`check_file`; not HDF5 (naming what the file is instead); truncated, with the size
        the file has and the size its superblock says.
    """
    head = check_file(path, kind)
    superblock = find_superblock(path)
    actual = file_size(path)
    if superblock is None and len(head) < len(HDF5_SIGNATURE) and HDF5_SIGNATURE.startswith(head):
        raise truncated_error(path, None, actual, "it starts like an HDF5 file, then ends")
    if superblock is None:
        raise UnsupportedFileError(
            f"{path}: is not an HDF5 file ({describe_content(head)}), so not an NWB file nwb-sae can read "
            "(NWB files are HDF5). Arrays can be given as .npy, .npz or .nc instead."
        )
    expected = superblock.expected_size
    if expected is not None and actual < expected:
        raise truncated_error(path, expected, actual)
    if actual < superblock.offset + superblock.length:
        raise truncated_error(path, expected, actual, "it ends inside its HDF5 superblock")
    return superblock


def truncated_error(path, expected: int | None, actual: int, what: str = "its HDF5 superblock") -> DamagedFileError:
    """The error for a file shorter than its header says (``expected`` None: the header is cut too).

    Examples
    --------
    >>> print(truncated_error("a.nwb", 2_000_000, 1_000_000))   # doctest: +ELLIPSIS
    a.nwb: is truncated: the file has 1,000,000 bytes but its HDF5 superblock says 2,000,000 (50.0 % ...
    """
    if expected is None:
        said = f"the file has {actual:,} bytes: {what}"
    else:
        share = 100 * actual / expected
        said = (f"the file has {actual:,} bytes but {what} says {expected:,} "
                f"({f'{share:.1f} %' if share >= 0.1 else 'less than 0.1 %'} of it)")
    return DamagedFileError(
        f"{path}: is truncated: {said}. The copy or the download did not finish, or the program writing it "
        f"stopped; {COPY_AGAIN}."
    )


def _message(err: BaseException) -> str:
    """``str(err)``, without the quotes KeyError puts around its message."""
    if isinstance(err, KeyError) and len(err.args) == 1:
        return str(err.args[0])
    return str(err)


def _error_text(err: BaseException) -> str:
    """The messages of ``err`` and of the exceptions it was raised from (``raise ... from``), joined."""
    parts, seen = [], set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        parts.append(_message(err))
        err = err.__cause__
    return " | ".join(parts)


def hdf5_open_error(path, err: BaseException, kind: str = "an NWB/HDF5 file") -> UnsupportedFileError:
    """The error to raise when h5py could not open ``path`` (it raised ``err``), named by its cause.

    Causes, in this order: HDF5's file lock held by a writer (only HDF5's "unable to lock file" or
    ``EAGAIN``), permission denied, not HDF5, truncated (by the superblock, else by HDF5's
    ``truncated file: eof = X, ..., stored_eof = Z``), marked as open for writing, and otherwise damaged.

    Examples
    --------
    >>> try:                                               # doctest: +SKIP
    ...     h5py.File(path, "r")
    ... except OSError as err:
    ...     raise hdf5_open_error(path, err) from err
    """
    path = Path(path)
    text = _error_text(err)
    low = text.lower()
    code = getattr(err, "errno", None)
    if "unable to lock file" in low or code in (errno.EAGAIN, errno.EWOULDBLOCK):
        return FileInUseError(
            f"{path}: is locked by another program that has it open for writing (HDF5 file lock). Close "
            "that program (or the pynwb/h5py handle) and try again; on a network file system where locks "
            "are not supported, set HDF5_USE_FILE_LOCKING=FALSE."
        )
    try:
        superblock = check_hdf5_file(path, kind)
    except UnsupportedFileError as diagnosed:
        return diagnosed
    except OSError:
        superblock = None
    if code == errno.EACCES or "permission denied" in low:
        return FileAccessError(f"{path}: permission denied: this user may not read it. Make it "
                               "readable (chmod u+r), or copy it somewhere you can read.")
    reported = re.search(r"truncated file: eof = (\d+), sblock->base_addr = (\d+), stored_eof = (\d+)", text)
    if reported:
        actual, base, stored = (int(v) for v in reported.groups())
        return truncated_error(path, base + stored, actual + base, "its HDF5 header")
    # only superblock versions 2 and 3 carry these flags; in 0 and 1 the field is unused
    flags = superblock.flags if superblock is not None and superblock.version >= 2 else 0
    if "already open for write" in low or flags & 0b101:
        swmr = " (in SWMR mode)" if flags & 0b100 else ""
        return FileInUseError(
            f"{path}: is marked as being written{swmr}: a program still has it open for writing, or "
            "stopped before closing it. Wait until the writer has finished and closed the file, then try "
            "again; if the writer crashed, the file may be incomplete: re-create it, or clear the mark "
            "on a copy with `h5clear -s COPY` and check what it holds."
        )
    return damaged_error(path, "the file's HDF5 structure", text)


def damaged_error(path, what: str, detail: str) -> DamagedFileError:
    """The error for a file whose bytes HDF5 cannot make sense of."""
    detail = " ".join(detail.split())
    if len(detail) > 300:
        detail = detail[:297] + "..."
    return DamagedFileError(
        f"{path}: is damaged: HDF5 cannot read {what} ({detail}). Its bytes were changed after it was "
        f"written (an interrupted or faulty copy, a failing disk); {COPY_AGAIN}."
    )


def looks_damaged(err: BaseException) -> bool:
    """Whether an exception raised while reading HDF5 is one only a damaged file produces."""
    low = _error_text(err).lower()
    return any(marker in low for marker in _DAMAGE_MARKERS)


def find_damaged_object(h5, limit: int = 100_000) -> tuple[str, str] | None:
    """The first object of an open h5py file whose header, links or first element HDF5 cannot read.

    Walks the whole tree reading metadata only (names, attribute names, dtypes, shapes) and the first
    element of each dataset, so it is quick on the files nwb-sae reads; it runs only after a read failed.

    Returns
    -------
    (str, str) or None
        The object's path and HDF5's message, or None when everything could be read.
    """
    import h5py

    stack, seen = ["/"], set()
    while stack and len(seen) < limit:
        name = stack.pop()
        try:
            obj = h5[name]
            address = h5py.h5o.get_info(obj.id).addr
            if address in seen:
                continue
            seen.add(address)
            list(obj.attrs)
            if isinstance(obj, h5py.Group):
                for key in obj:
                    if isinstance(obj.get(key, getlink=True), h5py.HardLink):
                        stack.append(f"{name.rstrip('/')}/{key}")
            elif isinstance(obj, h5py.Dataset) and obj.shape and obj.size:
                obj[(0,) * len(obj.shape)]
        except (TypeError, ValueError, NotImplementedError):
            continue  # a type h5py cannot map to numpy: unusual, not damaged
        except Exception as err:  # HDF5's own errors (OSError, KeyError, RuntimeError): damage
            return name, _message(err)
    return None


def damage_in(path) -> DamagedFileError | None:
    """A :class:`DamagedFileError` naming the first damaged object of the local HDF5 file ``path``, or None."""
    import h5py

    if not Path(path).is_file():  # a URL or a file-like object: streamed, not checked here
        return None
    try:
        with h5py.File(path, "r") as h5:
            found = find_damaged_object(h5)
    except Exception as err:  # the file no longer opens at all
        return damaged_error(path, "the file's HDF5 structure", _error_text(err))
    if found is None:
        return None
    return damaged_error(path, f"the object {found[0]!r}", found[1])


def hdf5_read_error(path, what: str, err: BaseException, hint: str = "") -> UnsupportedFileError:
    """The error to raise when reading ``what`` from an open HDF5 file failed with ``err``.

    A file that has become truncated, or whose bytes HDF5 rejects, is reported as damaged, naming the
    first object that cannot be read; anything else as "could not read" with the library's message and
    ``hint``.
    """
    local = Path(path).is_file()  # a URL (streamed) gets no file checks
    try:
        if local:
            check_hdf5_file(path)
    except UnsupportedFileError as diagnosed:
        return diagnosed
    except OSError:
        pass
    damage = damage_in(path)
    if damage is None and looks_damaged(err):
        damage = damaged_error(path, what, _error_text(err))
    if damage is not None:
        return damage
    message = f"{path}: could not read {what} ({type(err).__name__}: {err})."
    return UnsupportedFileError(f"{message} {hint}".strip())
