"""NWB files over HTTP(S) and from DANDI, read in place through ``remfile``.

Every reader accepts, wherever it takes a file path, an ``http(s)://`` URL or a DANDI address
``dandi://DANDISET_ID/path/in/dandiset.nwb`` (``dandi://000409@0.230731.1952/sub-X/sub-X.nwb`` for a
published version; without one, the most recent published version, else the draft). Why remfile: it
reads only the byte ranges h5py asks for (HTTP ``Range`` requests), so opening a large remote file and
reading one series costs that series, not the file; pynwb documents it next to fsspec and ros3, and on
DANDI it opens files several times faster than ros3.

Chunks read are kept on disk when a cache folder is set (:func:`set_cache_dir` or the environment variable
``NWB_SAE_CACHE_DIR``), so that reading the same file again -- a second epoch, a second run, another dask
worker on the same machine -- does not download it again. The cache is never pruned; delete the folder to
free the space.

Files are opened through :func:`nwb_sae.io.h5.open_h5`, which hands URLs to :func:`open_url`.
Writing results needs a local file: a remote source is downloaded into the output's staging file (see
:mod:`nwb_sae.io.safe_write`) and the results are appended there.
"""

from __future__ import annotations

import functools
import os
import urllib.parse
from pathlib import Path, PurePosixPath

from nwb_sae.errors import ObjectNotFoundError, UnsupportedFileError

__all__ = ["is_url", "path_or_url", "resolve_url", "open_url", "download", "remote_size",
           "url_file_name", "set_cache_dir", "CACHE_ENV", "DANDI_API_ENV"]

CACHE_ENV = "NWB_SAE_CACHE_DIR"
"""Environment variable naming the folder of the remote-read cache (unset: no disk cache)."""

DANDI_API_ENV = "NWB_SAE_DANDI_API"
"""Environment variable overriding the DANDI API root (default ``https://api.dandiarchive.org/api``)."""

DANDI_API = "https://api.dandiarchive.org/api"
SCHEMES = ("http://", "https://", "dandi://")
TIMEOUT_S = 60


def is_url(path) -> bool:
    """Whether ``path`` is an ``http(s)://`` or ``dandi://`` address (rather than a local file)."""
    return isinstance(path, str) and path.lower().startswith(SCHEMES)


def path_or_url(path):
    """``path`` as a :class:`~pathlib.Path`, or unchanged when it is a URL (a Path would merge its '//')."""
    return path if is_url(path) else Path(path)


