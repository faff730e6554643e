"""Registries from where registrations already live: NWB neuron columns, and registration tools' output files.

Each reader turns a tool's file into the plain (session, neuron, global_id, confidence) table that
:class:`~nwb_sae.sessions.registry.Registry` validates, so the rules (one row per local neuron, one neuron
per global id and session) are checked in one place. The tools themselves are never imported: their
outputs are read as files (UnitMatch's licence is non-commercial, ROICaT's results are plain pickles or
its own ``.richfile`` folders that we do not unpickle).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr


def neuron_columns(source, activity: str | None = None) -> tuple[np.ndarray, dict, str]:
    """The local neuron ids, the neuron columns and a name for messages, of a DataArray or an NWB file.

    A DataArray gives its ``neurons`` coordinate and every other coordinate along ``neurons``; a file gives
    the rows of the table behind its activity (Units, PlaneSegmentation), read without the activity itself.
    """
    if isinstance(source, xr.DataArray):
        columns = {name: np.asarray(c.values) for name, c in source.coords.items()
                   if c.dims == ("neurons",) and name != "neurons"}
        where = str(source.attrs.get("source", "the DataArray"))
        return np.asarray(source["neurons"].values), columns, where
    from nwb_sae.io.recording.nwb import open_activity

    with open_activity(source, activity=activity) as src:
        columns = {k: np.asarray(v) for k, v in src.neuron_coords.items()}
        where = f"{source}: {src.object_path}"
    return columns.pop("id"), columns, where


def registry_table_from_path(path: str | Path):
    """A registry table read from a CSV/TSV/parquet file with columns session, neuron, global_id[, confidence]."""
    import pandas as pd

    from nwb_sae.sessions.registry import RegistryError

    path = Path(path)
    if not path.is_file():
        raise RegistryError(f"{path}: no such registry file; give a CSV with columns session, neuron, global_id "
                            f"[, confidence].")
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, sep="\t" if path.suffix in (".tsv", ".tab") else ",")
