"""Reading nwb-sae results back from an NWB file, with plain h5py (no pynwb, no torch).

This is the one function the napari widget and users' scripts read results with, so it works on any
file that went through :func:`nwb_sae.write_nwb`, also one written on another machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np
import pandas as pd
import xarray as xr

from nwb_sae.errors import ObjectNotFoundError, UnsupportedFileError
from nwb_sae.io.h5 import open_h5
from nwb_sae.io.results.schema import (
    CODES,
    DICTIONARY,
    KEY,
    NEURONS,
    PROVENANCE,
    REGISTRY,
    SESSIONS,
    SOURCE_ID,
    SOURCE_NEURON,
    STAT_NAMES,
    TRACKS,
    VALUE,
    WEIGHTS,
    WRITER,
    unflatten,
)
from nwb_sae.io.text import as_str


class SaeResults(NamedTuple):
    """nwb-sae results read from an NWB file by :func:`read_results`."""

    codes: xr.DataArray
    """Codes, dims (time, latents), lazy (dask over the HDF5 dataset); ``time`` in seconds on the
    source's time base, ``latents`` the latent index (row of the dictionary)."""
    dictionary: xr.DataArray
    """Atoms, dims (latents, neurons); ``neurons`` are the source neuron ids, with the other neuron
    labels (and ``source_row``, the row in ``attrs['neuron_table']``) as coordinates."""
    latent_stats: xr.Dataset
    """Statistics over ``latents``: activation_frequency, mean_activation, mean_active_activation,
    std_activation, max_activation, and where the model had them significant, p_value, q_value,
    stability and per presentation column ``c``: c_eta_squared, c_p_value, c_q_value."""
    provenance: dict
    """The model's provenance as written (settings, normalization, metrics, history, version, ...)."""
    source: dict
    """The source: ``activity`` (object path of the activity in the file), ``file``, ``identifier``,
    ``kind``, ``neuron_table``, ``n_samples``, ``bin_size``."""
    write_info: dict
    """How the results were written: ``writer``, ``nwb_sae_version``, ``created``, ``module``, ..."""
    file: h5py.File | None = None
    """The HDF5 file the lazy codes read from (None once read with ``lazy=False``)."""
    tracks: pd.DataFrame | None = None
    """After ``nwb-sae track``: one row per dictionary row (track, status, cosine_previous, p/q, n_shared,
    gained, lost, n_sessions, presence); None when the session was not tracked."""
    registry: pd.DataFrame | None = None
    """After ``nwb-sae track``: one row per neuron (neuron row, source_id, global_id, confidence)."""
    sessions: pd.DataFrame | None = None
    """After ``nwb-sae track``: the sessions tracked together (identifiers, start times, subject, hashes)."""

    @property
    def latent_table(self) -> pd.DataFrame:
        """:attr:`latent_stats` as a DataFrame, one row per latent (as ``SAE.latent_table_``)."""
        return self.latent_stats.to_dataframe()

    @property
    def selection(self) -> dict:
        """The model selection recorded in the provenance (``n_latents``, ``k``, ``mp_count``, ``curve``)."""
        return self.provenance.get("selection") or {}

    @property
    def preprocessing(self) -> dict:
        """What the front end did before the fit (:class:`nwb_sae.preprocess.Preprocessing` as a dict):
        ``method``, ``summary``, ``frame_rate``, ``scope``, ``baseline_window``, ``decay_source`` and per
        neuron ``decay_time``, ``ar_coefficients``, ``noise``; empty for results written before it existed."""
        return self.provenance.get("preprocessing") or {}

    def close(self) -> None:
        """Close the file behind the lazy codes (they can no longer be computed afterwards)."""
        if self.file is not None and self.file.id.valid:
            self.file.close()

    def __enter__(self) -> SaeResults:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _group(h5: h5py.File, path: str, shown_as, what: str) -> h5py.Group:
    obj = h5.get(path)
    if not isinstance(obj, h5py.Group):
        raise UnsupportedFileError(f"{shown_as}: {path} is missing, so the {what} cannot be read. The results "
                                   "module is incomplete; write the results again with nwb_sae.write_nwb.")
    return obj


