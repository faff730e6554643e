"""SAE results into NWB: the codes over the whole recording, the dictionary and the provenance.

Output design
-------------
The result is **a full copy of the source file with one processing module added** (default name
``sae``), written through a staged temporary file:

1. the source's bytes are copied to a hidden temporary file next to the destination;
2. pynwb opens that copy in append mode and adds the module: the codes stream in block by block,
   then the dictionary, neurons and provenance tables follow;
3. the copy is read back with pynwb and validated (schema errors about the new module abort);
4. it is flushed and atomically renamed onto the destination.

Why a copy rather than a small file linking to the source: the output must open on its own, be
uploadable to DANDI and be read by pynapple and NWB viewers that do not follow external links, and the
link from the dictionary to the source neurons is a ``DynamicTableRegion`` (an HDF5 object reference),
which cannot point into another file. Why a byte copy plus append rather than ``NWBHDF5IO.export``:
export re-encodes every object of the source through hdmf (slow -- a minute for the pixel masks of a
small suite2p file -- and only as faithful as pynwb's model of files from other writers), while a byte
copy keeps every source object exactly as it was and costs one sequential read and write of the file.
The same staged path makes ``in_place=True`` safe: the original is only ever read, so a run killed at
any moment leaves it byte-identical. The price is disk: the output is as large as the source plus the
(compressed) codes.

When the source uses an older NWB schema, pynwb's append marks the file with the current schema
version and caches the current namespaces beside the old ones, as any pynwb append does; objects of the
old schema may then get validator messages that are not about the results (``nwb-sae validate`` lists
them apart).
"""

from __future__ import annotations

import logging
import os
import warnings
from contextlib import ExitStack
from pathlib import Path

import h5py

from nwb_sae.errors import (
    InputDataError,
    NwbSaeError,
    ObjectNotFoundError,
    OutputExistsError,
    UnsupportedFileError,
)
from nwb_sae.io.remote import is_url, path_or_url, url_file_name
from nwb_sae.io.results.read import results_from_h5
from nwb_sae.io.results.validation import is_under
from nwb_sae.io.results.write_model import default_activity, results_from_model
from nwb_sae.io.results.write_module import (
    ResultsToWrite,
    append_module,
    check_module_free,
    check_written,
    remove_module,
)
from nwb_sae.io.safe_write import stage, staged_file

__all__ = ["write_nwb", "write_results", "check_output", "results_from_model", "ResultsToWrite", "default_output"]

log = logging.getLogger(__name__)

def default_output(source, module: str = "sae") -> Path:
    """Where results go when no output is named: ``<source stem>_<module>.nwb`` beside the source."""
    if is_url(source):  # results of a remote file go to the current folder
        return Path(f"{Path(url_file_name(source)).stem}_{module}.nwb")
    source = Path(source)
    return source.with_name(f"{source.stem}_{module}.nwb")


def check_module_name(module: str) -> None:
    """A processing module name must be a non-empty name without '/'."""
    if not isinstance(module, str) or not module.strip() or "/" in module or module in (".", ".."):
        raise InputDataError(f"module name {module!r} is not usable: give a plain name such as 'sae' (no '/').")


def _source_file(source) -> Path | str:
    """``source`` as a Path, or the URL unchanged (checked when it is opened); a missing file is refused."""
    src = path_or_url(source)
    if not is_url(src) and not src.is_file():
        raise UnsupportedFileError(f"{src}: no such file.")
    return src


def _destination(src: Path | str, out, in_place: bool, overwrite: bool, module: str) -> Path:
    if in_place:
        if is_url(src):
            raise InputDataError(f"{src}: a remote file cannot be written in place; name a local output file "
                                 "(--nwb_out / out=): it will be a copy of the file with the results added.")
        if out is not None and Path(out).resolve() != src.resolve():
            raise InputDataError(f"{src}: in_place=True writes into the input file; do not also name an output "
                                 f"({out}). Drop one of --in_place / --nwb_out.")
        dest = src.resolve()
        if not os.access(dest, os.W_OK) or not dest.stat().st_mode & 0o222:  # root passes os.access
            raise NwbSaeError(f"{src}: is read-only, so it cannot be written in place. Make it writable, or "
                              "write the results to a new file (--nwb_out / out=).")
        return dest
    dest = Path(out) if out is not None else default_output(src, module)
    if not is_url(src) and dest.exists() and dest.resolve() == src.resolve():
        raise InputDataError(f"{dest}: is the input file. To add the results to it, pass --in_place "
                             "(in_place=True); otherwise name a new output file.")
    if dest.is_dir():
        raise InputDataError(f"{dest}: is a folder; name the output file, e.g. {dest / default_output(src).name}.")
    if dest.exists() and not overwrite:
        raise OutputExistsError(f"{dest}: already exists. Replace it with --overwrite (overwrite=True), or name "
                                "another output file (--nwb_out / out=).")
    if not dest.parent.is_dir():
        raise NwbSaeError(f"{dest}: the folder {dest.parent} does not exist; create it first.")
    return dest


