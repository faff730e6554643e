"""Python values JSON can hold, from numpy scalars and arrays, tuples, paths and bytes.

Checkpoints, training histories, metrics, netCDF attributes and the results' provenance all go through
:func:`plain` and :func:`dumps`, so a value is stored the same way wherever it is written.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePath

import numpy as np

from nwb_sae.io.safe_write import atomic_write
from nwb_sae.io.text import as_str

SCALARS = (str, int, float, bool)


def plain(value):
    """``value`` with numpy arrays/scalars, tuples, paths and bytes made plain Python, recursively.

    Dict keys become ``str``; objects JSON does not know are returned unchanged.

    Examples
    --------
    >>> plain({"w": np.array([1, 2]), "k": np.int64(3), "win": (-0.5, 1.0), 1: b"x"})
    {'w': [1, 2], 'k': 3, 'win': [-0.5, 1.0], '1': 'x'}
    """
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, bytes):
        return as_str(value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def json_default(value):
    """``default=`` for :func:`json.dumps`: plain values, else the value's text.

    Examples
    --------
    >>> json.dumps({"a": np.float32(0.5), "b": object}, default=json_default)
    '{"a": 0.5, "b": "<class \\'object\\'>"}'
    """
    value = plain(value)
    if value is None or isinstance(value, (*SCALARS, list, dict)):
        return value
    return str(value)


def dumps(obj, **options) -> str:
    """:func:`json.dumps` with :func:`json_default`."""
    return json.dumps(obj, default=json_default, **options)


def is_simple(value) -> bool:
    """A scalar (str, int, float, bool) or a list of scalars: what fits a netCDF/xarray attribute.

    Examples
    --------
    >>> is_simple([0.0, 1.5]), is_simple({"a": 1})
    (True, False)
    """
    return isinstance(value, SCALARS) or (isinstance(value, list) and all(isinstance(v, SCALARS) for v in value))


def write_json(path, obj) -> Path:
    """Write ``obj`` as indented JSON, atomically (the target is the old file or the complete new one).

    Examples
    --------
    >>> write_json(tmp_path / "metrics.json", {"fvu": np.float32(0.25)})   # doctest: +SKIP
    """
    text = dumps(obj, indent=2)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text), expected_bytes=len(text.encode()))
    return Path(path)
