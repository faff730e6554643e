"""The front end's one rule: which activity is deconvolved, on what stretch of time, and the record of it.

Calcium indicators smear each spike over a second or more, so on raw fluorescence one co-activation
covers many frames and the ensembles blur. The kernel acts per neuron: ``y = k * (W z) = W (k * z)``,
so inverting it neuron by neuron leaves the ensemble weights ``W`` unchanged and only makes the codes
event-like again -- what the field does before looking for ensembles (suite2p, CaImAn, Xsembles, SGC).

``preprocess="auto"`` (the default) deconvolves what a reader marked as fluorescence or dF/F
(``attrs["signal"]``, :data:`FLUORESCENCE_SIGNALS`) and leaves everything else as it is: spike counts,
LFP/ephys, series that are already deconvolved (suite2p's ``Deconvolved`` / ``spks``), and arrays
nobody marked. ``"deconvolve"`` always deconvolves; ``"none"`` never does. The choice, the parameters
(decay time, AR coefficient and noise of each neuron, baseline window) and where it ran are kept in a
:class:`Preprocessing` record that travels with the model, so ``encode`` applies the same transform
and the NWB provenance says what was done.

Deconvolution needs continuous time. Presentations that tile the recording (the readers' consecutive
windows: back-to-back event times, or ``attrs["presentations"] == "consecutive windows"``) are joined
into continuous runs first; presentations that do not (trial-aligned windows) are deconvolved one by
one, and the summary says so.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import xarray as xr

from nwb_sae.errors import InputDataError
from nwb_sae.io.recording.nwb_windows import presentation_events
from nwb_sae.preprocess.baseline import BASELINE_WINDOW
from nwb_sae.preprocess.decay import indicator_decay
from nwb_sae.preprocess.traces import deconvolve_runs

log = logging.getLogger(__name__)

PREPROCESS_MODES = ("auto", "deconvolve", "none")
SIGNAL_ATTR = "signal"
"""The attrs key readers set to say what the values are (``fluorescence``, ``dff``, ``deconvolved``,
``spikes``, ``ephys``); set it on your own DataArray for ``auto`` to recognise it."""
FLUORESCENCE_SIGNALS = ("fluorescence", "dff")
"""The ``attrs["signal"]`` values ``auto`` deconvolves."""
PREPROCESSED_ATTR = "preprocessed"
"""The attrs key this front end sets on its output, so the same data is never deconvolved twice."""
METHOD = "unpenalised non-negative AR(1) deconvolution (pool adjacent violators), divided by each neuron's noise"
TIMING_TOLERANCE = 0.01
"""Relative difference of frame periods (or of window joins) still taken as the same."""


@dataclass
class Preprocessing:
    """What the front end did to the activity (JSON-able; saved with the model and in the NWB provenance)."""

    method: str = "none"
    """``deconvolve`` or ``none``."""
    summary: str = ""
    """The one line that says what was done and why."""
    setting: str = "auto"
    """The ``preprocess`` setting that decided it."""
    signal: str = ""
    """What the data were marked as (``attrs["signal"]``)."""
    frame_rate: float | None = None
    """Frames per second, from the ``time`` coordinate."""
    scope: str = ""
    """``continuous`` (joined consecutive windows) or ``per presentation`` (trial-aligned windows)."""
    baseline_window: float | None = None
    """Seconds of the running maximin baseline."""
    decay_source: str = ""
    """``given``, ``indicator <name>`` or ``estimated``."""
    decay_time: list = field(default_factory=list)
    """Per neuron, seconds."""
    ar_coefficients: list = field(default_factory=list)
    """Per neuron, ``exp(-1 / (decay_time * frame_rate))``."""
    noise: list = field(default_factory=list)
    """Per neuron, the noise standard deviation the spikes were divided by (input units)."""

    def subset(self, positions) -> Preprocessing:
        """The record of the neurons at ``positions`` (the ones a model kept)."""
        positions = np.asarray(positions, dtype=np.int64)

        def pick(values: list) -> list:
            return np.asarray(values)[positions].tolist() if len(values) else []

        return replace(self, decay_time=pick(self.decay_time), ar_coefficients=pick(self.ar_coefficients),
                       noise=pick(self.noise))

    def to_json(self) -> dict:
        """The record as plain JSON data."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict | None) -> Preprocessing:
        """The record back from :meth:`to_json` (an empty record for None)."""
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in (data or {}).items() if k in known})


