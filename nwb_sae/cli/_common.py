"""Flags shared by several verbs, each accepted in underscore and hyphen spelling."""

from __future__ import annotations

import argparse


def spellings(name: str) -> list[str]:
    """``some_flag`` -> ``['--some_flag', '--some-flag']``."""
    hyphen = name.replace("_", "-")
    return [f"--{name}"] + ([f"--{hyphen}"] if hyphen != name else [])


def add_flag(parser: argparse.ArgumentParser, name: str, **kwargs) -> None:
    """Add ``--name`` accepting both ``--some_flag`` and ``--some-flag``."""
    parser.add_argument(*spellings(name), dest=name, **kwargs)


def add_quiet_flag(parser: argparse.ArgumentParser) -> None:
    """``--quiet``: the original design's name for ``--no-progress`` (sets ``progress`` to False)."""
    parser.add_argument("--quiet", dest="progress", action="store_false", default=argparse.SUPPRESS,
                        help="no progress bar (the same as --no-progress)")


def parse_window(text: str) -> tuple[float, float]:
    """Parse ``"-0.5,1.5"`` (or ``"-0.5 1.5"``) into a (start, stop) tuple in seconds."""
    parts = text.replace(",", " ").split()
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"window must be 'START,STOP' in seconds, got {text!r}")
    start, stop = (float(p) for p in parts)
    if stop <= start:
        raise argparse.ArgumentTypeError(f"window stop must be after start, got {text!r}")
    return start, stop


def parse_neurons(text: str):
    """``"3,7,12"`` -> [3, 7, 12]; anything else (a column name or a query) stays text."""
    parts = [p.strip() for p in text.split(",")]
    try:
        return [int(p) for p in parts]
    except ValueError:
        return text


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """Options that say which activity and presentations to read from an NWB/HDF5 file."""
    group = parser.add_argument_group("NWB / HDF5 input")
    add_flag(group, "activity", default=None,
             help="path of the activity in the file, e.g. 'processing/ophys/Fluorescence/RoiResponseSeries' "
                  "or 'units' (default: the only candidate; see `nwb-sae inspect FILE`)")
    add_flag(group, "presentations", default=None,
             help="interval table to align on, e.g. 'trials' or 'intervals/encoding_table' "
                  "(default: fixed consecutive windows over the whole recording)")
    add_flag(group, "align_to", default=None,
             help="column of the interval table holding the event times (default: start_time)")
    add_flag(group, "window", type=parse_window, default=None,
             help="window around each event in seconds, 'START,STOP', e.g. '-0.5,1.5'; without --presentations "
                  "the length of the consecutive windows (also for a 2-D [neurons, time] .npy/.npz/.nc/HDF5 "
                  "array, in samples when it has no time coordinate)")
    add_flag(group, "bin_size", type=float, default=None,
             help="bin size in seconds for spike trains (Units)")
    add_flag(group, "neurons", type=parse_neurons, default=None,
             help="neurons to keep: a boolean column ('iscell'), a query on the neuron table "
                  "(\"location == 'CA1'\") or comma-separated ids ('3,7,12')")
    add_flag(group, "where", default=None,
             help="presentations to keep: a query on the interval table, e.g. \"condition == 2\"")
    add_flag(group, "dataset", default=None, help="dataset path inside a plain HDF5 file")


def data_options(args: argparse.Namespace) -> dict:
    """The reader options given on the command line (those left unset are omitted)."""
    keys = ("activity", "presentations", "align_to", "window", "bin_size", "neurons", "where", "dataset")
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
