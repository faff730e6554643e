"""Labelled arrays (activity, codes, reconstructions) as netCDF files, written atomically.

netCDF attributes hold only numbers, strings and lists of numbers, and coordinates no Python objects
or booleans, so :func:`netcdf_safe` turns the rest into JSON text, strings and small integers first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from nwb_sae.io.jsonable import dumps, plain
from nwb_sae.io.safe_write import atomic_write


def netcdf_safe(arr: xr.DataArray) -> xr.DataArray:
    """A copy whose attrs and coordinates netCDF can store (JSON for dicts, ints for bools, no None).

    Examples
    --------
    >>> arr = xr.DataArray([1.0], dims="x", attrs={"window": (0, 1), "ok": True, "cfg": {"k": 4}})
    >>> netcdf_safe(arr).attrs
    {'window': [0, 1], 'ok': 1, 'cfg': '{"k": 4}'}
    """
    attrs = {}
    for key, value in arr.attrs.items():
        if value is None:
            continue
        value = plain(value)
        if isinstance(value, bool):
            value = int(value)
        elif isinstance(value, dict | list) and not _numeric_list(value):
            value = dumps(value)
        attrs[key] = value
    out = arr.copy(deep=False)
    out.attrs = attrs
    for name, coord in out.coords.items():
        if coord.dtype == object:
            out = out.assign_coords({name: (coord.dims, coord.values.astype(str))})
        elif coord.dtype == bool:
            out = out.assign_coords({name: (coord.dims, coord.values.astype(np.int8))})
    return out


def _numeric_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)


def write_netcdf(arr: xr.DataArray, path) -> Path:
    """Write ``arr`` to netCDF through a temporary file (never a half-written target).

    Raises :class:`~nwb_sae.errors.DiskFullError` before writing when the folder has less free space
    than the array needs, and when the disk fills up while writing (netCDF reports that only as
    ``NetCDF: HDF error``); nothing is left behind then.

    Examples
    --------
    >>> write_netcdf(codes, tmp_path / "codes.nc")   # doctest: +SKIP
    """
    safe = netcdf_safe(arr)
    size = safe.nbytes + sum(c.nbytes for c in safe.coords.values())  # uncompressed, as to_netcdf writes
    return atomic_write(path, safe.to_netcdf, expected_bytes=size)
