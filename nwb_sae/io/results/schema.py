"""The layout of an nwb-sae results module, defined once for the writer and the reader.

A results module (default name ``sae``) holds four ordinary NWB objects, so any NWB tool can read it:

``codes``
    ``TimeSeries`` (time, latents) on the source's time base: its rate and starting time, or its
    timestamps (linked to the source series' timestamps when it has them).
``dictionary``
    ``DynamicTable``, one row per latent: ``weights`` (the atom over the neurons, a 2-D column whose
    j-th entry belongs to row j of ``neurons``), the code statistics (:data:`STAT_NAMES`) and, for a
    model that has them, the trust statistics of each latent (:data:`LATENT_DESCRIPTIONS`: significance,
    p and q values, stability) and its stimulus selectivity per presentation column ``c``
    (``c_eta_squared``, ``c_p_value``, ``c_q_value``: :data:`SELECTIVITY_DESCRIPTIONS`).
``neurons``
    ``DynamicTable``, one row per column of ``weights``: ``source_id`` (the source's neuron ids),
    ``source_neuron`` (a ``DynamicTableRegion`` into the source's Units table / PlaneSegmentation when
    the neurons are rows of one) and the other neuron labels of the source.
``provenance``
    ``DynamicTable`` of ``key`` / ``value`` rows: the nested provenance flattened into '/'-separated
    keys, each value JSON text (numbers, strings, lists). Flat rows keep the table readable by a person
    in any NWB browser, and keep nwbinspector's "dictionary in a string" check quiet. The record has
    three sections: ``model`` (the SAE's provenance), ``source`` (file, activity, kind, neuron table,
    n_samples, bin_size, ...; the model section's ``selection`` records the chosen number of latents,
    k, the Marchenko-Pastur count and the selection curve) and ``write`` (``writer`` = :data:`WRITER`, version, module, created, ...).

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

LATENT_DESCRIPTIONS = {
    "significant": "the latent is reported as an ensemble: co-activation above the circular-shift null at the "
                   "fit's false discovery rate on held-out presentations, more than one neuron (participation ratio of "
                   "the atom >= 1.5), and found again by other seeds",
    "p_value": "p-value of the latent's co-activation against independent circular shifts of each neuron "
               "(held-out presentations)",
    "q_value": "Benjamini-Hochberg q-value of p_value across latents",
    "stability": "best cosine of the latent's atom with its one-to-one match in fits with other seeds "
                 "(mean over seeds; NaN: not measured)",
    "effective_neurons": "participation ratio of the positive weights of the latent's atom, at most its number of "
                         "members (weights >= half the largest): about the number "
                         "of neurons it raises together",
    "reason": "why the latent is not reported as an ensemble ('' when it is): not significant, never active, "
              "one neuron, not replicated (by other seeds) or composite (a copy or union of more frequent "
              "ensembles); set by the fit together with 'significant'",
}
"""Dictionary columns that say whether a latent is a trustworthy ensemble (from ``SAE.latent_table_``)."""
SELECTIVITY_DESCRIPTIONS = {
    "eta_squared": "stimulus selectivity for presentation column '{column}': fraction of the variance of the "
                   "latent's mean response per presentation explained by the labels (NaN: not tested)",
    "p_value": "label-permutation p-value of {column}_eta_squared",
    "q_value": "Benjamini-Hochberg q-value of {column}_p_value across the tested (significant) latents",
}
"""Per presentation column ``c``, the dictionary columns ``c_<key>`` of the selectivity of each latent."""

TRACKS = "tracks"
"""Table of a session's results written by ``nwb-sae track``: one row per row of ``dictionary``."""
REGISTRY = "registry"
"""Table: one row per row of ``neurons``, the neuron's global id under the registry used."""
SESSIONS = "sessions"
"""Table: one row per tracked session (identifiers, start times, subject, file and model hashes)."""
TRACK_DESCRIPTIONS = {
    "latent": "the dictionary row (latent) this row describes",
    "track": "track id of the latent across sessions (-1: not a reported ensemble, not tracked)",
    "status": "status of the track: persistent, drifting, new or vanished ('' untracked)",
    "cosine_previous": "cosine, on the neurons both sessions registered, to the track's atom in its previous "
                       "present session (NaN: first session of the track)",
    "p_value": "permutation p-value (global ids permuted among shared neurons) of the link to the previous session",
    "q_value": "Benjamini-Hochberg q-value of p_value over all matches of all session pairs",
    "n_shared": "registered neurons shared with the previous present session",
    "gained": "members gained since the previous present session (among neurons both observed; -1 untracked)",
    "lost": "members lost since the previous present session (among neurons both observed; -1 untracked)",
    "n_sessions": "number of sessions the track is present in (presence)",
    "presence": "the sessions the track is present in, ';'-separated",
}
"""The track columns, aligned row by row with ``dictionary``."""
REGISTRY_DESCRIPTIONS = {
    "neuron": "row of this module's neurons table (which links to the source Units / PlaneSegmentation row)",
    "source_id": "the neuron's local id in this session",
    "global_id": "the neuron's cross-session id ('<session>:<id>' when unregistered)",
    "confidence": "registration confidence (0: unregistered)",
}
SESSION_DESCRIPTIONS = {
    "session": "session name in the tracking", "identifier": "NWB identifier of the session's file",
    "session_start_time": "session start time (ISO 8601)", "subject_id": "subject id ('' unknown)",
    "file_sha256": "sha256 of the session's results file as tracked",
    "model_hash": "sha256 of the session's model provenance", "registry_hash": "sha256 of the registry used",
    "file": "the file holding this session's tracked results, relative to the folder common to all sessions' files",
}


def latent_columns(table) -> dict[str, tuple[object, str]]:
    """The dictionary columns of a latent table (``SAE.latent_table_``): name -> (values, description).

    Takes :data:`LATENT_DESCRIPTIONS` and, for each ``c_eta_squared`` column of the table, the
    :data:`SELECTIVITY_DESCRIPTIONS` columns of ``c``; other columns stay in the model only.
    """
    if table is None:
        return {}
    out = {name: (table[name].to_numpy(), text) for name, text in LATENT_DESCRIPTIONS.items() if name in table}
    for name in table.columns:
        if str(name).endswith("_eta_squared"):
            column = str(name)[: -len("_eta_squared")]
            for key, text in SELECTIVITY_DESCRIPTIONS.items():
                if f"{column}_{key}" in table:
                    out[f"{column}_{key}"] = (table[f"{column}_{key}"].to_numpy(), text.format(column=column))
    return out


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
