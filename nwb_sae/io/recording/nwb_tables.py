"""DynamicTable columns as plain 1-D numpy arrays, for DataArray coordinates and for selections.

Scalar columns become coordinates as they are (bytes decoded to str, object references to their
names); ragged string columns (``tags``) are joined with commas; narrow 2-D columns are split into
``name_0, name_1, ...`` except suite2p's ``iscell`` (probability pairs), which becomes ``iscell``
(bool) and ``iscell_probability``. Masks, waveforms, spike times and region columns are skipped.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from nwb_sae.errors import InputDataError
from nwb_sae.io.text import as_str_array

SKIP = {"spike_times", "obs_intervals", "image_mask", "pixel_mask", "voxel_mask", "waveform_mean",
        "waveform_sd", "waveforms", "electrodes", "timeseries"}
MAX_SPLIT = 4


def _as_text(values: np.ndarray) -> np.ndarray:
    """Texts of a column; a reference to an ElectrodeGroup, Device, ... becomes the object's name."""
    return as_str_array(v.name if hasattr(v, "name") and not isinstance(v, str | bytes | np.generic) else v
                        for v in values)


def _column_values(column, index, rows):
    """Values of one column for ``rows`` (None: all), or None when it does not make a coordinate."""
    from hdmf.common.table import DynamicTableRegion

    if isinstance(column, DynamicTableRegion):
        return None
    data = column.data
    if index is not None:  # ragged: only strings are kept, joined
        bounds = np.asarray(index.data[:], dtype=np.int64)
        starts = np.concatenate([[0], bounds[:-1]])
        target = data[:]
        if target.dtype.kind not in "OSU":
            return None
        texts = _as_text(np.asarray(target, dtype=object)) if len(target) else np.array([], dtype=str)
        joined = np.array([",".join(texts[a:b]) for a, b in zip(starts, bounds, strict=True)], dtype=str)
        return joined if rows is None else joined[rows]
    values = np.asarray(data[:]) if rows is None else np.asarray(data[:])[rows]
    if values.dtype.names is not None:  # compound (references, masks)
        return None
    if values.dtype.kind in "OS":
        return _as_text(values)
    return values


def table_columns(table, rows=None, skip=()) -> dict[str, np.ndarray]:
    """A DynamicTable's columns as 1-D arrays, one value per (selected) row.

    Parameters
    ----------
    table : hdmf.common.DynamicTable
    rows : array_like of int, optional
        Row positions to keep (default: all).
    skip : iterable of str
        More column names to leave out.

    Returns
    -------
    dict
        Column name -> numpy array. Columns that cannot be read are left out.
    """
    from hdmf.common.table import VectorIndex

    skip = set(skip) | SKIP
    by_name = {col.name: col for col in table.columns}
    out = {}
    for name in table.colnames:
        if name in skip or name not in by_name:
            continue
        index = by_name.get(f"{name}_index")
        index = index if isinstance(index, VectorIndex) else None
        if index is not None and by_name.get(f"{name}_index_index") is not None:
            continue  # doubly ragged
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                values = _column_values(by_name[name], index, rows)
        except Exception:  # an odd column must not stop the whole read; it is just not a coordinate
            continue
        if values is None or values.ndim == 0:
            continue
        if values.ndim == 1:
            out[name] = values
        elif values.ndim == 2 and name == "iscell" and values.shape[1] == 2:
            out["iscell"] = values[:, 0] > 0.5
            out["iscell_probability"] = values[:, 1]
        elif values.ndim == 2 and values.shape[1] <= MAX_SPLIT:
            for j in range(values.shape[1]):
                out[f"{name}_{j}"] = values[:, j]
    return out


def select_rows(path, what: str, columns: dict[str, np.ndarray], condition) -> np.ndarray:
    """Boolean mask of the rows meeting ``condition``.

    Parameters
    ----------
    path : str
        The file, for messages.
    what : str
        'neurons' or 'presentations', for messages.
    columns : dict
        Column name -> values (as from :func:`table_columns`), all the same length.
    condition : str, dict or callable
        A pandas query string (``"stimCategory == 2 and accuracy == 1"``, ``"iscell"``), a dict
        ``{column: value or list of values}``, or a function of a pandas DataFrame returning a mask.

    Examples
    --------
    >>> cols = {"condition": np.array([0, 1, 2, 1])}
    >>> select_rows("f.nwb", "presentations", cols, "condition == 1")
    array([False,  True, False,  True])
    >>> select_rows("f.nwb", "presentations", cols, {"condition": [0, 2]})
    array([ True, False,  True, False])
    """
    frame = pd.DataFrame(columns)
    try:
        if isinstance(condition, str):
            mask = frame.eval(condition)
        elif isinstance(condition, dict):
            mask = np.ones(len(frame), dtype=bool)
            for key, value in condition.items():
                allowed = value if isinstance(value, list | tuple | set | np.ndarray) else [value]
                mask &= frame[key].isin(list(allowed)).to_numpy()
        elif callable(condition):
            mask = condition(frame)
        else:
            raise TypeError(f"expected a query string, a dict or a function, got {type(condition).__name__}")
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape != (len(frame),):
            raise TypeError("the condition must give one True/False per row")
    except Exception as err:
        raise InputDataError(
            f"{path}: cannot select {what} with {condition!r} ({type(err).__name__}: {err}). "
            f"Columns available: {', '.join(columns) or '(none)'}."
        ) from err
    return mask
