"""What kind of signal a series holds, from where it sits and what it is called: ``attrs["signal"]``.

The front end (:mod:`nwb_sae.preprocess`) deconvolves fluorescence and dF/F and nothing else, so the
readers say which one they read. ROI traces are recognised by their NWB type and containers
(``RoiResponseSeries`` under ``Fluorescence`` or ``DfOverF``) and by the names suite2p, CaImAn and
roiextractors give their outputs: suite2p's ``Deconvolved`` and ``spks``, CaImAn's ``S`` and any
``spikes`` / ``events`` series are already deconvolved and are left alone, as are spike-sorted units
and electrical series.
"""

from __future__ import annotations

import re

DECONVOLVED_NAMES = ("deconvolved", "deconv", "spks", "spikes", "spike", "events", "inferred")
"""Name parts (lower case) of series that already hold spike estimates."""
DFF_NAMES = ("dfoverf", "dff", "deltaf", "df_f")
"""Name parts of dF/F series."""
FLUORESCENCE_NAMES = ("fluorescence", "f", "fneu", "neuropil", "roiresponseseries", "raw", "c", "f_raw")
"""Names of (raw or neuropil) fluorescence series in plain arrays (suite2p's ``F.npy``, CaImAn's ``C``)."""


def _parts(path: str) -> list[str]:
    return [p for p in re.split(r"[/\\.]+", str(path).lower()) if p and p not in ("npy", "h5", "hdf5", "nwb")]


def signal_of_series(kind: str, path: str) -> str:
    """``attrs["signal"]`` of an NWB activity source: its reader's ``kind`` and its path in the file.

    Examples
    --------
    >>> signal_of_series("roi_response", "processing/ophys/Fluorescence/RoiResponseSeries")
    'fluorescence'
    >>> signal_of_series("roi_response", "processing/ophys/Deconvolved/Deconvolved")
    'deconvolved'
    >>> signal_of_series("roi_response", "processing/ophys/DfOverF/RoiResponseSeries")
    'dff'
    >>> signal_of_series("units", "units"), signal_of_series("electrical", "acquisition/ElectricalSeries")
    ('spikes', 'ephys')
    """
    if kind == "units":
        return "spikes"
    if kind == "electrical":
        return "ephys"
    parts = _parts(path)[-2:]  # the series and its container
    if any(name in part for part in parts for name in DECONVOLVED_NAMES):
        return "deconvolved"
    if any(name in part for part in parts for name in DFF_NAMES):
        return "dff"
    if kind == "roi_response":
        return "fluorescence"
    return ""


def signal_of_name(name: str) -> str:
    """``attrs["signal"]`` of a plain array from its file or dataset name ('' when it does not say).

    Examples
    --------
    >>> signal_of_name("suite2p/plane0/F.npy"), signal_of_name("suite2p/plane0/spks.npy")
    ('fluorescence', 'deconvolved')
    >>> signal_of_name("estimates/F_dff"), signal_of_name("traces.npy")
    ('dff', '')
    """
    parts = _parts(name)
    last = parts[-1] if parts else ""
    if last in ("s",) or any(n in last for n in DECONVOLVED_NAMES):
        return "deconvolved"
    if any(n in last for n in DFF_NAMES):
        return "dff"
    if last in FLUORESCENCE_NAMES or "fluorescence" in last:
        return "fluorescence"
    return ""


def indicator_of(series) -> str:
    """The calcium indicator an ROI series' imaging plane names ('' when it names none or 'unknown')."""
    try:
        indicator = str(series.rois.table.imaging_plane.indicator or "")
    except AttributeError:
        return ""
    return "" if indicator.strip().lower() in ("", "unknown", "none", "n/a") else indicator
