"""One exception family for everything nwb-sae reports to a user.

Every message names the file, the object inside it and what to do about it, so a user never
has to read a traceback from pynwb, h5py or torch to understand what went wrong.
"""

from __future__ import annotations


class NwbSaeError(Exception):
    """Base class of every error nwb-sae raises on purpose."""


class InputDataError(NwbSaeError, ValueError):
    """The data handed in has the wrong shape, values or labels (NaN, constant neurons, ...)."""


class UnsupportedFileError(NwbSaeError):
    """The file cannot be read: not HDF5, truncated, NWB 1.x, a pre-release schema, ..."""


class ObjectNotFoundError(NwbSaeError, KeyError):
    """A named object (activity series, interval table, module) is not in the file."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class NotFittedError(NwbSaeError, ValueError, AttributeError):
    """A model was used before ``fit`` or ``load`` (an AttributeError too, as in scikit-learn)."""


class CheckpointError(NwbSaeError):
    """A checkpoint is missing, corrupt, or was saved by an incompatible model."""


class OutputExistsError(NwbSaeError, FileExistsError):
    """Writing would replace something the user did not ask to replace."""


class DamagedFileError(UnsupportedFileError):
    """The file is truncated (shorter than its header says) or its bytes are damaged."""


class FileInUseError(UnsupportedFileError):
    """Another program holds the file: locked by a writer, or still marked as being written."""


class FileAccessError(UnsupportedFileError):
    """The file cannot be opened at all: permission denied, a folder, an empty file."""


class OutputError(NwbSaeError):
    """An output cannot be written (folder not writable, read-only file system, ...); nothing was left half-written."""


class DiskFullError(OutputError):
    """Not enough free space (or quota) to write an output; the message says how much is needed and free."""
