"""Writing a file so that it is either the old one or the complete new one, never half of each.

:func:`staged_file` gives a temporary byte copy of the source *in the destination's folder* (same
filesystem, so the final rename is atomic). Everything is written and checked there; only then is the
copy flushed to disk and ``os.replace``-d onto the destination. The source is only ever read.

What that guarantees:

- a process killed at any moment (SIGKILL included) leaves the destination as it was: byte-identical
  when it existed, absent when it did not. At most a hidden ``.<name>.nwb-sae-<pid>-<tag>.tmp`` file is
  left next to it, which the next write to that destination removes (its process is gone);
- an exception removes the temporary file and leaves the destination untouched;
- after success, the destination is the new file, fsync-ed together with its folder entry.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nwb_sae.errors import NwbSaeError

log = logging.getLogger(__name__)

_TEMP = re.compile(r"^\.(?P<name>.+)\.nwb-sae-(?P<pid>\d+)-[0-9a-f]+\.tmp$")


def temp_path(dest: Path) -> Path:
    """A fresh hidden temporary name next to ``dest``, tagged with this process id."""
    return dest.with_name(f".{dest.name}.nwb-sae-{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")


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


@contextmanager
def staged_file(source, dest, *, extra_bytes: int = 0, keep_mode_of=None) -> Iterator[Path]:
    """Yield a temporary copy of ``source`` next to ``dest``; on success it atomically becomes ``dest``.

    Parameters
    ----------
    source : path or URL
        The file to start from (read only). A URL (:mod:`nwb_sae.io.remote`) is downloaded into the
        temporary file instead of copied.
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
    from nwb_sae.io import remote

    source, dest = remote.path_or_url(source), Path(dest)
    remove_stale_temps(dest)
    size = remote.remote_size(source) if remote.is_url(source) else source.stat().st_size
    check_space(dest.parent, size + extra_bytes, dest)
    tmp = temp_path(dest)
    committed = False
    try:
        log.info("copying %s to %s", source, tmp)
        try:
            if remote.is_url(source):
                remote.download(source, tmp)
            else:
                shutil.copyfile(source, tmp)
            log.info("copied; writing into %s", tmp)
            yield tmp
        except OSError as err:
            friendly = _os_error(err, dest)
            if friendly is err:
                raise
            raise friendly from err
        if keep_mode_of is not None:
            shutil.copymode(keep_mode_of, tmp)
        log.info("flushing %s", tmp)
        _fsync_path(tmp)
        log.info("replacing %s", dest)
        os.replace(tmp, dest)
        committed = True
        _fsync_path(dest.parent, directory=True)
        log.info("replaced %s", dest)
    finally:
        if not committed:
            try:
                tmp.unlink()
                log.info("removed %s", tmp)
            except FileNotFoundError:
                pass


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
