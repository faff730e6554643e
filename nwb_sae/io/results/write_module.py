"""Appending a results module to an NWB file with pynwb (the file is a staged copy, see safe_write).

Two pynwb writes in one session: the first streams the codes (and so learns their statistics), the
second adds the dictionary, neurons and provenance tables. Nothing here reads a recording or a model:
:class:`ResultsToWrite` carries plain arrays, a :class:`~nwb_sae.io.results.write_codes.CodeStream` and dicts.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import h5py
import numpy as np
from hdmf.backends.hdf5 import H5DataIO

from nwb_sae.errors import (
    InputDataError,
    NwbSaeError,
    ObjectNotFoundError,
    OutputExistsError,
    UnsupportedFileError,
)
from nwb_sae.io.h5 import open_h5
from nwb_sae.io.results.read import module_provenance
from nwb_sae.io.results.schema import CODES, DICTIONARY, NEURONS, WEIGHTS
from nwb_sae.io.results.write_codes import CodeStream
from nwb_sae.io.results.write_tables import TimeBase, dictionary_table, neurons_table, provenance_table
from nwb_sae.io.safe_write import stage
from nwb_sae.io.text import as_str


class ResultsToWrite(NamedTuple):
    """Everything a results module holds, as arrays and dicts."""

    codes: CodeStream
    """Produces the codes (samples, latents) block by block."""
    time_base: TimeBase
    """Rate and starting time, or timestamps, of the codes."""
    dictionary: np.ndarray
    """(latents, neurons) atoms."""
    neuron_ids: np.ndarray
    """Source ids of the neurons, in the order of the dictionary's columns."""
    neuron_labels: dict
    """Other per-neuron labels (name -> 1-D array)."""
    neuron_table: str | None
    """Path of the Units table / PlaneSegmentation whose rows the neurons are, or None."""
    neuron_rows: np.ndarray | None
    """Row of ``neuron_table`` of each neuron."""
    provenance: dict
    """Nested, JSON-able: ``model`` (the SAE's provenance), ``source`` and ``write`` sections."""
    description: str
    """Human-readable summary, the module's description."""
    latent_columns: dict = {}
    """More dictionary columns, name -> (values, description): significance, stability, selectivity."""


# -- what is already in the file ------------------------------------------------------------------

def existing_modules(path) -> dict[str, bool]:
    """Processing modules of the file: name -> whether nwb-sae wrote it."""
    with open_h5(path) as h5:
        processing = h5.get("processing")
        if not isinstance(processing, h5py.Group):
            return {}
        return {name: isinstance(group, h5py.Group) and module_provenance(group) is not None
                for name, group in processing.items()}


def check_module_free(path, module: str, overwrite: bool, activity_path: str | None = None,
                      shown_as=None) -> bool:
    """Make sure ``processing/<module>`` may be written; returns True when it exists (to replace).

    Raises
    ------
    OutputExistsError
        The module exists and ``overwrite`` is False, or it was not written by nwb-sae, or it holds the
        activity being encoded.
    """
    shown_as = shown_as or path
    modules = existing_modules(path)
    if module not in modules:
        return False
    if activity_path and activity_path.strip("/").startswith(f"processing/{module}/"):
        raise OutputExistsError(
            f"{shown_as}: the activity {activity_path} is inside processing/{module}, which the results would "
            f"replace. Choose another module name (--module / module=)."
        )
    if not modules[module]:
        raise OutputExistsError(
            f"{shown_as}: processing/{module} exists and was not written by nwb-sae; nwb-sae only replaces its "
            f"own results. Choose another module name (--module / module=)."
        )
    if not overwrite:
        free = _free_name(module, modules)
        raise OutputExistsError(
            f"{shown_as}: already holds nwb-sae results in processing/{module}. Replace them with --overwrite "
            f"(overwrite=True) or keep both with --module {free} (module='{free}')."
        )
    return True


def _free_name(module: str, taken) -> str:
    i = 2
    while f"{module}{i}" in taken:
        i += 1
    return f"{module}{i}"


def remove_module(path, module: str) -> None:
    """Unlink ``processing/<module>`` with h5py (the file keeps its size; ``h5repack`` shrinks it)."""
    with h5py.File(path, "r+") as h5:
        del h5[f"processing/{module}"]


# -- finding source objects in the file being written ---------------------------------------------

def find_container(io, nwbfile, path: str, shown_as):
    """The pynwb object at ``path`` (e.g. ``units``) in the file open in ``io``."""
    path = path.strip("/")
    h5 = io._file  # hdmf has no public accessor for the open h5py.File
    if path not in h5:
        raise ObjectNotFoundError(f"{shown_as}: no object at {path}.")
    obj = h5[path]
    object_id = obj.attrs.get("object_id")
    object_id = None if object_id is None else as_str(object_id)
    if object_id is not None and object_id in nwbfile.objects:
        return nwbfile.objects[object_id]
    return io.get_container(obj)


# -- the append -----------------------------------------------------------------------------------

