"""``nwb-sae`` command line: one module per verb in this package.

Every module ``nwb_sae/cli/<verb>.py`` (not starting with ``_``) defines ``register(subparsers)``,
which adds its sub-parser and sets ``func`` to the function that runs it. New verbs need no edit here.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from nwb_sae.errors import NwbSaeError


def build_parser() -> argparse.ArgumentParser:
    """Assemble the parser from every verb module of this package."""
    from nwb_sae import __version__

    parser = argparse.ArgumentParser(
        prog="nwb-sae",
        description="Sparse neuron ensembles in neural recordings (NWB, HDF5, .npy).",
    )
    parser.add_argument("--version", action="version", version=f"nwb-sae {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    package = importlib.import_module(__name__)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``nwb-sae`` command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        result = args.func(args)
    except NwbSaeError as err:
        print(f"nwb-sae {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nwb-sae {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)
