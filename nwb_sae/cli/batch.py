"""``nwb-sae batch``: train, encode and write back many sessions as tasks on a Dask cluster."""

from __future__ import annotations

import argparse

from nwb_sae.cli._common import add_flag, data_options
from nwb_sae.cli._flags import settings_from_args
from nwb_sae.cli.train import add_training_flags
from nwb_sae.config import ModelConfig, TrainConfig


def register(subparsers) -> None:
    """Add the ``batch`` verb: the sessions, the output folder, where to run, and every ``train`` flag."""
    p = subparsers.add_parser(
        "batch", help="train, encode and write back many sessions (Dask)",
        description="For every session of DATA_PATH: train (every `train` flag applies), encode and write "
                    "OUTPUT_DIR/<session>/<session>_sae.nwb with its checkpoints, metrics and figures, as "
                    "tasks on dask.distributed (a local cluster by default). OUTPUT_DIR/summary.csv lists each "
                    "session's status (done, failed, skipped), neurons, samples, ensembles, FVU, L0, seconds "
                    "and error. A failed session does not stop the others; a rerun skips complete sessions.")
    add_flag(p, "data_path", required=True, nargs="+",
             help="sessions: a quoted glob pattern ('sessions/*.nwb'), files, or URLs (https://, dandi://)")
    add_flag(p, "output_dir", required=True, help="folder for one sub-folder per session and summary.csv")
    where = p.add_mutually_exclusive_group()
    add_flag(where, "workers", type=int, default=None,
             help="worker processes of the local Dask cluster (default: CPU cores, at most one per session)")
    add_flag(where, "scheduler", default=None,
             help="address of a running Dask scheduler (e.g. tcp://host:8786) to send the sessions to")
    add_training_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the batch; the exit status is 1 when a session failed."""
    from nwb_sae.errors import InputDataError
    from nwb_sae.sessions import batch

    if args.method != "sae":
        raise InputDataError(f"batch trains the SAE only (--method {args.method} was given); fit the baselines "
                             "per session with `nwb-sae train --method ica|nmf`.")
    summary = batch(args.data_path, args.output_dir, workers=args.workers, scheduler=args.scheduler,
                    figures=not args.no_figures, resume=args.resume, lazy=args.lazy, **data_options(args),
                    **settings_from_args(args, ModelConfig, TrainConfig))
    counts = summary["status"].value_counts()
    print(", ".join(f"{counts.get(s, 0)} {s}" for s in ("done", "skipped", "failed")) +
          f": {args.output_dir}/summary.csv")
    for row in summary[summary["status"] == "failed"].itertuples():
        print(f"  {row.session}: {row.error}")
    return int(counts.get("failed", 0) > 0)