def frame_rate_of(data: xr.DataArray) -> float | None:
    """Frames per second from the ``time`` coordinate (None with fewer than two time points)."""
    if "time" not in data.coords or data.sizes["time"] < 2:
        return None
    steps = np.diff(np.asarray(data["time"].values, dtype=np.float64))
    step = float(np.median(steps))
    return 1.0 / step if step > 0 else None


def wants_deconvolution(data: xr.DataArray, setting: str) -> tuple[bool, str]:
    """The rule: (deconvolve?, why in words) for ``setting`` on ``data``."""
    if setting not in PREPROCESS_MODES:
        raise ValueError(f"preprocess must be one of {PREPROCESS_MODES}, got {setting!r}")
    signal = str(data.attrs.get(SIGNAL_ATTR, "") or "")
    if data.attrs.get(PREPROCESSED_ATTR):
        return False, f"already deconvolved by nwb-sae ({data.attrs[PREPROCESSED_ATTR]})"
    if setting == "none":
        return False, "preprocess='none'"
    if setting == "deconvolve":
        return True, "preprocess='deconvolve'"
    if signal in FLUORESCENCE_SIGNALS:
        return True, f"the activity is {'dF/F' if signal == 'dff' else 'fluorescence'}"
    if signal:
        return False, f"the activity is {signal}, not fluorescence"
    return False, (f"the activity is not marked as fluorescence (attrs[{SIGNAL_ATTR!r}] is not set; "
                   "set it to 'fluorescence' or use preprocess='deconvolve')")


def _runs(data: xr.DataArray) -> tuple[list[np.ndarray], str]:
    """Presentation indices grouped into runs that are continuous in time, and the scope in words."""
    n_p, n_t = data.sizes["presentations"], data.sizes["time"]
    events = presentation_events(data)
    if events is not None and n_p > 1:
        order_ok = np.all(np.diff(events) > 0)
        step = n_t / frame_rate_of(data) if frame_rate_of(data) else np.nan
        joins = np.abs(np.diff(events) - step) <= TIMING_TOLERANCE * step
        if order_ok and joins.any():
            breaks = np.flatnonzero(~joins) + 1
            runs = np.split(np.arange(n_p), breaks)
            return runs, "continuous" if len(runs) == 1 else f"continuous ({len(runs)} runs)"
    if data.attrs.get("presentations") == "consecutive windows" or n_p == 1:
        return [np.arange(n_p)], "continuous"
    return [np.array([p]) for p in range(n_p)], "per presentation"


def _joined(values: np.ndarray, run: np.ndarray) -> np.ndarray:
    """(neurons, time x presentations of the run) with the run's presentations end to end."""
    block = values[:, :, run]
    return block.transpose(0, 2, 1).reshape(block.shape[0], -1)


GROUP_BYTES = 64 * 2**20
"""Neurons are deconvolved in groups of about this many bytes of float64 input (a lazy recording is read
group by group, so memory is bounded by the group and the float32 output, not by float64 copies)."""