def _codes_series(results: ResultsToWrite, timestamps_of, compression_opts: int):
    from pynwb import TimeSeries

    stream = results.codes
    data = H5DataIO(data=stream, chunks=stream.recommended_chunk_shape(), compression="gzip",
                    compression_opts=compression_opts)
    base = results.time_base
    if base.rate is not None:
        timing = {"rate": base.rate, "starting_time": base.starting_time}
    elif timestamps_of is not None:
        timing = {"timestamps": timestamps_of}
    else:
        ts = np.asarray(base.timestamps, dtype=np.float64)
        timing = {"timestamps": H5DataIO(data=ts, chunks=(min(len(ts), 65536),), compression="gzip")}
    return TimeSeries(
        name=CODES,
        data=data,
        unit="a.u.",
        description=(f"Sparse autoencoder codes: column i is the activation of latent i (row i of {DICTIONARY}) "
                     "at each sample of the source activity, on the source's time base."),
        comments=f"{stream.n_samples} samples x {stream.n_latents} latents, written by nwb-sae.",
        **timing,
    )


def append_module(path, results: ResultsToWrite, module: str, *, compression_opts: int = 1,
                  shown_as=None) -> dict:
    """Add ``processing/<module>`` holding the results to the NWB file at ``path``.

    Parameters
    ----------
    path : path
        An NWB file, opened for appending (nwb-sae passes its staged copy, never the user's file).
    results : ResultsToWrite
        What to write.
    module : str
        Name of the processing module (must not exist).
    compression_opts : int
        gzip level of the codes (1: fast; the codes are sparse and compress well anyway).
    shown_as : path, optional
        The file name used in error messages (the user's, not the staged copy's).

    Returns
    -------
    dict
        The latent statistics (arrays over latents), as written in the dictionary table.
    """
    shown_as = shown_as or path
    try:
        return _append(path, results, module, compression_opts, shown_as)
    except (NwbSaeError, KeyboardInterrupt):
        raise
    except Exception as err:
        if err is results.codes.error:  # the reader's or the model's own error
            raise
        raise UnsupportedFileError(
            f"{shown_as}: pynwb could not add processing/{module} to a copy of this file ({type(err).__name__}: "
            f"{err}); nothing was changed. Check the file with `nwb-sae validate`, or write the results to a "
            "file of their own.") from err


def _append(path, results: ResultsToWrite, module: str, compression_opts: int, shown_as) -> dict:
    from pynwb import NWBHDF5IO

    n_neurons = results.dictionary.shape[1]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*cached namespace.*")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        io = NWBHDF5IO(str(path), mode="a")
        try:
            nwbfile = io.read()
            timestamps_of = None
            if results.time_base.link is not None:
                timestamps_of = _timestamps_owner(io, nwbfile, results, shown_as)
            region_table = None
            if results.neuron_table is not None:
                region_table = find_container(io, nwbfile, results.neuron_table, shown_as)
            processing = nwbfile.create_processing_module(name=module, description=results.description)
            processing.add(_codes_series(results, timestamps_of, compression_opts))
            stage("writing codes")
            io.write(nwbfile)
            if results.codes.position != results.codes.n_samples:
                raise InputDataError(f"{shown_as}: the codes stream stopped at sample {results.codes.position} "
                                     f"of {results.codes.n_samples}.")
            stats = results.codes.stats.result()
            processing.add(dictionary_table(results.dictionary, stats, f"processing/{module}/{NEURONS}",
                                            results.latent_columns))
            processing.add(neurons_table(results.neuron_ids, n_neurons, results.neuron_labels, region_table,
                                         results.neuron_rows, results.neuron_table))
            provenance = dict(results.provenance)
            provenance["write"] = {**provenance.get("write", {}), "n_invalid_samples": results.codes.stats.n_invalid}
            processing.add(provenance_table(provenance))
            stage("writing tables")
            io.write(nwbfile)
        finally:
            io.close()
    return stats


def _timestamps_owner(io, nwbfile, results: ResultsToWrite, shown_as):
    """The source TimeSeries whose timestamps the codes link to, or None to copy them instead."""
    try:
        owner = find_container(io, nwbfile, results.time_base.link, shown_as)
    except (ObjectNotFoundError, ValueError, KeyError):
        return None
    stamps = getattr(owner, "timestamps", None)
    if stamps is None or len(stamps) != results.codes.n_samples:
        return None
    return owner


def check_written(path, module: str, n_samples: int, n_latents: int, n_neurons: int, shown_as) -> list:
    """Read the whole file back with pynwb, check the module's shapes and validate the schema.

    Returns
    -------
    list of nwb_sae.io.results.validation.Issue
        pynwb.validate errors anywhere in the file.

    Raises
    ------
    UnsupportedFileError
        pynwb cannot read the file back, or the shapes are not those written.
    """
    from pynwb import NWBHDF5IO

    from nwb_sae.io.results.validation import validate_open

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with NWBHDF5IO(str(path), mode="r") as io:
                nwbfile = io.read()
                processing = nwbfile.processing[module]
                codes = processing[CODES]
                weights = processing[DICTIONARY][WEIGHTS].data
                found = (tuple(codes.data.shape), tuple(weights.shape), len(processing[NEURONS]),
                         codes.num_samples)
                issues = validate_open(io)
        except Exception as err:  # anything pynwb raises here means the file is not right
            raise UnsupportedFileError(
                f"{shown_as}: the written results could not be read back with pynwb "
                f"({type(err).__name__}: {err}); the file was left unchanged.") from err
    expected = ((n_samples, n_latents), (n_latents, n_neurons), n_neurons, n_samples)
    if found != expected:
        raise UnsupportedFileError(f"{shown_as}: read back shapes {found}, expected {expected}; "
                                   "the file was left unchanged.")
    return issues
