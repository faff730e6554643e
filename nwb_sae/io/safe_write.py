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

from nwb_sae.errors import NwbSaeError
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


def check_space(folder: Path, needed: int, shown_as) -> None:
    """Raise NwbSaeError when ``folder`` has less than ``needed`` bytes free."""
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise NwbSaeError(
            f"{shown_as}: writing needs about {needed / 1e9:.2f} GB in {folder}, only {free / 1e9:.2f} GB are "
            "free. Free some space or write the results elsewhere (--nwb_out)."
        )


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
    check_space(dest.parent, _size(source) + extra_bytes, dest)
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
        except OSError as err:
            friendly = _os_error(err, dest)
            if friendly is err:
                raise
            raise friendly from err
        if keep_mode_of is not None:
            shutil.copymode(keep_mode_of, tmp)
        stage("flushing")
        _fsync_path(tmp)
        stage("renaming")
        os.replace(tmp, dest)
        committed = True
        stage("replaced")
        _fsync_path(dest.parent, directory=True)
    finally:
        if not committed:
            try:
                tmp.unlink()
                log.info("removed %s", tmp)
            except FileNotFoundError:
                pass


def atomic_write(target, write) -> Path:
    """Call ``write(tmp_path)`` to create a file next to ``target``, then rename it onto ``target``.

    The target is never half-written: it is either the old file or the complete new one (see
    :func:`staged_file`). Missing parent folders are created.

    Parameters
    ----------
    target : path
        The file to write.
    write : callable
        ``write(path: str)`` creates the file at ``path`` (e.g. ``lambda p: Path(p).write_text(text)``).

    Returns
    -------
    Path
        ``target``.

    Examples
    --------
    >>> atomic_write(tmp_path / "a.txt", lambda p: Path(p).write_text("hello"))   # doctest: +SKIP
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with staged_file(None, target) as tmp:
        write(str(tmp))
    return target


def _os_error(err: OSError, dest: Path) -> Exception:
    if isinstance(err, NwbSaeError):
        return err
    if err.errno == errno.ENOSPC or "No space left" in str(err) or "errno = 28" in str(err):
        return NwbSaeError(f"{dest}: no space left on the device while writing; {dest} is unchanged. "
                           "Free some space or write the results elsewhere (--nwb_out).")
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return NwbSaeError(f"{dest}: cannot write in {dest.parent} ({err.strerror}); {dest} is unchanged. "
                           "Write the results elsewhere (--nwb_out).")
    return err
