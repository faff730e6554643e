"""Plain arrays into the labelled [neurons, time, presentations] DataArray.

Handles numpy arrays in memory, ``.npy`` / ``.npz`` files, netCDF files written by xarray and
plain HDF5 datasets. Every reader of this package returns what :func:`to_dataarray` returns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from nwb_sae.errors import InputDataError, ObjectNotFoundError, UnsupportedFileError

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
        Wrong number of dimensions, unknown dimension names, or an empty axis.

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
                "3 dimensions [neurons, time, presentations] (or 2: [neurons, time])."
            )
        arr = xr.DataArray(values, dims=ACTIVITY_DIMS)
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


def read_array_file(path) -> xr.DataArray:
    """Read a ``.npy``, ``.npz`` or netCDF (``.nc``) file shaped [neurons, time, presentations].

    Parameters
    ----------
    path : str or Path
        The file. An ``.npz`` must hold exactly one array, or one named ``data`` or ``activity``.

    Returns
    -------
    xarray.DataArray
    """
    path = Path(path)
    if not path.exists():
        raise UnsupportedFileError(f"{path}: no such file.")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return to_dataarray(np.load(path, allow_pickle=False), source=str(path))
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
                return to_dataarray(npz[key], source=str(path))
        if suffix in (".nc", ".netcdf", ".cdf"):
            with xr.open_dataarray(path) as opened:
                arr = opened.load()
            return to_dataarray(arr, source=str(path))
    except ValueError as err:  # numpy refuses pickled object arrays, malformed headers, ...
        if isinstance(err, InputDataError):
            raise
        raise UnsupportedFileError(f"{path}: cannot be read as {suffix}: {err}") from err
    except OSError as err:
        raise UnsupportedFileError(f"{path}: cannot be read as {suffix}: {err}") from err
    raise UnsupportedFileError(
        f"{path}: unknown file type '{suffix}'. nwb-sae reads .nwb, .h5/.hdf5, .npy, .npz and .nc."
    )
