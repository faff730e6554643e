"""Writing a file so that it is either the old one or the complete new one, never half of each.

:func:`staged_file` gives a temporary byte copy of the source *in the destination's folder* (same
filesystem, so the final rename is atomic); a remote source (a URL) is downloaded into it. Everything is
written and checked there; only then is the copy flushed to disk and ``os.replace``-d onto the
destination. The source is only ever read.

What that guarantees:

- a process killed at any moment (SIGKILL included) leaves the destination as it was: byte-identical
  when it existed, absent when it did not. At most a hidden ``.<name>.nwb-sae-<pid>-<tag>.tmp<suffix>`` file is
  left next to it, which the next write to that destination removes (its process is gone);
- an exception removes the temporary file and leaves the destination untouched;
- after success, the destination is the new file, fsync-ed together with its folder entry.

:func:`atomic_write` is the same mechanism for files written from scratch (checkpoints, JSON, netCDF):
every file nwb-sae writes goes through :func:`staged_file`.

Stages, and the test hook
-------------------------
A write passes named stages (:data:`STAGES`); :func:`stage` logs each one. So that tests can stop a
writer at an exact stage (and SIGKILL it there) without timing anything, a process started with the
environment variables ``NWB_SAE_PAUSE_AT=<stage>`` and ``NWB_SAE_PAUSE_FIFO=<path of a FIFO>`` writes
the stage's name and a newline into the FIFO when it reaches that stage, then stops itself (SIGSTOP)
until it is killed or continued (SIGCONT; send it once the process has stopped, e.g. after
``os.waitpid(pid, os.WUNTRACED)``, or it is lost). Nothing happens when the variables are unset.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import signal
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nwb_sae.errors import DiskFullError, NwbSaeError, OutputError
from nwb_sae.io import remote

log = logging.getLogger(__name__)

_TEMP = re.compile(r"^\.(?P<name>.+)\.nwb-sae-(?P<pid>\d+)-[0-9a-f]+\.tmp(?P<suffix>\.[^.]*)?$")

PAUSE_AT = "NWB_SAE_PAUSE_AT"
"""Environment variable: the stage at which to pause (test hook, see the module docstring)."""
PAUSE_FIFO = "NWB_SAE_PAUSE_FIFO"
"""Environment variable: the FIFO into which the paused stage's name is written."""

STAGES = ("copying", "copied", "removing old module", "writing codes", "encoded block <i>", "writing tables",
          "validating", "flushing", "renaming", "replaced")
"""The stages of a results write, in order (``encoded block 0``, ``encoded block 1``, ... while the
codes stream; ``removing old module`` only when replacing earlier results; ``copying``, ``copied``,
``flushing``, ``renaming`` and ``replaced`` for every :func:`staged_file`). Up to ``renaming`` the
destination is untouched; from ``replaced`` on it is the complete new file."""


def stage(name: str) -> None:
    """Mark that a write reached stage ``name``: log it, and pause there when a test asks to.

    Examples
    --------
    >>> stage("copying")        # nothing visible unless NWB_SAE_PAUSE_AT=copying is set
    """
    log.info("stage: %s", name)
    if os.environ.get(PAUSE_AT) != name or not os.environ.get(PAUSE_FIFO):
        return
    with open(os.environ[PAUSE_FIFO], "w") as fifo:  # a FIFO: blocks until the test listens
        fifo.write(name + "\n")
    os.kill(os.getpid(), signal.SIGSTOP)  # until SIGCONT (go on) or SIGKILL (the test's kill)


