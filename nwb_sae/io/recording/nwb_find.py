"""Finding things in an open NWB file: activity sources and interval tables.

Everything here looks at shapes and metadata only; no series data is read.

Automatic choice of the activity
--------------------------------
Candidates are ranked in tiers: (1) RoiResponseSeries and Units tables: recorded neurons;
(2) ElectricalSeries (raw or LFP): channels; (3) any other TimeSeries with a 2-D (time, channels)
array. Series that are images, positions, stimuli or single channels are listed but never chosen
automatically. The best tier must hold one candidate, or candidates of one kind where one is
preferred (ROI traces: DfOverF over Fluorescence over Deconvolved over Neuropil). Anything else is
ambiguous and the error lists the paths to choose from.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from nwb_sae.errors import InputDataError, ObjectNotFoundError
from nwb_sae.io.recording.nwb_file import object_path

TIERS = {"roi_response": 1, "units": 1, "electrical": 2, "timeseries": 3}
LOOKED_FOR = ("RoiResponseSeries (DfOverF, Fluorescence, Deconvolved), a Units table, ElectricalSeries "
              "(raw or LFP), and TimeSeries with a 2-D (time, channels) array")


class ActivityCandidate(NamedTuple):
    """One series or table that could be read as activity."""

    path: str
    """Path in the file, e.g. ``processing/ophys/Fluorescence/RoiResponseSeries`` or ``units``."""
    neurodata_type: str
    """pynwb class name (``RoiResponseSeries``, ``Units``, an extension's type...)."""
    kind: str
    """'roi_response', 'units', 'electrical', 'timeseries', or 'other' (never chosen automatically)."""
    n_neurons: int
    """Neurons, ROIs or channels (0 when unusable)."""
    n_samples: int | None
    """Samples in time; None for spike times."""
    shape: tuple
    """Shape of the stored data (spike times: total spike count)."""
    sampling: str
    """Readable description: '10 Hz', 'timestamps (~30.0 Hz)', 'spike times'."""
    transposed: bool
    """Data stored as (neurons, time) instead of NWB's (time, neurons)."""
    note: str
    """Anything unusual (no data, mismatched electrodes, why it is not chosen automatically)."""
    usable: bool
    """Whether it can be read at all."""
    container: Any
    """The pynwb object."""

    @property
    def tier(self) -> int:
        """Rank for the automatic choice (1 is best; 9 never chosen)."""
        return TIERS.get(self.kind, 9) if self.usable else 9

    def label(self) -> str:
        """One-line summary used in messages."""
        if self.kind == "units":
            size = f"{self.n_neurons} units, spike times"
        elif self.usable:
            size = f"{self.n_neurons} x {self.n_samples} samples, {self.sampling}"
        else:
            return f"{self.path} ({self.neurodata_type}, {self.note})"
        return f"{self.path} ({self.neurodata_type}, {size}{'; ' + self.note if self.note else ''})"


class IntervalTable(NamedTuple):
    """An interval table (TimeIntervals) usable as presentations."""

    path: str
    name: str
    n_rows: int
    columns: tuple
    container: Any


def _region_length(series) -> int | None:
    region = getattr(series, "rois", None) if hasattr(series, "rois") else getattr(series, "electrodes", None)
    if region is None:
        return None
    return len(region.data)


def _shape(data) -> tuple:
    if data is None:
        return ()
    shape = getattr(data, "shape", None)
    if shape is None:
        try:
            return (len(data),)
        except TypeError:
            return ()
    return tuple(shape)


def describe_series(io, series) -> ActivityCandidate:
    """Classify one TimeSeries and work out its orientation, size and sampling."""
    from pynwb.base import TimeSeries
    from pynwb.behavior import SpatialSeries
    from pynwb.ecephys import ElectricalSeries, SpikeEventSeries
    from pynwb.image import ImageSeries
    from pynwb.misc import AnnotationSeries, IntervalSeries
    from pynwb.ophys import RoiResponseSeries

    assert isinstance(series, TimeSeries)
    path = object_path(io, series)
    type_name = type(series).__name__
    if isinstance(series, RoiResponseSeries):
        kind = "roi_response"
    elif isinstance(series, ElectricalSeries) and not isinstance(series, SpikeEventSeries):
        kind = "electrical"
    else:
        kind = "timeseries"
    shape = _shape(series.data)
    timestamps = series.timestamps
    n_timestamps = _shape(timestamps)[0] if timestamps is not None and _shape(timestamps) else None
    rate = series.rate
    notes = []
    transposed = False
    if timestamps is not None:
        sampling = "timestamps"
    elif rate:
        sampling = f"{rate:g} Hz"
    else:
        sampling = "no timing"
    usable = True
    if not shape or 0 in shape:
        usable, notes = False, ["no data"]
        n_neurons, n_samples = 0, 0
    elif len(shape) > 2:
        usable, notes = False, [f"{len(shape)}-D data (images or snippets), not (time, channels)"]
        n_neurons, n_samples = 0, shape[0]
    elif len(shape) == 1:
        n_neurons, n_samples = 1, shape[0]
    else:
        region = _region_length(series) if kind != "timeseries" else None
        rows, cols = shape
        if n_timestamps is not None and n_timestamps != rows and n_timestamps == cols:
            transposed = True
        elif n_timestamps is None and region is not None and cols != region and rows == region:
            transposed = True
        if transposed:
            notes.append("stored transposed as (neurons, time)")
        n_samples, n_neurons = (cols, rows) if transposed else (rows, cols)
        if region is not None and region != n_neurons:
            notes.append(f"{region} table rows listed for {n_neurons} channels: ids are channel positions")
    if usable and timestamps is None and not rate:
        usable = False
        notes.append("no timing: rate is 0 and there are no timestamps")
    if usable and n_timestamps is not None and n_timestamps != n_samples:
        usable = False
        notes.append(f"{n_timestamps} timestamps for {n_samples} samples")
    excluded = (ImageSeries, SpatialSeries, AnnotationSeries, IntervalSeries, SpikeEventSeries)
    if usable and kind == "timeseries" and (
        len(shape) == 1 or isinstance(series, excluded) or path.startswith("stimulus/")
    ):
        kind = "other"
        notes.append("one channel: read only when named" if len(shape) == 1 else
                     "not neural activity (images, positions, stimuli): read only when named")
    return ActivityCandidate(path, type_name, kind, n_neurons, n_samples, shape, sampling, transposed,
                             "; ".join(notes), usable, series)


def describe_units(io, units) -> ActivityCandidate:
    """Describe a Units table as an activity candidate."""
    path = object_path(io, units)
    n_units = len(units.id)
    spikes = next((col for col in units.columns if col.name == "spike_times"), None)
    has_spikes = spikes is not None
    n_spikes = len(spikes.data) if has_spikes else 0
    usable = has_spikes and n_units > 0
    note = "" if usable else ("no spike_times column" if not has_spikes else "no units")
    return ActivityCandidate(path, type(units).__name__, "units", n_units if usable else 0, None,
                             (n_spikes,), "spike times", False, note, usable, units)


def activity_candidates(io, nwbfile) -> list[ActivityCandidate]:
    """Every series or Units table in the file that could be read as activity, best first."""
    from pynwb.base import TimeSeries
    from pynwb.misc import Units

    found = []
    for obj in nwbfile.objects.values():
        if not isinstance(obj, Units | TimeSeries):
            continue
        try:
            found.append(describe_units(io, obj) if isinstance(obj, Units) else describe_series(io, obj))
        except Exception as err:  # one malformed object must not hide the others
            found.append(ActivityCandidate(
                _safe_path(io, obj), type(obj).__name__, "other", 0, None, (), "", False,
                f"cannot be read ({type(err).__name__}: {err})", False, obj,
            ))
    found.sort(key=lambda c: (c.tier, -_preference(c), c.path))
    return found


def _safe_path(io, obj) -> str:
    try:
        return object_path(io, obj)
    except Exception:  # only used to label an object that is already known to be broken
        return str(getattr(obj, "name", "?"))


def _preference(candidate: ActivityCandidate) -> int:
    """Within ROI traces: DfOverF > Fluorescence > Deconvolved > Neuropil."""
    if candidate.kind != "roi_response":
        return 0
    text = candidate.path.lower()
    if "neuropil" in text:
        return -2
    if "deconv" in text or "spks" in text:
        return -1
    parent = candidate.container.parent
    return 2 if type(parent).__name__ == "DfOverF" else 1


def _normalise(name: str) -> str:
    name = name.strip().strip("/")
    return name[len("root/"):] if name.startswith("root/") else name


def choose_activity(path, candidates: list[ActivityCandidate], activity: str | None) -> ActivityCandidate:
    """Pick the candidate named ``activity`` (a path or a unique name), or the obvious one.

    Raises
    ------
    ObjectNotFoundError
        The name matches nothing (the message lists what the file holds), or the file holds no activity.
    InputDataError
        Several candidates fit equally well, or the named one cannot be read.
    """
    listing = "\n  ".join(c.label() for c in candidates) or "(none)"
    if activity is not None:
        wanted = _normalise(activity)
        matches = [c for c in candidates if c.path == wanted]
        if not matches:
            matches = [c for c in candidates
                       if f"/{wanted}/" in f"/{c.path}/" or c.container.name == wanted]
        if len(matches) != 1:
            problem = "is not an activity source in the file" if not matches else "matches several objects"
            raise ObjectNotFoundError(
                f"{path}: {activity!r} {problem}. Pass one of these paths as activity:\n  {listing}"
            )
        chosen = matches[0]
        if not chosen.usable:
            raise InputDataError(f"{path}: {chosen.path} cannot be read as activity: {chosen.note}.")
        return chosen
    usable = [c for c in candidates if c.tier < 9 and c.kind != "other"]
    if not usable:
        raise ObjectNotFoundError(
            f"{path}: no neural activity found. nwb-sae looked for {LOOKED_FOR}. "
            f"The file holds:\n  {listing}\nName one with activity=PATH if it is what you want."
        )
    best = [c for c in usable if c.tier == usable[0].tier]
    top = [c for c in best if _preference(c) == _preference(best[0])]
    if len({c.kind for c in best}) > 1 or len(top) > 1:
        choices = "\n  ".join(c.label() for c in best)
        raise InputDataError(
            f"{path}: several activity sources fit equally well; choose one with activity=PATH "
            f"(--activity on the command line):\n  {choices}"
        )
    return top[0]


def interval_tables(io, nwbfile) -> list[IntervalTable]:
    """Every TimeIntervals table in the file (trials, epochs, ``intervals/*``, inside processing)."""
    from pynwb.epoch import TimeIntervals

    tables = []
    for obj in nwbfile.objects.values():
        if isinstance(obj, TimeIntervals):
            try:
                tables.append(IntervalTable(object_path(io, obj), obj.name, len(obj.id), tuple(obj.colnames), obj))
            except Exception:  # an unreadable table is simply not offered
                continue
    return sorted(tables, key=lambda t: t.path)


def choose_table(path, tables: list[IntervalTable], name: str) -> IntervalTable:
    """The interval table named ``name``: a path (``intervals/encoding_table``) or a unique table name.

    Raises
    ------
    ObjectNotFoundError
        Listing the tables of the file.
    """
    wanted = _normalise(name)
    matches = [t for t in tables if t.path == wanted] or [
        t for t in tables if t.name == wanted or t.path.endswith("/" + wanted)
    ]
    if len(matches) == 1:
        return matches[0]
    listing = "\n  ".join(f"{t.path} ({t.n_rows} rows; columns {', '.join(t.columns)})" for t in tables)
    problem = "is not an interval table in the file" if not matches else "matches several tables"
    raise ObjectNotFoundError(
        f"{path}: {name!r} {problem}. "
        + (f"Interval tables there:\n  {listing}" if tables else
           "The file has no interval tables: leave presentations unset to cut the recording into "
           "consecutive windows.")
    )