def check_output(source, out=None, *, module: str = "sae", in_place: bool = False, overwrite: bool = False,
                 activity: str | None = None) -> Path:
    """Check, before any encoding, that the results may be written; returns the file that will be written.

    The same checks :func:`write_nwb` runs first; a command line can call this before doing other work.

    Raises
    ------
    OutputExistsError, InputDataError, NwbSaeError, UnsupportedFileError
        As :func:`write_nwb` would.
    """
    src = _source_file(source)
    check_module_name(module)
    dest = _destination(src, out, in_place, overwrite, module)
    check_module_free(src, module, overwrite, activity, shown_as=src)
    return dest


def write_results(source, results: ResultsToWrite, out=None, *, module: str = "sae", in_place: bool = False,
                  overwrite: bool = False, activity_path: str | None = None, validate: bool = True,
                  compression_opts: int = 1) -> Path:
    """Write prepared results into a copy of ``source`` (or into ``source`` itself, safely).

    This is the array-level half of :func:`write_nwb`: no model, no reader, just the results.

    Parameters
    ----------
    source : path or URL
        The NWB file the results belong to. A URL (:mod:`nwb_sae.io.remote`) is downloaded into the
        staging file of ``out``; it cannot be written in place.
    results : ResultsToWrite
        The codes stream, time base, dictionary, neuron ids / link and provenance.
    out : path, optional
        The output file (default ``<source stem>_<module>.nwb`` beside the source). Ignored with
        ``in_place``.
    module : str
        Name of the processing module to create.
    in_place : bool
        Add the module to ``source`` itself (through a validated temporary copy and an atomic rename).
    overwrite : bool
        Replace an existing output file and/or existing nwb-sae results in ``processing/<module>``.
    activity_path : str, optional
        Path of the encoded activity in the file; refuses to replace a module that holds it.
    validate : bool
        Read the written module back with pynwb and run pynwb.validate before committing.
    compression_opts : int
        gzip level of the codes.

    Returns
    -------
    Path
        The file written.
    """
    src = _source_file(source)
    check_module_name(module)
    dest = _destination(src, out, in_place, overwrite, module)
    replace = check_module_free(src, module, overwrite, activity_path, shown_as=src)
    stream = results.codes
    if stream.n_samples < stream.n_latents:
        warnings.warn(f"{src}: {stream.n_samples} samples but {stream.n_latents} latents; NWB tools expect time "
                      "to be the longest axis of the codes (nwbinspector check_data_orientation).", stacklevel=2)
    extra = stream.n_samples * stream.n_latents * 4 // 8 + results.dictionary.nbytes
    with staged_file(src, dest, extra_bytes=extra, keep_mode_of=src if in_place else None) as tmp:
        if replace:
            stage("removing old module")
            remove_module(tmp, module)
        append_module(tmp, results, module, compression_opts=compression_opts, shown_as=dest)
        if validate:
            _check_written(tmp, module, results, dest)
    return dest


def _check_written(path: Path, module: str, results: ResultsToWrite, shown_as: Path) -> None:
    """Read back with pynwb and nwb_sae, validate the schema; raise (the temporary file is then dropped)."""
    stage("validating")
    n_latents, n_neurons = results.dictionary.shape
    issues = check_written(path, module, results.codes.n_samples, n_latents, n_neurons, shown_as)
    with h5py.File(path, "r") as h5:
        back = results_from_h5(h5, module, lazy=True, shown_as=shown_as)
        first = h5[f"processing/{module}/codes/data"][:1]  # the first chunk must decompress
    if first.shape != (1, back.codes.sizes["latents"]):
        raise UnsupportedFileError(f"{shown_as}: the codes read back as {first.shape}; the file was left unchanged.")
    ours = [i for i in issues if is_under(i.location, f"processing/{module}")]
    if ours:
        listed = "; ".join(f"{i.location} [{i.check}]: {i.message}" for i in ours[:5])
        raise UnsupportedFileError(f"{shown_as}: the written results fail NWB schema validation ({listed}); "
                                   "nothing was changed. Please report this as an nwb-sae bug.")
    others = [i for i in issues if i not in ours]
    if others:
        warnings.warn(f"{shown_as}: {len(others)} NWB schema error(s) about objects nwb-sae did not write (e.g. "
                      f"{others[0].location}: {others[0].message}); they come from the source file. "
                      f"`nwb-sae validate {shown_as}` lists them.", stacklevel=3)


