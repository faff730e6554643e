"""Checking an NWB file with pynwb's schema validator and nwbinspector, without ever crashing.

Both tools raise on some real files (a cached namespace that points at a missing spec file, a MatNWB
quirk, ...). Here every failure becomes a note in the report, and the schema check falls back from the
file's cached namespaces to the ones pynwb ships with.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

ERROR = "PYNWB_VALIDATION"
"""Importance given to pynwb schema errors in reports (nwbinspector's name for them)."""

SERIOUS = ("PYNWB_VALIDATION", "CRITICAL", "BEST_PRACTICE_VIOLATION")
"""Importances nwb-sae must never produce for the objects it writes."""


class Issue(NamedTuple):
    """One finding about one object of the file."""

    importance: str
    """``PYNWB_VALIDATION`` (schema error), ``CRITICAL``, ``BEST_PRACTICE_VIOLATION`` or
    ``BEST_PRACTICE_SUGGESTION``."""
    location: str
    """Path of the object in the file, without leading '/' ('' for the file itself)."""
    check: str
    """Name of the failing check or schema component."""
    message: str
    object: str = ""
    """Type and name of the object, e.g. ``Units 'units'``."""


class ValidationReport(NamedTuple):
    """What :func:`validate_file` found."""

    path: str
    schema: list[Issue]
    """pynwb.validate errors."""
    inspector: list[Issue]
    """nwbinspector messages (empty when it was not run)."""
    notes: list[str]
    """What could not be checked and why, and which fallbacks were used."""

    def issues(self, under: str | None = None, importances=SERIOUS) -> list[Issue]:
        """Issues of the given importances, optionally only those about objects under a path."""
        found = [i for i in self.schema + self.inspector if i.importance in importances]
        if under is not None:
            found = [i for i in found if is_under(i.location, under)]
        return found

    @property
    def ok(self) -> bool:
        """No schema error and no CRITICAL message anywhere in the file."""
        return not self.issues(importances=(ERROR, "CRITICAL"))


def normalise_location(location) -> str:
    """``/processing/sae/codes`` and ``root/processing/sae/codes`` -> ``processing/sae/codes``."""
    text = str(location or "").strip()
    if text.startswith("root/") or text == "root":
        text = text[4:]
    return text.strip("/")


def is_under(location: str, prefix: str) -> bool:
    """Whether ``location`` is the object ``prefix`` or inside it."""
    location, prefix = normalise_location(location), normalise_location(prefix)
    return location == prefix or location.startswith(prefix + "/")


def validate_open(io) -> list[Issue]:
    """pynwb.validate of a file already open in ``io``, against the namespaces ``io`` loaded when opening.

    Faster than validating by path (the cached namespaces are not loaded a second time) and unaffected
    by cached namespaces that pynwb can open but not re-load for validation (some MatNWB files).
    """
    import pynwb

    errors = pynwb.validate(io=io, use_cached_namespaces=False)
    if isinstance(errors, tuple):  # older pynwb returned (errors, status)
        errors = errors[0]
    return [Issue(ERROR, normalise_location(e.location), str(e.name), str(e.reason)) for e in errors]


def schema_issues(path) -> tuple[list[Issue], list[str]]:
    """pynwb.validate on the namespaces cached in the file or, when those cannot be loaded, on those the
    file opens with (pynwb's own for the core schema)."""
    import pynwb
    from pynwb import NWBHDF5IO

    notes = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            errors = pynwb.validate(path=str(path))
            if isinstance(errors, tuple):  # older pynwb returned (errors, status)
                errors = errors[0]
            return [Issue(ERROR, normalise_location(e.location), str(e.name), str(e.reason)) for e in errors], notes
        except Exception as err:  # broken cached specs make pynwb raise KeyError, ValueError, ...
            notes.append(f"pynwb could not load the namespaces cached in the file for validation "
                         f"({type(err).__name__}: {err}); validated against the core namespace instead")
        try:
            with NWBHDF5IO(str(path), mode="r") as io:
                return validate_open(io), notes
        except Exception as err:
            notes.append(f"pynwb.validate failed ({type(err).__name__}: {err})")
    return [], notes


def inspector_issues(path, config: str = "dandi") -> tuple[list[Issue], list[str]]:
    """nwbinspector's best-practice messages (with the given config) on the file read by pynwb."""
    try:
        from nwbinspector import inspect_nwbfile_object, load_config
    except ImportError:
        return [], ["nwbinspector is not installed (pip install nwbinspector); best practices not checked"]
    from pynwb import NWBHDF5IO

    issues, notes = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with NWBHDF5IO(str(path), mode="r") as io:
                nwbfile = io.read()
                for msg in inspect_nwbfile_object(nwbfile_object=nwbfile, config=load_config(config)):
                    if msg is None:
                        continue
                    location = normalise_location(msg.location)
                    if not location and msg.object_type == "ProcessingModule":
                        location = f"processing/{msg.object_name}"
                    issues.append(Issue(msg.importance.name, location, str(msg.check_function_name),
                                        str(msg.message), f"{msg.object_type} '{msg.object_name}'"))
        except Exception as err:  # nwbinspector 0.7 raises on some real files
            notes.append(f"nwbinspector stopped with {type(err).__name__}: {err}")
    return issues, notes


def validate_file(path, *, inspector: bool = True, config: str = "dandi") -> ValidationReport:
    """Run pynwb's schema validation and (optionally) nwbinspector on an NWB file.

    Parameters
    ----------
    path : path
        The NWB file.
    inspector : bool
        Also run nwbinspector (slower; best practices rather than schema).
    config : str
        nwbinspector configuration, ``"dandi"`` by default (what DANDI upload checks).

    Returns
    -------
    ValidationReport

    Examples
    --------
    >>> report = validate_file("out.nwb")                  # doctest: +SKIP
    >>> report.issues(under="processing/sae")              # doctest: +SKIP
    []
    """
    schema, notes = schema_issues(path)
    found: list[Issue] = []
    if inspector:
        found, more = inspector_issues(path, config)
        notes += more
    return ValidationReport(str(path), schema, found, notes)


def format_report(report: ValidationReport, module: str | None = None, limit: int = 10) -> str:
    """A short text report: counts by importance, then the serious messages (at most ``limit`` each).

    Parameters
    ----------
    report : ValidationReport
        From :func:`validate_file`.
    module : str, optional
        A results module: messages about ``processing/<module>`` are then listed apart from those about
        the rest of the file.
    limit : int
        Messages shown per importance level (and group).

    Returns
    -------
    str
    """
    lines = [f"{report.path}"]
    counts: dict[str, int] = {}
    for issue in report.schema + report.inspector:
        counts[issue.importance] = counts.get(issue.importance, 0) + 1
    order = [ERROR, "CRITICAL", "BEST_PRACTICE_VIOLATION", "BEST_PRACTICE_SUGGESTION"]
    summary = ", ".join(f"{counts.get(k, 0)} {k.lower().replace('_', ' ')}" for k in order)
    lines.append(f"  {summary}")
    groups = [("", None)] if module is None else [
        (f"about the nwb-sae results (processing/{module})", True), ("about the rest of the file", False)]
    for title, inside in groups:
        if title:
            lines.append(f"  {title}:")
        for importance in SERIOUS:
            found = [i for i in report.issues(importances=(importance,))
                     if inside is None or is_under(i.location, f"processing/{module}") == inside]
            for issue in found[:limit]:
                where = issue.location or issue.object or "(file)"
                lines.append(f"    {importance} {where} [{issue.check}]: {issue.message}")
            if len(found) > limit:
                lines.append(f"    ... and {len(found) - limit} more {importance}")
        if title and not any(inside is None or is_under(i.location, f"processing/{module}") == inside
                             for i in report.issues()):
            lines.append("    none")
    for note in report.notes:
        lines.append(f"  note: {note}")
    lines.append("  " + ("OK: no schema error and no CRITICAL message" if report.ok else
                         "NOT OK: schema errors or CRITICAL messages (see above)"))
    return "\n".join(lines)
