"""The API reference page, generated at build time from ``nwb_sae.__all__``.

Every public name is documented through its public spelling (``nwb_sae.read_nwb``, not the module
that happens to define it), so moving code between modules never breaks the page, and a name added
to ``__all__`` appears here by itself (in "Other" until it is given a group below).
"""

from __future__ import annotations

import inspect
import sys
import types

from generated import generate_on_build, heading

GROUPS = {
    "Reading recordings": ["read_nwb", "open_activity", "read_hdf5", "load_data", "describe_file",
                           "from_pynapple"],
    "The model": ["SAE", "load"],
    "Results in NWB": ["write_nwb", "read_results", "to_pynapple"],
    "Many sessions": ["batch"],
    "Ground truth and scores": ["synthetic", "metrics"],
}
INTRO = {
    "Reading recordings": "From a file to a labelled ``(neurons, time, presentations)`` array.",
    "The model": "A scikit-learn style estimator; checkpoints are safetensors + JSON.",
    "Results in NWB": "Codes, dictionary and provenance written into NWB and read back.",
    "Many sessions": "Every session of a dataset (local files, URLs, DANDI assets) trained, encoded and "
                     "written back as ``dask.distributed`` tasks, with a summary table.",
    "Ground truth and scores": "Recordings with planted ensembles, and how a learned dictionary is scored "
                               "against them.",
    "Errors": "Every error nwb-sae raises on bad input is one of these; the message names the file, the "
              "object and the fix.",
}


def returned_class(func) -> type | None:
    """The class a public function returns, when the package defines it (e.g. read_results' results)."""
    name = getattr(func, "__annotations__", {}).get("return")
    if isinstance(name, str):
        name = getattr(sys.modules.get(func.__module__), name, None)
    if inspect.isclass(name) and name.__module__.startswith("nwb_sae"):
        return name
    return None


def entry(public: str, obj, documented: set) -> str:
    if isinstance(obj, types.ModuleType):
        return f".. automodule:: {obj.__name__}\n   :members:\n\n"
    if inspect.isclass(obj):
        return f".. autoclass:: nwb_sae.{public}\n   :members:\n\n"
    text = f".. autofunction:: nwb_sae.{public}\n\n"
    cls = returned_class(obj)
    if cls is not None and id(cls) not in documented:  # a public class is documented under its own name
        documented.add(id(cls))
        text += f".. autoclass:: {cls.__module__}.{cls.__qualname__}\n   :members:\n\n"
    return text


def api_page() -> str:
    import nwb_sae

    public = [n for n in nwb_sae.__all__ if not n.startswith("_")]
    errors = [n for n in public if inspect.isclass(getattr(nwb_sae, n)) and
              issubclass(getattr(nwb_sae, n), Exception)]
    groups = {title: [n for n in names if n in public] for title, names in GROUPS.items()}
    grouped = {n for names in groups.values() for n in names} | set(errors)
    groups["Other"] = [n for n in public if n not in grouped]
    groups["Errors"] = sorted(errors, key=lambda n: (n != "NwbSaeError", n))  # the base class first
    documented = {id(getattr(nwb_sae, n)) for n in public}
    text = heading("API reference")
    text += (".. This page is generated from nwb_sae.__all__ when the docs are built.\n\n"
             "Everything below is importable as ``nwb_sae.<name>``; other modules are internal.\n\n"
             ".. contents::\n   :local:\n   :depth: 1\n\n")
    for title, names in groups.items():
        if not names:
            continue
        text += heading(title, "-")
        if title in INTRO:
            text += INTRO[title] + "\n\n"
        for name in names:
            text += entry(name, getattr(nwb_sae, name), documented)
    return text


def setup(app):
    generate_on_build(app, "api", api_page)
    return {"parallel_read_safe": True}