def write_nwb(sae, source, out=None, *, activity: str | None = None, module: str = "sae",
              in_place: bool = False, overwrite: bool = False, bin_size: float | None = None,
              progress: bool | None = None, validate: bool = True, compression_opts: int = 1,
              block_rows: int | None = None) -> Path:
    """Encode a whole recording with ``sae`` and write codes, dictionary and provenance into NWB.

    The results form a processing module (default ``sae``) of ordinary NWB objects -- see
    :mod:`nwb_sae.io.results.schema` for its layout and this module's docstring for why the output is a
    full copy of the source. The input file is never modified unless ``in_place=True``, and even then it
    is replaced atomically only after the new file was written, read back and validated.

    Parameters
    ----------
    sae : nwb_sae.SAE
        A fitted model (``encode_samples``, ``dictionary``, ``provenance()``, ``neuron_coords_``).
    source : str, Path or ActivitySource
        The NWB file (or its URL: the output is then a local copy with the results; see
        :mod:`nwb_sae.io.remote`), or an activity source already opened with
        ``nwb_sae.io.recording.nwb.open_activity``.
    out : str or Path, optional
        Output file; default ``<source stem>_<module>.nwb`` beside the source.
    activity : str, optional
        Path of the activity in the file (default: the one the model was trained on, else the only one).
    module : str
        Name of the processing module.
    in_place : bool
        Add the results to ``source`` itself.
    overwrite : bool
        Replace an existing output file and earlier nwb-sae results in ``processing/<module>``.
    bin_size : float, optional
        Bin size in seconds for spike trains (default: the model's training bin size when it was trained
        on spike trains; continuous series keep every sample).
    progress : bool, optional
        Progress bar; default only on a terminal.
    validate : bool
        Check the written file before committing it (recommended).
    compression_opts : int
        gzip level of the codes (1 is fast; sparse codes compress well at any level).
    block_rows : int, optional
        Samples read, encoded and written at once (default: about 64 MiB of codes); memory use is a
        few blocks, whatever the length of the recording.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    OutputExistsError
        The output exists, or ``processing/<module>`` holds results, and ``overwrite`` is False.
    InputDataError, ObjectNotFoundError, UnsupportedFileError
        The source cannot be encoded with this model.

    Examples
    --------
    >>> out = nwb_sae.write_nwb(sae, "session.nwb", "session_sae.nwb")      # doctest: +SKIP
    >>> res = nwb_sae.read_results(out)                                      # doctest: +SKIP
    """
    if hasattr(source, "read") and hasattr(source, "n_samples"):
        return _write_from_source(sae, source, out, module=module, in_place=in_place, overwrite=overwrite,
                                  bin_size=bin_size, progress=progress, validate=validate,
                                  compression_opts=compression_opts, block_rows=block_rows)
    from nwb_sae.io.recording.nwb import open_activity

    path = path_or_url(source)
    named = activity is not None
    activity = activity if named else default_activity(sae)
    check_output(path, out, module=module, in_place=in_place, overwrite=overwrite, activity=activity)
    trained_on = getattr(sae, "data_attrs_", {}) or {}
    if bin_size is None and trained_on.get("activity_kind") == "units":
        bin_size = trained_on.get("bin_size")  # spike trains: bin as in training
    with ExitStack() as stack:
        try:
            opened = stack.enter_context(open_activity(path, activity=activity, bin_size=bin_size))
        except ObjectNotFoundError:
            if named or activity is None:
                raise
            # the model's training activity is not in this file: take the file's only candidate
            opened = stack.enter_context(open_activity(path, activity=None, bin_size=bin_size))
            warnings.warn(f"{path}: has no {activity} (the model's training activity); encoding "
                          f"{opened.object_path} instead. Name it with --activity to silence this.", stacklevel=2)
        return _write_from_source(sae, opened, out, module=module, in_place=in_place, overwrite=overwrite,
                                  bin_size=bin_size, progress=progress, validate=validate,
                                  compression_opts=compression_opts, block_rows=block_rows)


def _write_from_source(sae, source, out, *, module, in_place, overwrite, bin_size, progress, validate,
                       compression_opts, block_rows) -> Path:
    results = results_from_model(sae, source, module=module, in_place=in_place, bin_size=bin_size,
                                 progress=progress, block_rows=block_rows)
    return write_results(source.path, results, out, module=module, in_place=in_place, overwrite=overwrite,
                         activity_path=source.object_path, validate=validate, compression_opts=compression_opts)
