"""Tracks written where users look: into each session's results module, beside its dictionary.

After tracking, every session's file gets three more tables in its nwb-sae module (names in
:mod:`nwb_sae.io.results.schema`): ``tracks`` (one row per dictionary row: track id, status, cosine to
the previous session, p/q, shared neurons, members gained / lost, presence), ``registry`` (one row per
row of ``neurons``, linked to it, with the global id and confidence) and ``sessions`` (every tracked
session's identifiers, start time, subject, file and model hashes, and the registry hash). Any NWB tool
reads them as ordinary DynamicTables; :func:`nwb_sae.read_results` returns them as DataFrames.

The input file is only read: the tables go into a staged copy (:func:`nwb_sae.io.safe_write.staged_file`)
that atomically becomes the output (the input itself only with ``in_place=True``).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from nwb_sae.errors import InputDataError, ObjectNotFoundError, OutputExistsError
from nwb_sae.io.results.schema import (
    REGISTRY,
    REGISTRY_DESCRIPTIONS,
    SESSION_DESCRIPTIONS,
    SESSIONS,
    TRACK_DESCRIPTIONS,
    TRACKS,
)
from nwb_sae.io.safe_write import staged_file


def session_rows(paths: dict, registry_hash: str, module: str = "sae", written: dict | None = None) -> pd.DataFrame:
    """The ``sessions`` table: per session file its identifier, start time, subject and hashes.

    ``written`` ({session: path}) names the files the tracked results go to (default: ``paths``); the
    ``file`` column holds them relative to their common folder, so that a browser opening one of them
    finds the others wherever the folder was moved.
    """
    files = relative_files(written or paths)
    rows = []
    for name, path in paths.items():
        with h5py.File(path, "r") as h5:
            identifier = _text(h5.get("identifier"))
            start = _text(h5.get("session_start_time"))
            subject = _text(h5.get("general/subject/subject_id"))
            group = h5.get(f"processing/{module}/provenance")
            values = [] if group is None else [_text(v) for v in group["value"][()]]
        rows.append({"session": name, "identifier": identifier, "session_start_time": start,
                     "subject_id": subject, "file_sha256": _sha256(path),
                     "model_hash": hashlib.sha256(json.dumps(values).encode()).hexdigest(),
                     "registry_hash": registry_hash, "file": files[name]})
    return pd.DataFrame(rows, columns=list(SESSION_DESCRIPTIONS))


def relative_files(paths: dict) -> dict[str, str]:
    """{session: path relative to the common folder of all the paths} (posix separators)."""
    resolved = {name: Path(path).resolve() for name, path in paths.items()}
    root = Path(os.path.commonpath([p.parent for p in resolved.values()]))
    return {name: p.relative_to(root).as_posix() for name, p in resolved.items()}


def track_rows(tracks, session: str, latents: np.ndarray) -> pd.DataFrame:
    """The ``tracks`` table of one session: one row per dictionary latent."""
    if session not in list(tracks["session"].values):
        raise InputDataError(f"session {session!r} is not in the tracks (sessions {list(tracks['session'].values)}).")
    col = tracks.sel(session=session)
    where = {int(lat): t for t, lat in enumerate(col["latent"].values) if lat >= 0}
    names = [str(s) for s in tracks["session"].values]
    out = {name: [] for name in TRACK_DESCRIPTIONS}
    for latent in np.asarray(latents, dtype=int):
        t = where.get(int(latent))
        present = [] if t is None else [names[i] for i in np.flatnonzero(tracks["latent"].values[t] >= 0)]
        values = {"latent": int(latent), "track": -1 if t is None else int(tracks["track"].values[t]),
                  "status": "" if t is None else str(tracks["status"].values[t]),
                  "cosine_previous": np.nan if t is None else float(col["cosine"].values[t]),
                  "p_value": np.nan if t is None else float(col["p_value"].values[t]),
                  "q_value": np.nan if t is None else float(col["q_value"].values[t]),
                  "n_shared": -1 if t is None else int(col["n_shared"].values[t]),
                  "gained": -1 if t is None else int(col["gained"].values[t]),
                  "lost": -1 if t is None else int(col["lost"].values[t]),
                  "n_sessions": 0 if t is None else len(present), "presence": ";".join(present)}
        for name, value in values.items():
            out[name].append(value)
    return pd.DataFrame(out)


def write_tracks(source, tracks, registry, session: str, out=None, *, sessions: pd.DataFrame | None = None,
                 module: str = "sae", in_place: bool = False, overwrite: bool = False) -> Path:
    """Add the ``tracks``, ``registry`` and ``sessions`` tables to a session's results module.

    Parameters
    ----------
    source : path
        The session's NWB file holding nwb-sae results (what ``batch`` / ``write_nwb`` wrote).
    tracks : xarray.Dataset
        From :func:`nwb_sae.track_ensembles`.
    registry : nwb_sae.Registry
        The registry the tracks were made with.
    session : str
        This file's session name in ``tracks``.
    out : path, optional
        The output file (a copy of ``source`` with the tables added); required unless ``in_place``.
    sessions : pandas.DataFrame, optional
        The ``sessions`` table (:func:`session_rows`); default: this session only.
    module, in_place, overwrite
        As in :func:`nwb_sae.write_nwb`.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    from nwb_sae.io.results.read import read_results

    source = Path(source)
    dest = source if in_place else Path(out) if out is not None else None
    if dest is None:
        raise InputDataError(f"{source}: name an output file (out=) or pass in_place=True; the input is never "
                             "modified otherwise.")
    if not in_place and dest.exists() and not overwrite:
        raise OutputExistsError(f"{dest}: already exists; pass overwrite=True or name another file.")
    with read_results(source, module, lazy=False) as res:
        latents = np.asarray(res.dictionary["latents"].values)
        neurons = np.asarray(res.dictionary["neurons"].values)
    with h5py.File(source, "r") as h5:
        taken = [n for n in (TRACKS, REGISTRY, SESSIONS) if f"processing/{module}/{n}" in h5]
    if taken and not overwrite:
        raise OutputExistsError(f"{source}: processing/{module} already holds {taken}; pass overwrite=True to "
                                "replace them with these tracks.")
    table = track_rows(tracks, session, latents)
    reg = pd.DataFrame({"neuron": np.arange(len(neurons)), "source_id": [str(n) for n in neurons],
                        "global_id": registry.global_ids(session, neurons),
                        "confidence": registry.confidence(session, neurons)})
    sessions = sessions if sessions is not None else session_rows({session: source}, registry.hash, module,
                                                                  written={session: dest})
    with staged_file(source, dest, keep_mode_of=source if in_place else None) as tmp:
        if taken:
            with h5py.File(tmp, "a") as h5:
                for name in taken:
                    del h5[f"processing/{module}/{name}"]
        _append(tmp, module, table, reg, sessions)
    return dest


