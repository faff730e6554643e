"""From a fitted SAE and an open activity source to :class:`ResultsToWrite` (nothing encoded yet)."""

from __future__ import annotations

import datetime
import warnings

import numpy as np

from nwb_sae.errors import InputDataError, NwbSaeError
from nwb_sae.io import remote
from nwb_sae.io.h5 import open_h5
from nwb_sae.io.results.schema import WRITER, latent_columns
from nwb_sae.io.results.write_codes import CodeStream
from nwb_sae.io.results.write_module import ResultsToWrite
from nwb_sae.io.results.write_tables import TimeBase, time_base
from nwb_sae.io.text import as_str
from nwb_sae.preprocess import apply_to_recording

_ACTIVITY_ATTRS = ("activity", "object_path", "series_path", "series")
"""Keys of the training data's attrs that may hold the activity's path in the file."""


def default_activity(sae) -> str | None:
    """The path of the activity the model was trained on, from its training data's attrs (or None)."""
    attrs = getattr(sae, "data_attrs_", {}) or {}
    for key in _ACTIVITY_ATTRS:
        value = attrs.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _neuron_selection(sae, source, shown_as) -> np.ndarray | None:
    """Columns of the source's samples that are the model's neurons (None: all, in order)."""
    ids = np.asarray(source.neuron_coords.get("id", np.arange(source.n_neurons)))
    model_ids = (getattr(sae, "neuron_coords_", {}) or {}).get("id")
    if source.n_neurons == sae.n_neurons:
        if model_ids is not None and [str(v) for v in model_ids] != [str(v) for v in ids]:
            warnings.warn(f"{shown_as}: the neuron ids of {source.object_path} differ from those the model was "
                          "trained on; the codes use the source's neurons in file order.", stacklevel=3)
        return None
    if model_ids is not None:
        where = {str(v): i for i, v in enumerate(ids)}
        missing = [v for v in model_ids if str(v) not in where]
        if not missing and len(model_ids) == sae.n_neurons:
            return np.array([where[str(v)] for v in model_ids], dtype=np.int64)
    raise InputDataError(
        f"{shown_as}: {source.object_path} has {source.n_neurons} neurons, but the model was trained on "
        f"{sae.n_neurons}. Encode the recording (and neuron selection) the model was trained on, or name the "
        "right activity (--activity)."
    )


def _identifier(path) -> str | None:
    try:
        with open_h5(path) as h5:
            value = h5.get("identifier")
            if value is None:
                return None
            return as_str(value[()])
    except (OSError, NwbSaeError):
        return None


def results_from_model(sae, source, *, module: str = "sae", in_place: bool = False, bin_size=None,
                       progress: bool | None = None, block_rows: int | None = None) -> ResultsToWrite:
    """Prepare the results of ``sae`` on an open activity source (see ``nwb_sae.io.recording.nwb.open_activity``).

    Nothing is read or encoded yet: the returned codes stream does that while it is written.

    Parameters
    ----------
    sae : nwb_sae.SAE
        A fitted model.
    source : ActivitySource
        The open activity (``read``, ``n_samples``, ``rate`` / ``timestamps``, ``neuron_coords``, ...).
        When it has more neurons than the model, the model's neuron ids pick the columns.
    module : str
        Name of the processing module, recorded in the provenance.
    in_place : bool
        Recorded in the provenance.
    bin_size : float, optional
        The bin size asked for, recorded in the provenance.
    progress : bool, optional
        Progress bar while encoding (None: only on a terminal).
    block_rows : int, optional
        Samples encoded and written at once.

    Returns
    -------
    ResultsToWrite

    Raises
    ------
    InputDataError
        The model's neurons are not in the source, or the source has no usable time base.
    """
    path = remote.path_or_url(source.path)
    name = remote.url_file_name(path) if remote.is_url(path) else path.name
    file = path if remote.is_url(path) else str(path.resolve())
    selection = _neuron_selection(sae, source, path)

    def read_raw(start: int, stop: int) -> np.ndarray:
        x = source.read(start, stop)
        return x if selection is None else x[:, selection]

    record = getattr(sae, "preprocessing_", None)
    front_end = {}  # a deconvolving model: the whole recording through its front end, once, on the first read

    def read(start: int, stop: int) -> np.ndarray:
        if record is None or record.method != "deconvolve":
            return read_raw(start, stop)
        if "x" not in front_end:
            front_end["x"] = apply_to_recording(read_raw(0, source.n_samples), record)
        return front_end["x"][start:stop]

    label = f"{name}:{source.object_path}"
    stream = CodeStream(read, source.n_samples, sae.model_.n_latents, sae.encode_samples,
                        block_rows=block_rows, progress=progress, label=label)
    link = source.object_path if source.kind != "units" else None
    try:
        base = time_base(source.n_samples, rate=source.rate, starting_time=source.starting_time,
                         timestamps=source.timestamps, link=link)
    except ValueError as err:
        raise InputDataError(f"{path}: {source.object_path}: {err}; cannot place the codes in time.") from err
    coords = {k: np.asarray(v) for k, v in (source.neuron_coords or {}).items()}
    ids = coords.pop("id", np.arange(source.n_neurons))
    rows = None if source.neuron_table_rows is None else np.asarray(source.neuron_table_rows)
    if selection is not None:
        ids = ids[selection]
        coords = {k: v[selection] for k, v in coords.items() if v.ndim == 1 and len(v) == source.n_neurons}
        rows = None if rows is None else rows[selection]
    from nwb_sae import __version__

    provenance = {
        "model": sae.provenance(),
        "source": {"file": file, "file_name": name, "identifier": _identifier(path),
                   "activity": source.object_path, "kind": source.kind, "n_samples": int(source.n_samples),
                   "n_neurons": int(len(ids)), "neuron_table": source.neuron_table_path,
                   "bin_size": _bin_size(source, bin_size)},
        "write": {"writer": WRITER, "nwb_sae_version": __version__, "module": module, "in_place": bool(in_place),
                  "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  "time_base": _time_base_name(base), "chunk_rows": stream.chunk_rows,
                  "compression": "gzip"},
    }
    description = (f"nwb-sae {__version__}: sparse autoencoder results for {source.object_path}: codes of "
                   f"{sae.model_.n_latents} latents over {source.n_samples} samples (codes), the dictionary of neuron "
                   f"ensembles (dictionary, neurons) and how it was made (provenance). Read them with "
                   f"nwb_sae.read_results(path, module='{module}').")
    return ResultsToWrite(codes=stream, time_base=base, dictionary=np.asarray(sae.dictionary),
                          neuron_ids=ids, neuron_labels=coords, neuron_table=source.neuron_table_path,
                          neuron_rows=rows, provenance=provenance, description=description,
                          latent_columns=latent_columns(getattr(sae, "latent_table_", None)))


def _time_base_name(base: TimeBase) -> str:
    if base.rate is not None:
        return "rate"
    return "linked timestamps" if base.link else "timestamps"


def _bin_size(source, bin_size) -> float | None:
    """The bin used: the one asked for, or the reader's bin for spike trains (None: samples kept as they are)."""
    if bin_size is not None:
        return float(bin_size)
    dt = getattr(source, "dt", None)
    return float(dt) if source.kind == "units" and dt else None
