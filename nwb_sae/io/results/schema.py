"""The layout of an nwb-sae results module, defined once for the writer and the reader.

A results module (default name ``sae``) holds four ordinary NWB objects, so any NWB tool can read it:

``codes``
    ``TimeSeries`` (time, latents) on the source's time base: its rate and starting time, or its
    timestamps (linked to the source series' timestamps when it has them).
``dictionary``
    ``DynamicTable``, one row per latent: ``weights`` (the atom over the neurons, a 2-D column whose
    j-th entry belongs to row j of ``neurons``) and the code statistics (:data:`STAT_NAMES`).
``neurons``
    ``DynamicTable``, one row per column of ``weights``: ``source_id`` (the source's neuron ids),
    ``source_neuron`` (a ``DynamicTableRegion`` into the source's Units table / PlaneSegmentation when
    the neurons are rows of one) and the other neuron labels of the source.
``provenance``
    ``DynamicTable`` of ``key`` / ``value`` rows: the nested provenance flattened into '/'-separated
    keys, each value JSON text (numbers, strings, lists). Flat rows keep the table readable by a person
    in any NWB browser, and keep nwbinspector's "dictionary in a string" check quiet. The record has
    three sections: ``model`` (the SAE's provenance), ``source`` (file, activity, kind, neuron table,
    n_samples, bin_size, ...) and ``write`` (``writer`` = :data:`WRITER`, version, module, created, ...).

This module only names things and encodes the provenance; it imports neither pynwb nor h5py.
"""

from __future__ import annotations

import json
import re

from nwb_sae.io.jsonable import json_default, plain

CODES = "codes"
DICTIONARY = "dictionary"
NEURONS = "neurons"
PROVENANCE = "provenance"

WEIGHTS = "weights"
"""Dictionary column: the atom of each latent over the neurons."""
SOURCE_ID = "source_id"
"""Neurons column: the neuron's id in the source."""
SOURCE_NEURON = "source_neuron"
"""Neurons column: ``DynamicTableRegion`` to the neuron's row of the source table."""
KEY, VALUE = "key", "value"
"""Provenance columns."""
RESERVED_COLUMNS = frozenset({"id", SOURCE_ID, SOURCE_NEURON, WEIGHTS, KEY, VALUE})
"""Column names a source neuron label may not take (it is renamed ``source_<name>``)."""

WRITER = "nwb-sae"
"""Value of the ``write/writer`` provenance entry: how nwb-sae recognises a module it wrote."""

STAT_DESCRIPTIONS = {
    "activation_frequency": "fraction of the recording's samples in which the latent is non-zero",
    "mean_activation": "mean code of the latent over all samples",
    "mean_active_activation": "mean code of the latent over the samples where it is non-zero (NaN: never)",
    "std_activation": "standard deviation of the code of the latent over all samples",
    "max_activation": "largest code of the latent",
}
STAT_NAMES = tuple(STAT_DESCRIPTIONS)
"""The per-latent statistics of the dictionary table, in the order it shows them."""


# -- provenance: nested dict <-> flat key/value rows ----------------------------------------------

def _escape(key) -> str:
    return str(key).replace("~", "~0").replace("/", "~1").replace("[", "~2")


def _unescape(key: str) -> str:
    return key.replace("~2", "[").replace("~1", "/").replace("~0", "~")


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
    value = value if isinstance(value, dict) else plain(value)
    prefix = f"{name}/" if name else ""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _walk(item, prefix + _escape(key), rows)
    elif isinstance(value, (list, tuple)) and _has_container(value):
        for i, item in enumerate(value):
            _walk(item, f"{prefix}[{i}]", rows)
    else:
        rows.append((name, json.dumps(value, default=json_default)))


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
