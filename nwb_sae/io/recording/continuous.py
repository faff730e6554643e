"""A continuous ``[neurons, time]`` array cut into consecutive windows, as a continuous NWB series is.

Files (``.npy``, ``.npz``, ``.nc``, plain HDF5) and :func:`nwb_sae.load_data` read a 2-D array as one
continuous recording ``[neurons, time]`` and cut it into back-to-back windows by the rule of
:mod:`nwb_sae.io.align` (default :data:`~nwb_sae.io.align.DEFAULT_WINDOW_SAMPLES` samples per window,
trailing samples that do not fill a window are left out), so that training has presentations to split.
The time base is the array's ``time`` coordinate when it has a regular one, otherwise the sample index
(``dt = 1``: a window is then given in samples).

This is not the scikit-learn convention: :class:`nwb_sae.SAE` takes an in-memory 2-D *numpy* array as
population vectors ``(samples, neurons)``. Files hold recordings, estimators take samples.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from nwb_sae.errors import InputDataError
from nwb_sae.io import align

CONTINUOUS_DIMS = ("neurons", "time")


def is_continuous(data) -> bool:
    """A 2-D numpy array, or a DataArray with exactly the dims ``neurons`` and ``time``."""
    if isinstance(data, xr.DataArray):
        return set(data.dims) == set(CONTINUOUS_DIMS)
    return np.ndim(data) == 2


def _time_base(arr: xr.DataArray) -> tuple[float, float, str]:
    """(dt, time of sample 0, unit) from a regular numeric ``time`` coordinate, else (1, 0, 'samples')."""
    if "time" in arr.coords and arr.sizes["time"] > 1 and np.issubdtype(arr["time"].dtype, np.number):
        t = np.asarray(arr["time"].values, dtype=float)
        steps = np.diff(t)
        dt = float(np.median(steps))
        if dt > 0 and np.all(np.abs(steps - dt) <= 1e-6 * dt):
            return dt, float(t[0]), "seconds"
    return 1.0, 0.0, "samples"


def cut_consecutive(data, window=None, *, source: str = "array") -> xr.DataArray:
    """Cut a continuous recording ``[neurons, time]`` into consecutive windows ``(neurons, time, presentations)``.

    Parameters
    ----------
    data : numpy.ndarray or xarray.DataArray
        Shaped [neurons, time] (numpy), or a DataArray with dims ``neurons`` and ``time``.
    window : (float, float) or float, optional
        Window length as ``(start, stop)`` (only ``stop - start`` matters for consecutive windows) or a
        single length, in the units of the time base: seconds with a regular ``time`` coordinate,
        samples without one. Default: :data:`~nwb_sae.io.align.DEFAULT_WINDOW_SAMPLES` samples, or the
        whole recording when it is shorter.
    source : str
        The file, for messages and ``attrs['source']``.

    Returns
    -------
    xarray.DataArray
        float32, dims (neurons, time, presentations); presentations carry ``start_time``/``stop_time``;
        attrs record the window, the bin size, the alignment rule and the samples left out at the end.

    Raises
    ------
    InputDataError
        An empty axis, or a recording shorter than one window.

    Examples
    --------
    >>> cut_consecutive(np.zeros((3, 250))).sizes["presentations"]
    2
    >>> cut_consecutive(np.zeros((3, 250)), window=(0, 50)).sizes["time"]
    50
    """
    arr = data.transpose(*CONTINUOUS_DIMS) if isinstance(data, xr.DataArray) else \
        xr.DataArray(np.asarray(data), dims=CONTINUOUS_DIMS)
    if 0 in arr.shape:
        raise InputDataError(f"{source}: the recording has an empty axis, shape {dict(arr.sizes)}.")
    dt, t_first, unit = _time_base(arr)
    n_total = arr.sizes["time"]
    t_end = t_first + n_total * dt
    window = align.as_window(window, source)
    if window is None:
        window = align.default_consecutive_window(dt, t_first, t_end)
    n = align.n_window_samples(window, dt)
    length = f"{n} samples" + (f" ({n * dt:g} s)" if unit == "seconds" else "")
    if n < 1 or n > n_total:
        raise InputDataError(
            f"{source}: a window of {length} does not fit the recording of "
            f"{n_total} samples [neurons, time] (time in {unit}); give a window of 1 to {n_total * dt:g} {unit} "
            "(--window 0,LENGTH)."
        )
    events = align.consecutive_events(t_first, t_end, window)
    starts = align.regular_starts(events, window[0], rate=1.0 / dt, starting_time=t_first)
    starts = starts[align.inside(starts, n, n_total)]
    values = np.asarray(arr.values)
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float32)
    windows = values[:, starts[:, None] + np.arange(n)[None, :]].transpose(0, 2, 1)  # (neurons, n, windows)
    begins = t_first + starts * dt
    coords = {name: c for name, c in arr.coords.items() if c.dims == ("neurons",)}
    coords.update(time=window[0] + np.arange(n) * dt, presentations=np.arange(len(starts)),
                  start_time=("presentations", begins), stop_time=("presentations", begins + n * dt))
    left_out = n_total - int(len(starts) * n)
    attrs = {**arr.attrs, "source": arr.attrs.get("source", str(source)), "window": [float(window[0]), float(window[0] + n * dt)],
             "bin_size": float(dt), "presentations": "consecutive windows",
             "alignment": f"consecutive windows of {length} over the whole [neurons, time] "
                          f"recording; {left_out} trailing sample(s) left out",
             "time_unit": unit}
    return xr.DataArray(windows, dims=("neurons", "time", "presentations"), coords=coords,
                        name=arr.name or "activity", attrs=attrs)
