"""The NWB objects of a results module, built from plain arrays and dicts.

A results module (default name ``sae``) holds four ordinary NWB objects, so any NWB tool can read it:

``codes``
    ``TimeSeries`` (time, latents) on the source's time base: its rate and starting time, or its
    timestamps (linked to the source series' timestamps when it has them).
``dictionary``
    ``DynamicTable``, one row per latent: ``weights`` (the atom over the neurons, a 2-D column whose
    j-th entry belongs to row j of ``neurons``) and the code statistics.
``neurons``
    ``DynamicTable``, one row per column of ``weights``: ``source_id`` (the source's neuron ids),
    ``source_neuron`` (a ``DynamicTableRegion`` into the source's Units table / PlaneSegmentation when
    the neurons are rows of one) and the other neuron labels of the source.
``provenance``
    ``DynamicTable`` of ``key`` / ``value`` rows: the nested provenance flattened into '/'-separated
    keys, each value JSON text (numbers, strings, lists). Flat rows keep the table readable by a person
    in any NWB browser, and keep nwbinspector's "dictionary in a string" check quiet.
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple

import numpy as np
from hdmf.backends.hdf5 import H5DataIO
from hdmf.common import DynamicTable, DynamicTableRegion, VectorData

from nwb_sae.io.write_codes import LatentStats

CODES = "codes"
DICTIONARY = "dictionary"
NEURONS = "neurons"
PROVENANCE = "provenance"
WRITER = "nwb-sae"
"""Value of the ``write/writer`` provenance entry: how nwb-sae recognises a module it wrote."""

STAT_DESCRIPTIONS = {
    "activation_frequency": "fraction of the recording's samples in which the latent is non-zero",
    "mean_activation": "mean code of the latent over all samples",
    "mean_active_activation": "mean code of the latent over the samples where it is non-zero (NaN: never)",
    "std_activation": "standard deviation of the code of the latent over all samples",
    "max_activation": "largest code of the latent",
}
_RESERVED = {"id", "source_id", "source_neuron", "weights", "key", "value"}


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


# -- provenance: nested dict <-> flat key/value rows ----------------------------------------------

def _escape(key) -> str:
    return str(key).replace("~", "~0").replace("/", "~1").replace("[", "~2")


def _unescape(key: str) -> str:
    return key.replace("~2", "[").replace("~1", "/").replace("~0", "~")


def _plain(value):
    """numpy scalars and arrays as Python values."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _has_container(value) -> bool:
    return isinstance(value, dict) or (
        isinstance(value, (list, tuple)) and any(_has_container(v) for v in value))


def flatten(tree: dict) -> list[tuple[str, str]]:
    """Nested dict -> ``[(key, json_value), ...]`` with '/'-separated keys.

    Dicts are walked into; lists are kept whole as JSON unless they hold dicts, whose items then get
    ``[i]`` key parts. ``/``, ``~`` and ``[`` inside keys are escaped (``~1``, ``~0``, ``~2``).

    Examples
    --------
    >>> flatten({"settings": {"k": 8, "lr": None}, "loss": [0.5, 0.25]})
    [('settings/k', '8'), ('settings/lr', 'null'), ('loss', '[0.5, 0.25]')]
    """
    rows: list[tuple[str, str]] = []
    _walk(tree, "", rows)
    return rows


def _walk(value, name: str, rows: list) -> None:
    value = _plain(value)
    prefix = f"{name}/" if name else ""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _walk(item, prefix + _escape(key), rows)
    elif isinstance(value, (list, tuple)) and _has_container(value):
        for i, item in enumerate(value):
            _walk(item, f"{prefix}[{i}]", rows)
    else:
        rows.append((name, json.dumps(value, default=_json_default)))


def _json_default(value):
    value = _plain(value)
    if isinstance(value, (list, int, float, str, bool)) or value is None:
        return value
    return str(value)


_INDEX = re.compile(r"^\[(\d+)\]$")


def _listify(node):
    """Turn dicts whose keys are all ``[i]`` back into lists."""
    if not isinstance(node, dict):
        return node
    node = {k: _listify(v) for k, v in node.items()}
    if node and all(_INDEX.match(k) for k in node):
        return [node[k] for k in sorted(node, key=lambda k: int(_INDEX.match(k).group(1)))]
    return node


def unflatten(rows) -> dict:
    """Inverse of :func:`flatten`.

    Examples
    --------
    >>> unflatten([("settings/k", "8"), ("runs/[0]/loss", "1.5")])
    {'settings': {'k': 8}, 'runs': [{'loss': 1.5}]}
    """
    tree: dict = {}
    for key, text in rows:
        parts = key.split("/")
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part if _INDEX.match(part) else _unescape(part), {})
        last = parts[-1]
        node[last if _INDEX.match(last) else _unescape(last)] = json.loads(text)
    return _listify(tree)


# -- the tables -----------------------------------------------------------------------------------

def compressed(data: np.ndarray, compression_opts: int = 4) -> H5DataIO | np.ndarray:
    """Wrap arrays above 1 MiB for gzip compression; small ones stay plain."""
    if data.nbytes < (1 << 20):
        return data
    return H5DataIO(data=data, compression="gzip", compression_opts=compression_opts)


def dictionary_table(weights: np.ndarray, stats: dict[str, np.ndarray], neurons_path: str) -> DynamicTable:
    """One row per latent: its atom over the neurons and the statistics of its codes.

    Parameters
    ----------
    weights : numpy.ndarray
        (latents, neurons), the unit-norm atoms in the units of the source data.
    stats : dict
        Arrays over latents, from :meth:`LatentStats.result`.
    neurons_path : str
        Path of the ``neurons`` table in the file, named in the description of ``weights``.
    """
    weights = np.asarray(weights, dtype=np.float32)
    columns = [VectorData(
        name="weights",
        description=(f"atom of the latent over the neurons (unit norm, units of the source data); entry j is "
                     f"the neuron in row j of {neurons_path}"),
        data=compressed(weights))]
    for name in LatentStats.NAMES:
        columns.append(VectorData(name=name, description=STAT_DESCRIPTIONS[name],
                                  data=np.asarray(stats[name], dtype=np.float64)))
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
        values = np.array(["" if v is None else (v.decode() if isinstance(v, bytes) else str(v))
                           for v in values], dtype=object)
    elif values.dtype.kind not in "biuf":
        return None
    return VectorData(name=name, description=description or f"'{name}' of the neuron in the source", data=values)


def _column_name(name: str) -> str:
    name = str(name).replace("/", "_")
    if name in _RESERVED or name.endswith(("_index", "_times", "_elements")):
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
    column = _neuron_column("source_id", ids, n_neurons, id_text)
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
            name="source_neuron", data=rows, table=region_table,
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
        columns=[VectorData(name="key", description="'/'-separated path of the entry", data=[k for k, _ in rows]),
                 VectorData(name="value", description="value of the entry as JSON text",
                            data=[v for _, v in rows])],
        id=np.arange(len(rows)),
    )
