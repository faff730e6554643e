"""The NWB objects of a results module, built from plain arrays and dicts.

What the module holds, and the names of its objects and columns, are defined in
:mod:`nwb_sae.io.results.schema`; this module builds them with hdmf/pynwb.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from hdmf.backends.hdf5 import H5DataIO
from hdmf.common import DynamicTable, DynamicTableRegion, VectorData

from nwb_sae.io.results.schema import (
    DICTIONARY,
    KEY,
    NEURONS,
    PROVENANCE,
    RESERVED_COLUMNS,
    SOURCE_ID,
    SOURCE_NEURON,
    STAT_DESCRIPTIONS,
    STAT_NAMES,
    VALUE,
    WEIGHTS,
    flatten,
)
from nwb_sae.io.text import as_str


class TimeBase(NamedTuple):
    """When each sample of the codes was taken: either ``rate`` or ``timestamps`` is set."""

    rate: float | None
    """Samples per second, when regular."""
    starting_time: float
    """Time of the first sample in seconds (also set with timestamps: their first value)."""
    timestamps: np.ndarray | None = None
    """Explicit sample times in seconds, when irregular."""
    link: str | None = None
    """Path of a TimeSeries in the file whose timestamps to link instead of copying them."""


def time_base(n_samples: int, rate=None, starting_time=None, timestamps=None, link: str | None = None,
              decimals: int = 9) -> TimeBase:
    """The time base of a source: regular timestamps become rate + starting time.

    Timestamps count as regular by nwbinspector's rule (their differences, rounded to ``decimals``,
    are all equal), so the codes never get the "timestamps could be a rate" best-practice message.

    Examples
    --------
    >>> time_base(3, timestamps=np.array([1.0, 1.5, 2.0]))
    TimeBase(rate=2.0, starting_time=1.0, timestamps=None, link=None)
    >>> time_base(3, rate=10.0).starting_time
    0.0
    """
    if timestamps is not None:
        ts = np.asarray(timestamps, dtype=np.float64).ravel()
        if ts.shape[0] != n_samples:
            raise ValueError(f"{ts.shape[0]} timestamps for {n_samples} samples")
        diffs = np.unique(np.round(np.diff(ts), decimals)) if ts.size > 1 else np.array([])
        if ts.size > 1 and diffs.size == 1 and diffs[0] > 0:
            return TimeBase(float((n_samples - 1) / (ts[-1] - ts[0])), float(ts[0]))
        if ts.size == 1 and rate:
            return TimeBase(float(rate), float(ts[0]))
        return TimeBase(None, float(ts[0]) if ts.size else 0.0, ts, link)
    if not rate or not np.isfinite(rate) or rate <= 0:
        raise ValueError(f"the source has neither timestamps nor a positive rate (rate={rate})")
    return TimeBase(float(rate), float(starting_time or 0.0))


# -- the tables -----------------------------------------------------------------------------------

def compressed(data: np.ndarray, compression_opts: int = 4) -> H5DataIO | np.ndarray:
    """Wrap arrays above 1 MiB for gzip compression; small ones stay plain."""
    if data.nbytes < (1 << 20):
        return data
    return H5DataIO(data=data, compression="gzip", compression_opts=compression_opts)


def dictionary_table(weights: np.ndarray, stats: dict[str, np.ndarray], neurons_path: str,
                     latent_columns: dict | None = None) -> DynamicTable:
    """One row per latent: its atom over the neurons and the statistics of its codes.

    Parameters
    ----------
    weights : numpy.ndarray
        (latents, neurons), the unit-norm atoms in the units of the source data.
    stats : dict
        Arrays over latents (:data:`~nwb_sae.io.results.schema.STAT_NAMES`).
    neurons_path : str
        Path of the ``neurons`` table in the file, named in the description of ``weights``.
    latent_columns : dict, optional
        More per-latent columns, name -> (values, description)
        (:func:`~nwb_sae.io.results.schema.latent_columns`): booleans and text stay so, the rest float.
    """
    weights = np.asarray(weights, dtype=np.float32)
    columns = [VectorData(
        name=WEIGHTS,
        description=(f"atom of the latent over the neurons (unit norm, units of the source data); entry j is "
                     f"the neuron in row j of {neurons_path}"),
        data=compressed(weights))]
    for name in STAT_NAMES:
        columns.append(VectorData(name=name, description=STAT_DESCRIPTIONS[name],
                                  data=np.asarray(stats[name], dtype=np.float64)))
    for name, (values, description) in (latent_columns or {}).items():
        values = np.asarray(values)
        if values.dtype.kind in "OUS":  # text (a latent's verdict reason)
            values = np.array(["" if v is None else str(v) for v in values], dtype=object)
        else:
            values = values.astype(bool) if values.dtype == bool else values.astype(np.float64)
        columns.append(VectorData(name=name, description=description, data=values))
    return DynamicTable(
        name=DICTIONARY,
        description=("Sparse autoencoder dictionary: one row per latent (row i is column i of codes), its "
                     "atom over the source neurons and statistics of its codes over the whole recording."),
        columns=columns,
        id=np.arange(weights.shape[0]),
    )


def _neuron_column(name: str, values, n: int, description: str | None = None):
    values = np.asarray(values)
    if values.ndim != 1 or values.shape[0] != n:
        return None
    if values.dtype.kind in "OUS":
        values = np.array(["" if v is None else as_str(v) for v in values], dtype=object)
    elif values.dtype.kind not in "biuf":
        return None
    return VectorData(name=name, description=description or f"'{name}' of the neuron in the source", data=values)


def _column_name(name: str) -> str:
    name = str(name).replace("/", "_")
    if name in RESERVED_COLUMNS or name.endswith(("_index", "_times", "_elements")):
        name = f"source_{name}"
    return name


def neurons_table(neuron_ids, n_neurons: int, labels: dict | None = None, region_table=None,
                  region_rows=None, region_path: str | None = None) -> DynamicTable:
    """One row per neuron of the dictionary's weights, linked to the source neurons.

    Parameters
    ----------
    neuron_ids : array-like
        The source's neuron ids (unit ids, ROI ids, channel ids), in the order of the weights.
    n_neurons : int
        Number of neurons (length of every column).
    labels : dict, optional
        Other neuron labels (name -> 1-D array); numbers and strings become columns, others are skipped.
    region_table : hdmf DynamicTable, optional
        The Units table / PlaneSegmentation the neurons are rows of, from the file being written.
    region_rows : array-like, optional
        Row of ``region_table`` of each neuron.
    region_path : str, optional
        Path of ``region_table`` in the file, for the description.
    """
    ids = np.asarray(neuron_ids if neuron_ids is not None else np.arange(n_neurons))
    id_text = "id of the neuron in the source (unit, ROI or channel id)"
    column = _neuron_column(SOURCE_ID, ids, n_neurons, id_text)
    if column is None:
        raise ValueError(f"{ids.shape} neuron ids for {n_neurons} neurons")
    columns = [column]
    for name, values in (labels or {}).items():
        if name in ("id", "neurons"):
            continue
        column = _neuron_column(_column_name(name), values, n_neurons)
        if column is not None and column.name not in {c.name for c in columns}:
            columns.append(column)
    if region_table is not None:
        rows = np.asarray(region_rows if region_rows is not None else np.arange(n_neurons), dtype=np.int64)
        columns.append(DynamicTableRegion(
            name=SOURCE_NEURON, data=rows, table=region_table,
            description=f"the row of {region_path or region_table.name} that is this neuron"))
    return DynamicTable(
        name=NEURONS,
        description=("The neurons of the dictionary: row j is entry j of every atom in the dictionary table's "
                     "weights column, with its id and labels in the source"
                     + (f" and a link to its row of {region_path}." if region_table is not None else ".")),
        columns=columns,
        id=np.arange(n_neurons),
    )


def provenance_table(provenance: dict) -> DynamicTable:
    """The provenance as ``key`` / ``value`` rows (see :func:`flatten`)."""
    rows = flatten(provenance)
    return DynamicTable(
        name=PROVENANCE,
        description=("How these results were made: model settings, normalisation, training metrics and history, "
                     "nwb-sae version, source file and object. Keys are '/'-separated paths into the nested "
                     "record, values are JSON text; nwb_sae.read_results gives the record back as a dict."),
        columns=[VectorData(name=KEY, description="'/'-separated path of the entry", data=[k for k, _ in rows]),
                 VectorData(name=VALUE, description="value of the entry as JSON text",
                            data=[v for _, v in rows])],
        id=np.arange(len(rows)),
    )
