"""Plain arrays into the labelled [neurons, time, presentations] DataArray.

Handles numpy arrays in memory, ``.npy`` / ``.npz`` files, netCDF files written by xarray and
plain HDF5 datasets. Every reader of this package returns what :func:`to_dataarray` returns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from nwb_sae.errors import InputDataError, NwbSaeError, ObjectNotFoundError, UnsupportedFileError
from nwb_sae.io.diagnose_arrays import (
    array_read_error,
    check_array_file,
    check_fits_in_memory,
    check_numeric_dtype,
)
from nwb_sae.io.text import as_str

ACTIVITY_DIMS = ("neurons", "time", "presentations")
CODE_DIMS = ("latents", "time", "presentations")


def to_dataarray(data, *, source: str = "array", name: str = "activity") -> xr.DataArray:
    """Return ``data`` as a DataArray with dims (neurons, time, presentations).

    Parameters
    ----------
    data : numpy.ndarray or xarray.DataArray
        A 3-D array shaped [neurons, time, presentations], or a DataArray with those dims in any
        order. A 2-D array [neurons, time] is taken as a single presentation.
    source : str
        What the data came from (a file path), used in error messages and ``attrs['source']``.
    name : str
        Name given to the DataArray.

    Returns
    -------
    xarray.DataArray
        float32 data with integer coordinates filled in where none were given.

    Raises
    ------
    InputDataError
        Wrong number of dimensions, unknown dimension names, an empty axis, or values that are not
        real numbers (complex, objects, text: refused by name, never converted silently).

    Examples
    --------
    >>> import numpy as np
    >>> to_dataarray(np.zeros((4, 10, 3))).dims
    ('neurons', 'time', 'presentations')
    """
    if isinstance(data, xr.DataArray):
        missing = [d for d in ACTIVITY_DIMS if d not in data.dims]
        if data.ndim == 2 and "presentations" in missing and len(missing) == 1:
            data = data.expand_dims("presentations", axis=-1)
            missing = []
        if missing or data.ndim != 3:
            raise InputDataError(
                f"{source}: the DataArray has dims {tuple(data.dims)}; nwb-sae needs exactly "
                f"{ACTIVITY_DIMS}. Rename them with .rename({{...}}) or transpose the data."
            )
        arr = data.transpose(*ACTIVITY_DIMS)
    else:
        values = np.asarray(data)
        if values.ndim == 2:
            values = values[:, :, None]
        if values.ndim != 3:
            raise InputDataError(
                f"{source}: the array has {values.ndim} dimension(s) {values.shape}; nwb-sae needs "
                "3 dimensions [neurons, time, presentations], or 2: [neurons, time], a continuous recording "
                "that files and load_data cut into consecutive windows (--window sets their length)."
            )
        arr = xr.DataArray(values, dims=ACTIVITY_DIMS)
    check_numeric_dtype(arr.dtype, source)
    if 0 in arr.shape:
        raise InputDataError(f"{source}: the array has an empty axis, shape {dict(arr.sizes)}.")
    for dim in ACTIVITY_DIMS:
        if dim not in arr.coords:
            arr = arr.assign_coords({dim: np.arange(arr.sizes[dim])})
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
    arr.name = arr.name or name
    arr.attrs.setdefault("source", str(source))
    return arr


def as_recording(data, source: str, window=None) -> xr.DataArray:
    """A file's array as activity: 3-D as it is; 2-D ``[neurons, time]`` cut into consecutive windows.

    See :mod:`nwb_sae.io.recording.continuous` (``window`` sets the windows' length; it does not apply
    to an array that already has presentations).
    """
    from nwb_sae.io.recording.continuous import cut_consecutive, is_continuous

    check_numeric_dtype(data.dtype, source)  # before any windowing casts text or complex values
    if is_continuous(data):
        return to_dataarray(cut_consecutive(data, window, source=source), source=source)
    if window is not None:
        raise InputDataError(
            f"{source}: a window cuts a continuous [neurons, time] recording into consecutive windows; this "
            f"array is shaped {tuple(np.shape(data))} and already has presentations. Drop --window (window=).")
    return to_dataarray(data, source=source)


def read_array_file(path, window=None) -> xr.DataArray:
    """Read a ``.npy``, ``.npz`` or netCDF (``.nc``) file shaped [neurons, time, presentations] or [neurons, time].

    A 2-D array is a continuous recording [neurons, time]: it is cut into consecutive windows as a
    continuous NWB series is (:func:`nwb_sae.io.recording.continuous.cut_consecutive`).

    Parameters
    ----------
    path : str or Path
        The file. An ``.npz`` must hold exactly one array, or one named ``data`` or ``activity``.
    window : (float, float) or float, optional
        Length of the consecutive windows of a 2-D recording (samples, or seconds when a ``.nc`` file
        has a regular ``time`` coordinate); default :data:`nwb_sae.io.align.DEFAULT_WINDOW_SAMPLES` samples.

    Returns
    -------
    xarray.DataArray
    """
    path = Path(path)
    check_array_file(path)  # by cause: missing, empty, not this format, truncated, pickled, complex, ...
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return as_recording(np.load(path, allow_pickle=False), str(path), window)
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                keys = list(npz.keys())
                key = next((k for k in ("data", "activity") if k in keys), None)
                if key is None and len(keys) == 1:
                    key = keys[0]
                if key is None:
                    raise ObjectNotFoundError(
                        f"{path}: holds arrays {keys}; name the activity 'data' or keep one array."
                    )
                return as_recording(npz[key], str(path), window)
        if suffix in (".nc", ".netcdf", ".cdf"):
            with xr.open_dataarray(path) as opened:
                arr = opened.load()
            return as_recording(arr, str(path), window)
    except NwbSaeError:
        raise
    except Exception as err:  # what the checks above could not foresee (a damaged netCDF-4, memory, ...)
        raise array_read_error(path, err) from err
    raise UnsupportedFileError(
        f"{path}: unknown file type '{suffix}'. nwb-sae reads .nwb, .h5/.hdf5, .npy, .npz and .nc."
    )


_DIM_ALIASES = {
    "neurons": ("neurons", "neuron", "cells", "cell", "units", "unit", "rois", "roi", "channels", "channel"),
    "time": ("time", "times", "t", "samples", "sample", "frames", "frame", "bins", "timepoints"),
    "presentations": ("presentations", "presentation", "trials", "trial", "epochs", "repeats", "events"),
}


def _canonical_dim(name: str) -> str | None:
    text = str(name).strip().lower()
    return next((dim for dim, aliases in _DIM_ALIASES.items() if text in aliases), None)


def _stored_dims(dset) -> tuple | None:
    """Dimension names written with the dataset: a ``dims`` attribute, xarray's
    ``_ARRAY_DIMENSIONS``, or HDF5 dimension labels."""
    for key in ("dims", "dimensions", "_ARRAY_DIMENSIONS"):
        value = dset.attrs.get(key)
        if value is not None:
            names = [as_str(v) for v in np.atleast_1d(value)]
            if len(names) == 1 and "," in names[0]:
                names = [n.strip() for n in names[0].split(",")]
            return tuple(names)
    labels = tuple(d.label for d in dset.dims)
    if all(labels):
        return labels
    return None


def _numeric_datasets(h5) -> list:
    import h5py

    found = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "fiub" and obj.ndim >= 2:
            found.append(obj)

    h5.visititems(visit)
    return found


def read_hdf5(path, dataset=None, dims=None, window=None) -> xr.DataArray:
    """Read one dataset of a plain HDF5 file as a DataArray (neurons, time, presentations).

    Parameters
    ----------
    path : str or Path
        Any HDF5 file (an NWB file too: this reads the raw dataset, without NWB labels).
    dataset : str, optional
        Path of the dataset in the file, e.g. ``"traces"`` or ``"/session1/dff"``. Default: the only
        numeric dataset with at least 2 dimensions.
    dims : sequence of str, optional
        Name of each axis of the dataset, e.g. ``("time", "neurons")``. Aliases are accepted
        (``cells``/``rois``/``units``/``channels``, ``frames``/``samples``, ``trials``). Default: the
        dataset's ``dims`` or ``_ARRAY_DIMENSIONS`` attribute or its HDF5 dimension labels; without any,
        the order is taken to be (neurons, time[, presentations]) as for ``.npy`` files.
    window : (float, float) or float, optional
        A 2-D dataset is a continuous recording cut into consecutive windows of this length (see
        :func:`read_array_file`).

    Returns
    -------
    xarray.DataArray
        float32 unless the data are float64. Attached HDF5 dimension scales become coordinates.

    Examples
    --------
    >>> import h5py, numpy as np
    >>> with h5py.File(tmp_path / "rec.h5", "w") as f:                       # doctest: +SKIP
    ...     f["dff"] = np.zeros((1000, 12))
    >>> read_hdf5(tmp_path / "rec.h5", "dff", dims=("time", "neurons")).shape   # doctest: +SKIP
    (12, 1000, 1)
    """
    from nwb_sae.io.h5 import open_h5, reading
    from nwb_sae.io.remote import path_or_url

    path = path_or_url(path)
    with open_h5(path) as h5, reading(path, f"dataset {dataset!r}"):
        candidates = _numeric_datasets(h5)
        listing = ", ".join(f"{d.name} {d.shape}" for d in candidates[:30]) or "(none)"
        if dataset is None:
            if len(candidates) != 1:
                raise ObjectNotFoundError(
                    f"{path}: name the dataset to read (dataset=..., --dataset); numeric datasets "
                    f"with 2 or more dimensions there: {listing}."
                )
            dset = candidates[0]
        else:
            dset = h5.get(str(dataset))
            if dset is None or not hasattr(dset, "dtype"):
                raise ObjectNotFoundError(
                    f"{path}: has no dataset {dataset!r}. Numeric datasets with 2 or more dimensions "
                    f"there: {listing}."
                )
        check_numeric_dtype(dset.dtype, path, f"dataset {dset.name}")
        given = dims is not None
        names = tuple(dims) if given else _stored_dims(dset)
        origin = "given" if given else ("stored with the dataset" if names else "assumed (neurons, time, ...)")
        if names is None:
            names = ACTIVITY_DIMS[: dset.ndim] if dset.ndim in (2, 3) else tuple(f"dim_{i}" for i in range(dset.ndim))
        mapped = tuple(_canonical_dim(n) for n in names)
        if len(names) != dset.ndim or None in mapped or len(set(mapped)) != len(mapped):
            raise InputDataError(
                f"{path}: dataset {dset.name} has shape {dset.shape}; its dims {names} ({origin}) must "
                f"name each axis once as one of {ACTIVITY_DIMS} (or an alias such as 'cells', "
                "'frames', 'trials'). Pass dims=... (e.g. ('time', 'neurons'))."
            )
        check_fits_in_memory(dset.size * max(dset.dtype.itemsize, 4), path, f"dataset {dset.name} {dset.shape}")
        values = dset[()]
        coords = {}
        for axis, dim in enumerate(mapped):
            scales = dset.dims[axis]
            if len(scales) and scales[0].ndim == 1 and scales[0].shape[0] == dset.shape[axis]:
                coords[dim] = scales[0][()]
        name = dset.name
    arr = xr.DataArray(values, dims=mapped, coords=coords)
    out = as_recording(arr, str(path), window)
    out.attrs.update({"file": str(path), "dataset": name, "dims": list(names), "dims_origin": origin})
    return out
