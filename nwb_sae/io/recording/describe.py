"""What a file holds that nwb-sae can read: activity sources and interval tables (``nwb-sae inspect``)."""

from __future__ import annotations

import numpy as np

from nwb_sae.errors import NwbSaeError
from nwb_sae.io.h5 import open_h5, reading
from nwb_sae.io.recording.arrays import _numeric_datasets, _stored_dims
from nwb_sae.io.recording.nwb_file import is_nwb, open_nwb
from nwb_sae.io.recording.nwb_find import (
    ActivityCandidate,
    activity_candidates,
    choose_activity,
    interval_tables,
)
from nwb_sae.io.remote import path_or_url


def _timing(candidate: ActivityCandidate) -> tuple[str, float | None]:
    """Readable sampling and the duration in seconds (None when unknown)."""
    obj = candidate.container
    if candidate.kind == "units":
        data = next((c.data for c in obj.columns if c.name == "spike_times"), None)
        spikes = np.asarray(data[:], dtype=float) if data is not None else np.array([])
        spikes = spikes[np.isfinite(spikes)]
        span = float(spikes.max() - min(0.0, spikes.min())) if spikes.size else None
        return "spike times", span
    if not candidate.usable:
        return candidate.sampling, None
    if obj.timestamps is not None:
        head = np.asarray(obj.timestamps[: min(len(obj.timestamps), 10_000)], dtype=float)
        rate = 1.0 / float(np.median(np.diff(head))) if head.size > 1 else float("nan")
        duration = float(obj.timestamps[-1] - obj.timestamps[0]) if head.size > 1 else None
        return f"timestamps (~{rate:.4g} Hz)", duration
    return f"{obj.rate:g} Hz", candidate.n_samples / obj.rate


def describe_file(path) -> dict:
    """A JSON-able summary of what :func:`nwb_sae.read_nwb` / ``read_hdf5`` can read from ``path``.

    Returns
    -------
    dict
        ``format`` ('nwb' or 'hdf5'). NWB: ``nwb_version``, ``identifier``, ``session_description``,
        ``activity`` (list of dicts: path, type, kind, neurons, samples, sampling, duration_s,
        notes, usable, default), ``default_activity`` (path or None, with ``default_problem``),
        ``intervals`` (list of dicts: path, name, rows, columns, start_s, stop_s). HDF5: ``datasets``.

    Examples
    --------
    >>> info = describe_file("session.nwb")                # doctest: +SKIP
    >>> [a["path"] for a in info["activity"]]              # doctest: +SKIP
    ['processing/ophys/DfOverF/RoiResponseSeries']
    """
    path = path_or_url(path)
    with open_h5(path) as h5:
        nwb = is_nwb(h5) or "nwb_version" in h5
        if not nwb:
            datasets = [{"path": d.name, "shape": list(d.shape), "dtype": str(d.dtype),
                         "dims": list(_stored_dims(d) or [])} for d in _numeric_datasets(h5)]
            return {"file": str(path), "format": "hdf5", "datasets": datasets}
    with open_nwb(path) as (io, nwbfile, version):
        candidates = activity_candidates(io, nwbfile)
        try:
            default, problem = choose_activity(path, candidates, None).path, ""
        except NwbSaeError as err:
            default, problem = None, str(err).split("\n")[0]
        activity = []
        for c in candidates:
            with reading(path, c.path):
                sampling, duration = _timing(c)
            activity.append({
                "path": c.path, "type": c.neurodata_type, "kind": c.kind, "neurons": c.n_neurons,
                "samples": c.n_samples, "stored_shape": list(c.shape), "sampling": sampling,
                "duration_s": duration, "notes": c.note, "usable": c.usable, "default": c.path == default,
            })
        intervals = []
        for t in interval_tables(io, nwbfile):
            with reading(path, t.path):
                starts = np.asarray(t.container["start_time"].data[:], dtype=float) if t.n_rows else np.array([])
                stops = (np.asarray(t.container["stop_time"].data[:], dtype=float)
                         if t.n_rows and "stop_time" in t.columns else np.array([]))
            intervals.append({
                "path": t.path, "name": t.name, "rows": t.n_rows, "columns": list(t.columns),
                "start_s": float(np.nanmin(starts)) if np.isfinite(starts).any() else None,
                "stop_s": float(np.nanmax(stops)) if np.isfinite(stops).any() else None,
            })
        return {
            "file": str(path), "format": "nwb", "nwb_version": version,
            "identifier": str(nwbfile.identifier), "session_description": str(nwbfile.session_description),
            "activity": activity, "default_activity": default, "default_problem": problem,
            "intervals": intervals,
        }
