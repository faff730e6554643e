"""``nwb-sae validate FILE``: pynwb schema validation and nwbinspector (DANDI config), briefly."""

from __future__ import annotations

import argparse
from pathlib import Path

from nwb_sae.cli._common import add_flag


def register(subparsers) -> None:
    """Add the ``validate`` verb."""
    parser = subparsers.add_parser(
        "validate",
        help="check an NWB file with pynwb.validate and nwbinspector (DANDI config)",
        description=("Validate an NWB file against its schema (pynwb.validate) and NWB best practices "
                     "(nwbinspector with the DANDI configuration), and print a short report. Messages about "
                     "nwb-sae results are listed apart from those about the rest of the file. Exit status 0: "
                     "no schema error and no CRITICAL message; 1: some; 2: the file cannot be read."),
    )
    parser.add_argument("file", type=Path, help="the NWB file")
    add_flag(parser, "module", default=None,
             help="processing module holding nwb-sae results (default: the one the file has, if any)")
    add_flag(parser, "config", default="dandi", help="nwbinspector configuration (default: dandi)")
    add_flag(parser, "no_inspector", action="store_true", help="only run pynwb.validate (faster)")
    add_flag(parser, "limit", type=int, default=10, help="messages shown per importance level (default 10)")
    parser.set_defaults(func=run)


def _results_module(path: Path, module: str | None) -> str | None:
    from nwb_sae.io.h5 import open_h5
    from nwb_sae.io.results.read import nwb_sae_modules

    with open_h5(path) as h5:
        found = nwb_sae_modules(h5)
    if module is not None:
        return module
    return found[0] if len(found) == 1 else None


def run(args: argparse.Namespace) -> int:
    """Validate ``args.file`` and print the report; returns the exit status."""
    from nwb_sae.io.results.validation import format_report, validate_file

    module = _results_module(args.file, args.module)
    report = validate_file(args.file, inspector=not args.no_inspector, config=args.config)
    print(format_report(report, module=module, limit=args.limit))
    return 0 if report.ok else 1