def temp_path(dest: Path) -> Path:
    """A fresh hidden temporary name next to ``dest``, tagged with this process id."""
    # the destination's suffix comes last, so that writers that look at it (pynwb, xarray) are content
    return dest.with_name(f".{dest.name}.nwb-sae-{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{dest.suffix}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temps(dest: Path) -> list[Path]:
    """Remove temporary files of earlier writes to ``dest`` whose process no longer runs.

    Returns
    -------
    list of Path
        The files removed.
    """
    removed = []
    folder = dest.parent
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        match = _TEMP.match(entry.name)
        if match and match["name"] == dest.name and not _alive(int(match["pid"])):
            try:
                entry.unlink()
                removed.append(entry)
                log.info("removed %s, left by an interrupted write", entry)
            except OSError:
                pass
    return removed


def format_bytes(n: float) -> str:
    """A byte count for people: ``"1.5 MB"``, ``"820 kB"``, ``"3.20 GB"`` (decimal units, as ``df -H``).

    Examples
    --------
    >>> format_bytes(1_500_000), format_bytes(820_000), format_bytes(12)
    ('1.5 MB', '820 kB', '12 B')
    """
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            value = n / size
            return f"{value:.2f} {unit}" if unit in ("TB", "GB") else f"{value:.3g} {unit}"
    return f"{int(n)} B"


def not_enough_space(folder, needed: float, free: float, shown_as, during: bool = False) -> DiskFullError:
    """The one message for a full disk: ``not enough space in DIR (needs ~X, Y free)``.

    ``during``: the write itself ran out of space, so ``needed`` is a lower bound.
    """
    when, about = ("the write ran out of space; ", "more than ") if during else ("", "~")
    return DiskFullError(
        f"{shown_as}: {when}not enough space in {folder} (needs {about}{format_bytes(needed)}, {format_bytes(free)} "
        f"free); {Path(shown_as).name} is unchanged. Free some space or write the output to "
        "another folder.")


def check_space(folder: Path, needed: int, shown_as) -> None:
    """Raise :class:`~nwb_sae.errors.DiskFullError` when ``folder`` has less than ``needed`` bytes free."""
    if needed <= 0:
        return
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise not_enough_space(folder, needed, free, shown_as)


def _fsync_path(path: Path, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on folders
        pass
    finally:
        os.close(fd)


def _size(source) -> int:
    """Bytes of the file to start from (0 for none; a URL's as the server reports it)."""
    if source is None:
        return 0
    return remote.remote_size(source) if remote.is_url(source) else Path(source).stat().st_size


@contextmanager
def staged_file(source, dest, *, extra_bytes: int = 0, keep_mode_of=None) -> Iterator[Path]:
    """Yield a temporary copy of ``source`` next to ``dest``; on success it atomically becomes ``dest``.

    Parameters
    ----------
    source : path, URL or None
        The file to start from (read only); None starts from no file (the caller creates it). A URL
        (:mod:`nwb_sae.io.remote`) is downloaded into the temporary file instead of copied.
    dest : path
        Where the result goes; may be ``source`` itself (in-place write).
    extra_bytes : int
        Expected growth of the file, for the free-space check.
    keep_mode_of : path, optional
        Give the result the permission bits of this file (the original, for in-place writes).

    Yields
    ------
    Path
        The temporary file, to write into. Leaving the block normally replaces ``dest`` with it;
        leaving it with an exception (KeyboardInterrupt included) removes it.
    """
    dest = Path(dest)
    remove_stale_temps(dest)
    needed = _size(source) + extra_bytes
    check_space(dest.parent, needed, dest)
    tmp = temp_path(dest)
    committed = False
    try:
        try:
            if source is not None:
                stage("copying")
                log.info("copying %s to %s", source, tmp)
                if remote.is_url(source):
                    remote.download(source, tmp)
                else:
                    shutil.copyfile(source, tmp)
            stage("copied")
            yield tmp
            if keep_mode_of is not None:
                shutil.copymode(keep_mode_of, tmp)
            stage("flushing")
            _fsync_path(tmp)
            stage("renaming")
            os.replace(tmp, dest)
            committed = True
        except NwbSaeError:
            raise
        except Exception as err:  # noqa: BLE001 -- only re-raised as ours when it is a full disk / no access
            friendly = _write_failure(err, dest, tmp, needed)
            if friendly is None:
                raise
            raise friendly from err
        stage("replaced")
        _fsync_path(dest.parent, directory=True)
    finally:
        if not committed:
            _remove(tmp)


def _remove(tmp: Path) -> None:
    try:
        tmp.unlink()
        log.info("removed %s", tmp)
    except FileNotFoundError:
        pass


def atomic_write(target, write, expected_bytes: int = 0) -> Path:
    """Call ``write(tmp_path)`` to create a file next to ``target``, then rename it onto ``target``.

    The target is never half-written: it is either the old file or the complete new one (see
    :func:`staged_file`). Missing parent folders are created.

    Parameters
    ----------
    target : path
        The file to write.
    write : callable
        ``write(path: str)`` creates the file at ``path`` (e.g. ``lambda p: Path(p).write_text(text)``).
    expected_bytes : int
        About how large the file will be: when the folder has less free space, nothing is written and
        :class:`~nwb_sae.errors.DiskFullError` says so (0: no check before writing; a full disk during
        the write is reported the same way).

    Returns
    -------
    Path
        ``target``.

    Raises
    ------
    DiskFullError
        Not enough space, before or during the write (the temporary file is removed).
    OutputError
        The folder cannot be written (permissions, read-only file system).

    Examples
    --------
    >>> atomic_write(tmp_path / "a.txt", lambda p: Path(p).write_text("hello"))   # doctest: +SKIP
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        friendly = _write_failure(err, target, None, expected_bytes)
        if friendly is None:
            raise
        raise friendly from err
    with staged_file(None, target, extra_bytes=expected_bytes) as tmp:
        write(str(tmp))
    return target


FULL_ERRNOS = frozenset(code for code in (errno.ENOSPC, getattr(errno, "EDQUOT", None)) if code is not None)
"""errno values of a full disk or an exhausted quota."""
_FULL_TEXTS = ("no space left", "disk quota", "errno = 28", "errno = 122")
LOW_SPACE_BYTES = 1 << 20
"""After a failed write, a folder with less free space than this is taken to be full: some libraries
(netCDF: ``RuntimeError: NetCDF: HDF error``) hide ENOSPC behind a generic error."""


def _chain(err: BaseException) -> Iterator[BaseException]:
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def is_disk_full(err: BaseException) -> bool:
    """Whether ``err`` (or an error it was raised from) is ENOSPC / EDQUOT, by errno or by its text."""
    for e in _chain(err):
        if isinstance(e, OSError) and e.errno in FULL_ERRNOS:
            return True
        if any(text in str(e).lower() for text in _FULL_TEXTS):
            return True
    return False


def _write_failure(err: BaseException, dest: Path, tmp: Path | None, needed: int) -> NwbSaeError | None:
    """Our error for a failed write (full disk, no permission), or None to let ``err`` through.

    Runs before the temporary file is removed, so that a full disk is still seen as full when the
    library's error does not say so; the free space reported is the one after removing it.
    """
    folder = dest.parent
    written = tmp.stat().st_size if tmp is not None and tmp.exists() else 0
    try:
        free_at_failure = shutil.disk_usage(folder).free
    except OSError:
        free_at_failure = None
    full = is_disk_full(err) or (free_at_failure is not None and free_at_failure < LOW_SPACE_BYTES)
    if full:
        if tmp is not None:
            _remove(tmp)
        free = shutil.disk_usage(folder).free if free_at_failure is not None else 0
        if needed > written:  # the estimate is better than what was written when it failed
            return not_enough_space(folder, needed, free, dest)
        return not_enough_space(folder, max(written, free), free, dest, during=True)
    if isinstance(err, OSError) and err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return OutputError(f"{dest}: cannot write in {folder} ({err.strerror}); {dest.name} is unchanged. "
                           "Write the output to another folder.")
    return None