def _transform(data: xr.DataArray, frame_rate: float, decay_time, noise) -> tuple[xr.DataArray, dict, str]:
    """Deconvolve ``data`` run by run and neuron group by neuron group; the output keeps the input's labels."""
    runs, scope = _runs(data)
    data = data.transpose("neurons", "time", "presentations")
    n_n, n_t, n_p = data.shape
    group = int(max(1, GROUP_BYTES // max(8 * n_t * n_p, 1)))
    out = np.empty((n_n, n_t, n_p), dtype=np.float32)
    decay = None if decay_time is None else np.broadcast_to(np.asarray(decay_time, dtype=np.float64), (n_n,))
    parts = []
    for lo in range(0, n_n, group):
        hi = min(lo + group, n_n)
        values = np.asarray(data[lo:hi].values, dtype=np.float64)
        spikes, params = deconvolve_runs([_joined(values, run) for run in runs], frame_rate,
                                         None if decay is None else decay[lo:hi],
                                         None if noise is None else np.asarray(noise)[lo:hi])
        for run, block in zip(runs, spikes, strict=True):
            out[lo:hi, :, run] = block.reshape(hi - lo, len(run), n_t).transpose(0, 2, 1)
        parts.append(params)
    params = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    result = xr.DataArray(out, dims=data.dims, coords=data.coords, name=data.name, attrs=dict(data.attrs))
    return result, params, scope


def _decay_setting(data: xr.DataArray, decay_time) -> tuple[object, str]:
    if decay_time is not None:
        return float(decay_time), "given"
    indicator = str(data.attrs.get("indicator", "") or "")
    known = indicator_decay(indicator)
    if known is not None:
        return known, f"indicator {indicator}"
    return None, "estimated"


def _summary(record: Preprocessing, why: str, own: np.ndarray) -> str:
    if record.method != "deconvolve":
        return f"preprocess={record.setting!r}: left the activity as it is ({why})."
    decay = np.asarray(record.decay_time)
    source = record.decay_source
    if source == "estimated":
        source = (f"estimated from the traces (median {np.median(decay):.2f} s, range {decay.min():.2f}-"
                  f"{decay.max():.2f} s; {int(own.sum())} of {len(decay)} neurons from their own trace)")
    else:
        source = f"{source}: {np.median(decay):.2f} s"
    where = ("on the continuous recording" if record.scope.startswith("continuous")
             else "each presentation separately (windows are not back to back)")
    return (f"preprocess={record.setting!r}: deconvolved {len(decay)} neurons ({why}) {where} at "
            f"{record.frame_rate:g} Hz; baseline maximin {record.baseline_window:g} s, decay {source}.")


def preprocess(data: xr.DataArray, setting: str = "auto", decay_time: float | None = None) -> tuple[xr.DataArray, Preprocessing]:
    """Apply the front end to activity and say what it did (fit time: the parameters are estimated).

    Parameters
    ----------
    data : xarray.DataArray
        Activity (neurons, time, presentations); ``time`` in seconds gives the frame rate.
    setting : {'auto', 'deconvolve', 'none'}
        The rule (module docstring).
    decay_time : float, optional
        The indicator's decay time in seconds; None takes the file's indicator (``attrs["indicator"]``)
        or estimates each neuron's from its trace.

    Returns
    -------
    activity : xarray.DataArray
        The deconvolved activity (spikes in units of each neuron's noise, float32, the same labels,
        ``attrs["preprocessed"]`` set), or ``data`` unchanged.
    record : Preprocessing
        What was done; ``record.summary`` is the one line (also logged at INFO).

    Raises
    ------
    nwb_sae.errors.InputDataError
        Deconvolution was asked for but the ``time`` coordinate gives no frame rate.

    Examples
    --------
    >>> from nwb_sae.synthetic import make_assemblies
    >>> rec = make_assemblies(n_neurons=20, n_assemblies=2, n_presentations=20, kind="calcium", seed=0)
    >>> out, record = preprocess(rec.data)
    >>> record.method, record.scope, out.attrs["preprocessed"]
    ('deconvolve', 'continuous', 'deconvolve')
    """
    earlier = record_of(data)
    if earlier is not None and data.attrs.get(PREPROCESSED_ATTR):  # the reader deconvolved before windowing
        log.info(earlier.summary)
        return data, earlier
    do, why = wants_deconvolution(data, setting)
    record = Preprocessing(method="none", setting=setting, signal=str(data.attrs.get(SIGNAL_ATTR, "") or ""))
    if do:
        rate = frame_rate_of(data)
        if rate is None:
            raise InputDataError(
                f"{data.attrs.get('source', 'data')}: preprocess={setting!r} needs the frame rate, but the "
                "'time' coordinate has fewer than two increasing values. Give activity (neurons, time, "
                "presentations) with time in seconds, or set preprocess='none'."
            )
        value, source = _decay_setting(data, decay_time)
        data, params, scope = _transform(data, rate, value, None)
        record = Preprocessing(
            method="deconvolve", setting=setting, signal=record.signal, frame_rate=rate, scope=scope,
            baseline_window=BASELINE_WINDOW, decay_source=source,
            decay_time=params["decay_time"].tolist(), ar_coefficients=params["ar_coefficients"].tolist(),
            noise=params["noise"].tolist())
        data.attrs[PREPROCESSED_ATTR] = "deconvolve"
        record.summary = _summary(record, why, params["own_decay"])
    else:
        record.summary = _summary(record, why, np.zeros(0, dtype=bool))
    log.info(record.summary)
    return data, record


def apply_preprocessing(data: xr.DataArray, record: Preprocessing | dict | None) -> xr.DataArray:
    """The fitted front end applied to new activity of the same neurons (what ``encode`` does).

    The decay and noise of each neuron are the fitted ones (the baseline is the new data's own);
    data already marked as preprocessed, or a record that did nothing, leave ``data`` as it is.

    Raises
    ------
    nwb_sae.errors.InputDataError
        The frame rate of ``data`` is not the one the model was fitted at.
    """
    record = record if isinstance(record, Preprocessing) else Preprocessing.from_json(record)
    if record.method != "deconvolve" or data.attrs.get(PREPROCESSED_ATTR):
        return data
    rate = frame_rate_of(data)
    if rate is None or abs(rate - record.frame_rate) > TIMING_TOLERANCE * record.frame_rate:
        raise InputDataError(
            f"{data.attrs.get('source', 'data')}: the model deconvolves activity at {record.frame_rate:g} Hz, "
            f"but this activity's time coordinate gives {'no frame rate' if rate is None else f'{rate:g} Hz'}. "
            "Encode activity sampled like the training data."
        )
    out, _, _ = _transform(data, rate, np.asarray(record.decay_time), np.asarray(record.noise))
    out.attrs[PREPROCESSED_ATTR] = "deconvolve"
    return out


def apply_to_recording(samples: np.ndarray, record: Preprocessing | dict | None) -> np.ndarray:
    """The fitted front end on one continuous recording given as samples (time, neurons) -> float32 (time, neurons).

    What the NWB writer uses for the codes over the whole recording: the deconvolution needs the
    recording whole (its pools may span any block boundary), so it is held in memory as float32
    (neurons x samples x 4 bytes). A record that did nothing returns ``samples`` unchanged.
    """
    record = record if isinstance(record, Preprocessing) else Preprocessing.from_json(record)
    if record.method != "deconvolve":
        return samples
    runs = [np.asarray(samples, dtype=np.float64).T]
    spikes, _ = deconvolve_runs(runs, record.frame_rate, np.asarray(record.decay_time), np.asarray(record.noise))
    return np.ascontiguousarray(spikes[0].T)


RECORD_ATTR = "preprocessing"
"""The attrs key a reader that deconvolved before windowing stores the record under (JSON text)."""


def deconvolve_recording(samples: np.ndarray, frame_rate: float, attrs: dict, setting: str = "auto",
                         decay_time: float | None = None) -> tuple[np.ndarray | None, Preprocessing]:
    """The rule and the deconvolution on a whole continuous recording, before it is cut into windows.

    What a reader does for trial-aligned windows (``read_nwb(..., preprocess="auto")``), so that
    transients crossing a window edge, and the baseline, come from the continuous recording.

    Parameters
    ----------
    samples : numpy.ndarray
        (time, neurons) the whole recording.
    frame_rate : float
        Frames per second.
    attrs : dict
        The reader's attrs (``signal``, ``indicator``, ``source``): what the rule looks at.
    setting, decay_time
        As in :func:`preprocess`.

    Returns
    -------
    samples : numpy.ndarray or None
        float32 (time, neurons) deconvolved, or None when the rule leaves the recording alone.
    record : Preprocessing
    """
    times = np.arange(samples.shape[0]) / float(frame_rate)
    whole = xr.DataArray(np.asarray(samples).T[:, :, None], dims=("neurons", "time", "presentations"),
                         coords={"time": times}, attrs=dict(attrs))
    out, record = preprocess(whole, setting, decay_time)
    if record.method != "deconvolve":
        return None, record
    record.summary = record.summary.replace("on the continuous recording", "on the continuous recording, before windowing")
    return np.ascontiguousarray(out.values[:, :, 0].T), record


def record_of(data: xr.DataArray) -> Preprocessing | None:
    """The record a reader left in ``attrs`` (:data:`RECORD_ATTR`), or None."""
    import json

    text = data.attrs.get(RECORD_ATTR)
    return Preprocessing.from_json(json.loads(text)) if text else None