def _append(path, module: str, tracks: pd.DataFrame, reg: pd.DataFrame, sessions: pd.DataFrame) -> None:
    from hdmf.common import DynamicTable, DynamicTableRegion, VectorData
    from pynwb import NWBHDF5IO

    def table(name, frame, descriptions, description, region=None):
        columns = [VectorData(name=c, description=descriptions[c], data=_column(frame[c])) for c in frame
                   if not (region is not None and c == "neuron")]
        if region is not None:
            columns.insert(0, DynamicTableRegion(name="neuron", description=descriptions["neuron"],
                                                 data=frame["neuron"].tolist(), table=region))
        return DynamicTable(name=name, description=description, columns=columns,
                            id=list(range(len(frame))))

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*cached namespace.*")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        with NWBHDF5IO(str(path), mode="a") as io:
            nwbfile = io.read()
            if module not in nwbfile.processing:
                raise ObjectNotFoundError(f"{path}: no processing module {module!r} to add the tracks to.")
            processing = nwbfile.processing[module]
            processing.add(table(TRACKS, tracks, TRACK_DESCRIPTIONS,
                                 "ensembles tracked across sessions, one row per dictionary row (nwb-sae track)"))
            processing.add(table(REGISTRY, reg, REGISTRY_DESCRIPTIONS, "the neuron registry used for tracking",
                                 region=processing["neurons"]))
            processing.add(table(SESSIONS, sessions, SESSION_DESCRIPTIONS, "the sessions tracked together"))
            io.write(nwbfile)


def _column(values: pd.Series):
    if values.dtype.kind in "OUS":
        return [str(v) for v in values]
    return values.to_numpy()


def _text(dataset) -> str:
    if dataset is None:
        return ""
    value = dataset[()] if hasattr(dataset, "shape") else dataset
    if isinstance(value, np.ndarray):
        value = value.ravel()[0] if value.size else ""
    return value.decode() if isinstance(value, bytes) else str(value)


def _sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
