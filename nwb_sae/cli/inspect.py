"""``nwb-sae inspect FILE``: what a file holds that nwb-sae can read, and what to pass to read it."""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    """Add the ``inspect`` verb."""
    parser = subparsers.add_parser(
        "inspect",
        help="list the activity sources and interval tables of an NWB (or HDF5) file",
        description="List the candidate activity sources (path, type, neurons, samples, sampling) and "
                    "interval tables (name, rows, columns) of a file, i.e. what to pass as --activity "
                    "and --presentations.",
    )
    parser.add_argument("file", help="an .nwb file (or a plain .h5/.hdf5 file), or its URL (https://, dandi://)")
    parser.add_argument("--json", action="store_true", help="print the listing as JSON")
    parser.set_defaults(func=run)


def _duration(seconds) -> str:
    if seconds is None:
        return ""
    return f"{seconds:.4g} s" if seconds < 600 else f"{seconds / 60:.4g} min"


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def format_listing(info: dict) -> str:
    """The readable listing printed by ``nwb-sae inspect``."""
    lines = [info["file"]]
    if info["format"] == "hdf5":
        lines.append("  plain HDF5 (not NWB): read a dataset with --dataset PATH (nwb_sae.read_hdf5)")
        rows = [["dataset", "shape", "dtype", "dims"]] + [
            [d["path"], "x".join(map(str, d["shape"])), d["dtype"], ",".join(d["dims"]) or "-"]
            for d in info["datasets"]
        ]
        lines += _table(rows) if info["datasets"] else ["  no numeric dataset with 2 or more dimensions"]
        return "\n".join(lines)
    lines.append(f"  NWB {info['nwb_version']}, identifier {info['identifier']!r}")
    if info["session_description"]:
        lines.append(f"  {info['session_description']}")
    lines += ["", "Activity (--activity PATH; * marks the one read when none is given)"]
    if info["activity"]:
        rows = [["", "path", "type", "neurons", "samples", "sampling", "duration", "notes"]]
        for a in info["activity"]:
            rows.append(["*" if a["default"] else "", a["path"], a["type"], str(a["neurons"]),
                         "-" if a["samples"] is None else str(a["samples"]), a["sampling"],
                         _duration(a["duration_s"]), a["notes"]])
        lines += _table(rows)
    else:
        lines.append("  none")
    if info["default_activity"] is None and info["default_problem"]:
        lines.append(f"  no automatic choice: {info['default_problem'].split(': ', 1)[-1]}")
    lines += ["", "Interval tables (--presentations NAME; --align_to COLUMN)"]
    if info["intervals"]:
        rows = [["name", "path", "rows", "time span", "columns"]]
        for t in info["intervals"]:
            span = (f"{t['start_s']:g} to {t['stop_s']:g} s" if t["start_s"] is not None and t["stop_s"] is not None
                    else "")
            rows.append([t["name"], t["path"], str(t["rows"]), span, ", ".join(t["columns"])])
        lines += _table(rows)
    else:
        lines.append("  none: the recording is cut into consecutive windows (--window sets their length)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the listing of ``args.file``."""
    from nwb_sae.io.recording.describe import describe_file

    info = describe_file(args.file)
    print(json.dumps(info, indent=2) if args.json else format_listing(info))
    return 0