def url_file_name(url: str) -> str:
    """The file name at the end of a URL's path, e.g. ``sub-1_ses-2.nwb``."""
    name = PurePosixPath(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name
    return name or "remote.nwb"


def set_cache_dir(folder) -> None:
    """Keep the chunks read from remote files in ``folder`` (``None``: no disk cache).

    Stored in the environment variable :data:`CACHE_ENV`, so processes started afterwards (dask workers)
    use the same cache.
    """
    if folder is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = str(Path(folder).expanduser().resolve())


# -- DANDI --------------------------------------------------------------------------------------------

def resolve_url(url: str) -> str:
    """The HTTP(S) address of ``url``: unchanged for http(s), the asset's download URL for ``dandi://``.

    Raises
    ------
    ObjectNotFoundError
        The dandiset, version or asset path does not exist (the message says which).
    UnsupportedFileError
        The DANDI API cannot be reached.
    """
    if not url.lower().startswith("dandi://"):
        return url
    return _resolve_dandi(url, os.environ.get(DANDI_API_ENV, DANDI_API).rstrip("/"))


@functools.lru_cache(maxsize=1024)  # a file is opened several times per read; ask the API once per process
def _resolve_dandi(url: str, api: str) -> str:
    dandiset, version, asset = _parse_dandi(url)
    if version is None:
        info = _get_json(f"{api}/dandisets/{dandiset}/", url, f"dandiset {dandiset}")
        published = info.get("most_recent_published_version") or {}
        version = published.get("version") or "draft"
    query = urllib.parse.urlencode({"path": asset})
    listing = _get_json(f"{api}/dandisets/{dandiset}/versions/{version}/assets/?{query}", url,
                        f"version {version} of dandiset {dandiset}")
    for result in listing.get("results", []):
        if result.get("path") == asset:
            return f"{api}/assets/{result['asset_id']}/download/"
    near = [r.get("path") for r in listing.get("results", [])][:5]
    raise ObjectNotFoundError(
        f"{url}: dandiset {dandiset} (version {version}) has no asset {asset!r}"
        + (f"; assets starting so: {near}." if near else ".")
        + " Copy the path from the dandiset's file list on dandiarchive.org."
    )


def _parse_dandi(url: str) -> tuple[str, str | None, str]:
    rest = url[len("dandi://"):]
    head, _, asset = rest.partition("/")
    dandiset, _, version = head.partition("@")
    if not dandiset.isdigit() or not asset:
        raise UnsupportedFileError(f"{url}: not a DANDI address; write dandi://DANDISET_ID/path/in/dandiset.nwb "
                                   "(or dandi://DANDISET_ID@VERSION/path), e.g. dandi://000409/sub-X/sub-X.nwb.")
    return dandiset.zfill(6), version or None, urllib.parse.unquote(asset)


def _get_json(api_url: str, url: str, what: str) -> dict:
    import requests

    try:
        response = requests.get(api_url, timeout=TIMEOUT_S, headers=_dandi_headers())
    except requests.RequestException as err:
        raise UnsupportedFileError(f"{url}: cannot reach the DANDI API at {api_url} ({err}).") from err
    if response.status_code == 404:
        raise ObjectNotFoundError(f"{url}: DANDI has no {what} (404 from {api_url}). Check the dandiset id and "
                                  "version on dandiarchive.org.")
    if response.status_code != 200:
        raise UnsupportedFileError(f"{url}: the DANDI API answered {response.status_code} {response.reason} for "
                                   f"{what}. An embargoed dandiset needs DANDI_API_KEY in the environment.")
    try:
        return response.json()
    except ValueError as err:
        raise UnsupportedFileError(f"{url}: the DANDI API answered something that is not JSON ({api_url}).") from err


def _dandi_headers() -> dict:
    key = os.environ.get("DANDI_API_KEY")
    return {"Authorization": f"token {key}"} if key else {}


# -- reading ------------------------------------------------------------------------------------------

def _probe(url: str) -> tuple[str, int]:
    """Ask for the first byte: the final address (after redirects) and the file size, or a clear error."""
    import requests

    address = resolve_url(url)
    try:
        response = requests.get(address, headers={"Range": "bytes=0-0"}, timeout=TIMEOUT_S, stream=True)
    except requests.RequestException as err:
        raise UnsupportedFileError(f"{url}: cannot connect ({type(err).__name__}: {err}). Check the address "
                                   "and the network.") from err
    with response:
        if response.status_code in (404, 410):
            raise UnsupportedFileError(f"{url}: no such file on the server ({response.status_code} "
                                       f"{response.reason}). Check the URL.")
        if response.status_code in (401, 403):
            raise UnsupportedFileError(f"{url}: the server refuses access ({response.status_code} "
                                       f"{response.reason}). The file may need credentials, or the link expired.")
        if response.status_code == 200:
            raise UnsupportedFileError(f"{url}: the server ignores HTTP range requests, which reading a file in "
                                       "place needs. Download the file and read the local copy.")
        if response.status_code != 206:
            raise UnsupportedFileError(f"{url}: the server answered {response.status_code} {response.reason}.")
        total = response.headers.get("Content-Range", "").rpartition("/")[2]
        if not total.isdigit():
            raise UnsupportedFileError(f"{url}: the server did not say the file's size (Content-Range "
                                       f"{response.headers.get('Content-Range')!r}).")
        return response.url, int(total)


def remote_size(url: str) -> int:
    """Size in bytes of the remote file (one 1-byte range request)."""
    return _probe(url)[1]


def open_url(url: str):
    """Open a remote HDF5/NWB file read-only: an ``h5py.File`` reading byte ranges through remfile.

    Raises
    ------
    UnsupportedFileError
        Unreachable, missing (404), access refused, no range support, or not an HDF5 file.
    """
    import h5py
    import remfile

    address, _ = _probe(url)
    folder = os.environ.get(CACHE_ENV)
    cache = remfile.DiskCache(folder) if folder else None
    handle = remfile.File(address, disk_cache=cache)
    try:
        return h5py.File(handle, "r")
    except OSError as err:
        handle.close()
        raise UnsupportedFileError(f"{url}: is not an HDF5 file, so not an NWB file nwb-sae can read "
                                   f"({err}).") from err


def download(url: str, dest, chunk_bytes: int = 8 << 20) -> Path:
    """Stream ``url`` to the local file ``dest`` (memory use: one chunk). Returns ``dest``."""
    import requests

    address, size = _probe(url)
    dest = Path(dest)
    try:
        with requests.get(address, stream=True, timeout=TIMEOUT_S) as response, open(dest, "wb") as out:
            response.raise_for_status()
            for chunk in response.iter_content(chunk_bytes):
                out.write(chunk)
    except requests.RequestException as err:
        raise UnsupportedFileError(f"{url}: the download to {dest} failed ({err}).") from err
    if dest.stat().st_size != size:
        raise UnsupportedFileError(f"{url}: the download to {dest} stopped after {dest.stat().st_size} of "
                                   f"{size} bytes. Try again.")
    return dest