def _text(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "OS":
        return np.array([as_str(v) for v in values], dtype=object)
    return values


def _time(codes: h5py.Group, n: int) -> np.ndarray:
    if "timestamps" in codes:
        return np.asarray(codes["timestamps"][()], dtype=np.float64)
    start = codes["starting_time"]
    rate = float(start.attrs["rate"])
    return float(start[()]) + np.arange(n) / rate


def _codes(group: h5py.Group, lazy: bool, attrs: dict) -> xr.DataArray:
    import dask.array as da

    codes = group[CODES]
    data = codes["data"]
    n_samples, n_latents = data.shape
    if lazy:
        rows = data.chunks[0] if data.chunks else min(n_samples, 4096)
        rows = max(rows, (16 << 20) // (4 * max(1, n_latents)) // rows * rows)  # ~16 MiB dask blocks
        values = da.from_array(data, chunks=(min(rows, n_samples), n_latents), name=False)
    else:
        values = data[()]
    unit = codes["data"].attrs.get("unit", "a.u.")
    return xr.DataArray(values, dims=("time", "latents"),
                        coords={"time": _time(codes, n_samples), "latents": np.arange(n_latents)},
                        name="codes", attrs={**attrs, "unit": as_str(unit)})


def _dictionary(group: h5py.Group, attrs: dict) -> xr.DataArray:
    table = group[DICTIONARY]
    weights = table[WEIGHTS][()]
    neurons = group[NEURONS]
    coords: dict = {"latents": np.asarray(table["id"][()])}
    n = weights.shape[1]
    coords["neurons"] = _text(np.asarray(neurons[SOURCE_ID][()]))
    neuron_table = None
    for name, dset in neurons.items():
        if name in ("id", SOURCE_ID) or not isinstance(dset, h5py.Dataset) or dset.shape != (n,):
            continue
        if name == SOURCE_NEURON:
            coords["source_row"] = ("neurons", np.asarray(dset[()]))
            ref = dset.attrs.get("table")
            if isinstance(ref, h5py.Reference) and ref:
                neuron_table = group.file[ref].name.lstrip("/")
            continue
        coords[name] = ("neurons", _text(np.asarray(dset[()])))
    return xr.DataArray(weights, dims=("latents", "neurons"), coords=coords, name="dictionary",
                        attrs={**attrs, "neuron_table": neuron_table or ""})


def _stats(group: h5py.Group) -> xr.Dataset:
    table = group[DICTIONARY]
    latents = np.asarray(table["id"][()])
    names = [n for n in STAT_NAMES if n in table]
    names += [n for n, d in table.items() if n not in names and n not in ("id", WEIGHTS)
              and isinstance(d, h5py.Dataset) and d.shape == latents.shape]
    return xr.Dataset({n: ("latents", _text(np.asarray(table[n][()]))) for n in names}, coords={"latents": latents})


def _table(table) -> pd.DataFrame | None:
    """A flat DynamicTable (one dataset per column) as a DataFrame; None when absent."""
    if not isinstance(table, h5py.Group) or "id" not in table:
        return None
    n = table["id"].shape[0]
    columns = {name: _text(np.asarray(d[()])) for name, d in table.items()
               if name != "id" and isinstance(d, h5py.Dataset) and d.shape == (n,)}
    return pd.DataFrame(columns)


def module_provenance(group: h5py.Group) -> dict | None:
    """The provenance record of an nwb-sae module group, or None when it is not one."""
    table = group.get(PROVENANCE)
    if not isinstance(table, h5py.Group) or KEY not in table or VALUE not in table:
        return None
    try:
        keys = table[KEY].asstr()[()]
        values = table[VALUE].asstr()[()]
        record = unflatten(zip(keys, values, strict=True))
    except (ValueError, TypeError, KeyError, OSError):
        return None
    return record if record.get("write", {}).get("writer") == WRITER else None


def nwb_sae_modules(h5: h5py.File) -> list[str]:
    """Names of the processing modules holding nwb-sae results."""
    processing = h5.get("processing")
    if not isinstance(processing, h5py.Group):
        return []
    return [name for name, group in processing.items()
            if isinstance(group, h5py.Group) and module_provenance(group) is not None]


def results_from_h5(h5: h5py.File, module: str = "sae", *, lazy: bool = True, shown_as=None) -> SaeResults:
    """:func:`read_results` on an open h5py file (lazy codes then need the file to stay open)."""
    path = shown_as or h5.filename
    try:
        group = h5.get(f"processing/{module}")
        record = module_provenance(group) if isinstance(group, h5py.Group) else None
        if record is None:
            found = nwb_sae_modules(h5)
            hint = (f"it has nwb-sae results in: {', '.join(found)}; pass module=..." if found else
                    "it has no nwb-sae results; write them with nwb_sae.write_nwb or nwb-sae inference --nwb_out")
            raise ObjectNotFoundError(f"{path}: no nwb-sae results in processing/{module}; {hint}.")
        for name in (CODES, DICTIONARY, NEURONS):
            _group(h5, f"processing/{module}/{name}", path, name)
        source = dict(record.get("source", {}))
        attrs = {"file": str(path), "module": module, "source_activity": str(source.get("activity", ""))}
        return SaeResults(
            codes=_codes(group, lazy, attrs),
            dictionary=_dictionary(group, attrs),
            latent_stats=_stats(group),
            provenance=record.get("model", {}),
            source=source,
            write_info=record.get("write", {}),
            file=h5 if lazy else None,
            tracks=_table(group.get(TRACKS)),
            registry=_table(group.get(REGISTRY)),
            sessions=_table(group.get(SESSIONS)),
        )
    except (ObjectNotFoundError, UnsupportedFileError):
        raise
    except (KeyError, ValueError, OSError, TypeError) as err:
        raise UnsupportedFileError(f"{path}: the results in processing/{module} could not be read "
                                   f"({type(err).__name__}: {err}).") from err


def read_results(path, module: str = "sae", *, lazy: bool = True) -> SaeResults:
    """Read the codes, dictionary, statistics and provenance nwb-sae wrote into an NWB file.

    Parameters
    ----------
    path : str or Path
        An NWB file written by :func:`nwb_sae.write_nwb` (or ``nwb-sae inference --nwb_out``).
    module : str
        Name of the processing module holding the results.
    lazy : bool
        Keep the codes on disk (a dask array over the HDF5 dataset; the file stays open for reading
        until ``results.close()``, the end of a ``with read_results(...) as results:`` block, or garbage
        collection). ``False`` reads them into memory and closes the file.

    Returns
    -------
    SaeResults

    Raises
    ------
    ObjectNotFoundError
        The file has no nwb-sae results in ``processing/<module>`` (the message lists those it has).
    UnsupportedFileError
        The file cannot be opened, or the results module is incomplete.

    Examples
    --------
    >>> res = read_results("session_sae.nwb")                        # doctest: +SKIP
    >>> res.codes.sel(time=slice(10.0, 12.0)).values.shape           # doctest: +SKIP
    (60, 1024)
    >>> res.dictionary.sel(latents=3).to_series().nlargest(5)        # doctest: +SKIP
    """
    path = Path(path)
    h5 = open_h5(path)
    try:
        results = results_from_h5(h5, module, lazy=lazy, shown_as=path)
    except BaseException:
        h5.close()
        raise
    if not lazy:
        h5.close()
    return results
