"""The NWB results schema page, read from a results file written at build time.

A tiny synthetic recording is encoded by a tiny model and written with :func:`nwb_sae.write_nwb`; the
page lists what the results module of that file actually holds (objects, NWB types, columns, shapes,
descriptions, provenance keys), so it describes the writer as it is, not as someone remembers it.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

from generated import generate_on_build, heading, literal

N_NEURONS, N_LATENTS, N_TIME, N_PRESENTATIONS = 12, 8, 10, 20
"""Sizes of the example file; all different, so each dimension in a shape can be named."""


def write_example(folder: Path) -> Path:
    import nwb_sae

    rec = nwb_sae.synthetic.make_recording(n_neurons=N_NEURONS, n_atoms=16, n_time=N_TIME,
                                           n_presentations=N_PRESENTATIONS, seed=0)
    source = nwb_sae.synthetic.write_nwb_recording(folder / "recording.nwb", rec, kind="ophys")
    t = rec.data["time"].values
    data = nwb_sae.read_nwb(source, presentations="trials", window=(t[0], t[-1] + rec.data.attrs["bin_size"]))
    sae = nwb_sae.SAE(n_latents=N_LATENTS, k=2, epochs=1, progress=False).fit(data)
    return nwb_sae.write_nwb(sae, source, folder / "recording_sae.nwb", progress=False)


def _text(value) -> str:
    if isinstance(value, bytes):
        value = value.decode()
    return " ".join(str(value).split())


def _shape(dataset, names: dict) -> str:
    if not dataset.shape:
        return "scalar"
    return "(" + ", ".join(names.get(n, str(n)) for n in dataset.shape) + ")"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("*", "\\*").replace("`", "'") or "\\"


def describe_module(group, names: dict) -> str:
    """One section per object of the results module: its NWB type, description and datasets."""
    import h5py

    text = ""
    for name, obj in group.items():
        kind = _text(obj.attrs.get("neurodata_type", type(obj).__name__))
        text += heading(f"``{name}`` ({kind})", "~")
        text += _cell(_text(obj.attrs.get("description", ""))) + "\n\n"
        if not isinstance(obj, h5py.Group):
            continue
        text += ".. list-table::\n   :header-rows: 1\n   :widths: 20 20 10 50\n\n"
        text += "   * - dataset / column\n     - shape\n     - type\n     - description\n"
        for field, item in obj.items():
            if not isinstance(item, h5py.Dataset):
                continue
            about = [_text(item.attrs.get("description", "row id" if field == "id" else ""))]
            about += [f"{attr}: {_text(item.attrs[attr])}" for attr in ("unit", "rate") if attr in item.attrs]
            text += (f"   * - ``{field}``\n     - {_shape(item, names)}\n     - {item.dtype}\n"
                     f"     - {_cell('; '.join(a for a in about if a))}\n")
        text += "\n"
    return text


def provenance_keys(group) -> list[str]:
    """The provenance keys, with per-epoch, per-neuron and per-setting entries folded into one line."""
    table = group.get("provenance")
    if table is None or "key" not in table:
        return []
    keys = table["key"].asstr()[()]
    folded = []
    for key in keys:
        parts = key.split("/")
        short = "/".join(parts[:2]) + ("/..." if len(parts) > 2 else "")
        if short not in folded:
            folded.append(short)
    return folded


def schema_page() -> str:
    import h5py

    names = {N_TIME * N_PRESENTATIONS: "time", N_LATENTS: "latents", N_NEURONS: "neurons"}
    # the provenance table's length (its number of keys) is named after the file is written
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = write_example(Path(folder))
        with h5py.File(path, "r") as h5:
            module = h5["processing/sae"]
            if "provenance" in module and "key" in module["provenance"]:
                names.setdefault(len(module["provenance/key"]), "keys")
            objects = describe_module(module, names)
            keys = provenance_keys(module)
    text = heading("NWB results schema")
    text += (".. This page is generated when the docs are built, from a results file written by "
             "nwb_sae.write_nwb.\n\n"
             ":func:`nwb_sae.write_nwb` (and ``nwb-sae inference --nwb_out``) writes a copy of the "
             "recording with one processing module added, ``processing/sae`` by default (``module=`` / "
             "``--module`` names another). It holds only ordinary NWB objects, so pynwb, pynapple, "
             "NWB Widgets and DANDI read it without nwb-sae; :func:`nwb_sae.read_results` reads it back "
             "as labelled arrays. The input file is never modified unless asked (``in_place=True``), and "
             "then only through a validated copy and an atomic rename.\n\n"
             f"Below: the module of a results file written while these docs were built ({N_NEURONS} "
             f"neurons, {N_LATENTS} latents, {N_TIME * N_PRESENTATIONS} samples). Shapes name the "
             "dimension: ``time`` is every sample of the recording on its own time base, not only the "
             "windows the model was trained on.\n\n")
    text += heading("Objects of the module", "-") + objects
    text += heading("Provenance keys", "-")
    text += ("``provenance`` is a table of ``key`` / ``value`` rows: the nested record flattened into "
             "'/'-separated keys, each value JSON text. Its keys (deeper entries folded into ``/...``):\n\n")
    text += literal("\n".join(keys))
    text += heading("Reading it", "-")
    text += literal('import nwb_sae\nres = nwb_sae.read_results("session_sae.nwb")   # see nwb_sae.read_results\n\n'
                    'from pynwb import NWBHDF5IO\nwith NWBHDF5IO("session_sae.nwb", "r") as io:\n'
                    '    codes = io.read().processing["sae"]["codes"]   # a TimeSeries\n\n'
                    'import pynapple as nap\ncodes = nap.load_file("session_sae.nwb")["codes"]   # a TsdFrame',
                    "python")
    text += "The gallery example :doc:`/auto_examples/plot_read_results` runs all three.\n"
    return text


def setup(app):
    generate_on_build(app, "schema", schema_page)
    return {"parallel_read_safe": True}
