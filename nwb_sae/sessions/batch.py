"""Many sessions at once: each one trained, encoded and written back as a task on ``dask.distributed``.

``nwb_sae.batch("sessions/*.nwb", "OUT")`` runs, for every session, what ``nwb-sae train`` followed by
``nwb-sae inference --nwb_out`` would: ``OUT/<session>/`` receives the checkpoints, ``history.json``,
``metrics.json``, the figures and ``<session>_sae.nwb`` (the source with the results module added).
``OUT/summary.csv`` has one row per session. Why dask.distributed rather than a process pool of our own:
the same call runs on a laptop (a LocalCluster) or on any cluster a lab already has (pass its scheduler
address, e.g. one started by dask-jobqueue on SLURM), with its dashboard, retries and worker restarts.

What makes a session *complete* is ``OUT/<session>/done.json``, written atomically after everything else
and naming the results file and the settings used. A rerun skips complete sessions whose settings are
unchanged and starts the others again (``resume=True`` continues their interrupted training), so a batch
killed at any moment can simply be run again.
"""

from __future__ import annotations

import glob
import json
import os
import time
import traceback
import urllib.parse
import uuid
from collections import Counter
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from nwb_sae.errors import InputDataError, NwbSaeError

__all__ = ["batch", "SUMMARY_COLUMNS", "session_names", "is_complete", "dask_client"]

SUMMARY_COLUMNS = ["session", "path", "status", "neurons", "samples", "ensembles", "fvu", "l0", "seconds", "error"]
"""Columns of ``OUT/summary.csv``. ``ensembles``: latents that passed the significance test when the
model reports one (``significant_``), otherwise the latents that fire at least once on the session."""

DONE = "done.json"


def batch(data_path, output_dir, *, workers: int | None = None, scheduler: str | None = None,
          activity=None, presentations=None, window=None, bin_size=None, align_to=None, neurons=None,
          where=None, dataset=None, lazy: bool = False, figures: bool = True, resume: bool = False,
          progress: bool = True, **settings):
    """Train, encode and write back every session of ``data_path``, as tasks on a Dask cluster.

    Parameters
    ----------
    data_path : str or list
        A glob pattern (``"sessions/*.nwb"``), one file or URL, or a list of them. URLs
        (``https://...``, ``dandi://ID/path.nwb``) are read remotely; their results are written locally.
    output_dir : str or Path
        ``output_dir/<session>/`` gets each session's outputs; ``output_dir/summary.csv`` the summary.
    workers : int, optional
        Worker processes of the LocalCluster started when no ``scheduler`` is given (one thread each;
        default: the number of CPU cores, at most the number of sessions).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``) to use instead of a LocalCluster. Its
        workers must see ``output_dir`` and the input files at the same paths.
    activity, presentations, window, bin_size, align_to, neurons, where, dataset
        How to read each session; as in :func:`nwb_sae.read_nwb` / :func:`nwb_sae.load_data`.
    figures : bool
        Write the training figures of each session.
    resume : bool
        Continue the interrupted training of incomplete sessions from their last checkpoint.
    progress : bool
        A progress bar over sessions.
    **settings
        Any :class:`nwb_sae.SAE` setting (``n_latents``, ``k``, ``epochs``, ``seed``, ...).

    Returns
    -------
    pandas.DataFrame
        The summary (also written to ``output_dir/summary.csv``), one row per session, columns
        :data:`SUMMARY_COLUMNS`; ``status`` is ``done``, ``failed`` or ``skipped`` (complete from an
        earlier run).

    Raises
    ------
    InputDataError
        No input matches ``data_path``, or the settings are invalid (checked before any work).

    Examples
    --------
    >>> summary = nwb_sae.batch("sessions/*.nwb", "out", workers=4, presentations="trials",
    ...                         n_latents=256, k=8)                                   # doctest: +SKIP
    >>> summary[["session", "status", "ensembles", "fvu"]]                            # doctest: +SKIP
    """
    from nwb_sae.config import Settings

    paths = expand_inputs(data_path)
    out = Path(output_dir)
    read = {k: v for k, v in dict(activity=activity, presentations=presentations, window=window,
                                  bin_size=bin_size, align_to=align_to, neurons=neurons, where=where,
                                  dataset=dataset).items() if v is not None}
    if lazy:  # NWB sessions are read window by window and, when large, trained streamed
        read["lazy"] = True
    settings = {**settings, "progress": False}  # workers' bars would interleave with ours
    if workers is not None and workers < 1:
        raise InputDataError(f"workers must be at least 1, got {workers}.")
    try:
        resolved = Settings.from_flat(**settings).to_flat()
    except (TypeError, ValueError) as err:
        raise InputDataError(f"invalid settings: {err}") from err
    # what decides the results (not how fast or where they are computed): a change re-runs the session
    decisive = {k: v for k, v in resolved.items() if k not in ("threads", "progress", "device")}
    plan = {"read": _jsonable(read), "settings": _jsonable(decisive), "figures": bool(figures)}
    out.mkdir(parents=True, exist_ok=True)

    rows, todo = {}, []
    for name, path in session_names(paths).items():
        folder = out / name
        if is_complete(folder, plan):
            rows[name] = {**json.loads((folder / DONE).read_text())["row"], "status": "skipped"}
        else:
            rows[name] = None
            todo.append((name, path))
    if todo:
        cores = os.cpu_count() or 1
        workers = workers or min(cores, len(todo))
        if scheduler is None and settings.get("threads") is None:  # torch threads: the cores, shared out
            settings["threads"] = max(1, cores // workers)
        with dask_client(workers, scheduler) as client:
            _run(client, todo, out, plan, settings, resume, progress, rows)
    return write_summary(out / "summary.csv", list(rows.values()))


def expand_inputs(data_path) -> list[str]:
    """The sessions named by a glob pattern, a file, a URL, or a list of any of these, in sorted order."""
    from nwb_sae.io.remote import is_url

    items = [data_path] if isinstance(data_path, str | os.PathLike) else list(data_path)
    paths = []
    for item in items:
        item = str(item)
        if is_url(item):
            paths.append(item)
            continue
        matched = sorted(glob.glob(os.path.expanduser(item)))
        if not matched and not glob.has_magic(item):
            matched = [item]  # a missing file is reported in its own row
        paths += matched
    if not paths:
        raise InputDataError(f"{data_path}: matches no file. Give a glob pattern such as 'sessions/*.nwb' "
                             "(quoted, so that the shell does not expand it), files or URLs.")
    return list(dict.fromkeys(paths))


def session_names(paths: list[str]) -> dict[str, str]:
    """Session name -> path: the file stem, prefixed with its folders (``m1__ses``) where stems repeat."""
    parts = [_name_parts(p) for p in paths]
    depth = [0] * len(paths)
    while True:
        names = ["__".join(q[len(q) - 1 - d:]) for q, d in zip(parts, depth, strict=True)]
        counts = Counter(names)
        clashing = [i for i, name in enumerate(names) if counts[name] > 1]
        if not clashing:
            return dict(zip(names, paths, strict=True))
        grown = [i for i in clashing if depth[i] < len(parts[i]) - 1]
        if not grown:
            raise InputDataError(f"these inputs would write to the same session folder: "
                                 f"{sorted(paths[i] for i in clashing)}")
        for i in grown:
            depth[i] += 1


def _name_parts(path: str) -> tuple[str, ...]:
    """Folder names then the file stem: of the URL path for URLs (with a dandiset id), else of the file."""
    if "://" in path:
        split = urllib.parse.urlsplit(path)
        folders = PurePosixPath(urllib.parse.unquote(split.path)).parts
        folders = ((split.netloc,) if split.scheme == "dandi" else ()) + tuple(f for f in folders if f != "/")
    else:
        folders = Path(path).resolve().parts[1:]
    return (*folders[:-1], PurePosixPath(folders[-1]).stem if folders else "session")


def is_complete(folder: Path, plan: dict) -> bool:
    """Whether ``folder`` holds a finished session made with the same reading and training settings."""
    try:
        done = json.loads((folder / DONE).read_text())
    except (OSError, ValueError):
        return False
    return done.get("plan") == plan and (folder / str(done.get("results", ""))).is_file()


def run_session(name: str, path: str, folder: Path, plan: dict, settings: dict, resume: bool) -> dict:
    """One session, start to end, in a worker: returns its summary row (never raises)."""
    started = time.perf_counter()
    row = {"session": name, "path": path, "status": "failed"}
    try:
        row.update(_train_and_write(name, path, Path(folder), plan["read"], settings, plan["figures"], resume))
        row["status"] = "done"
    except NwbSaeError as err:
        row["error"] = str(err)
    except Exception as err:  # a bug, not bad input: keep the traceback beside the session for a report
        row["error"] = f"{type(err).__name__}: {err} (traceback in {Path(folder) / 'error.log'})"
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "error.log").write_text(traceback.format_exc())
    row["seconds"] = round(time.perf_counter() - started, 3)
    if row["status"] == "done":
        from nwb_sae.io.jsonable import write_json

        write_json(Path(folder) / DONE, {"row": row, "plan": plan, "results": f"{name}_sae.nwb"})
    return row


def _train_and_write(name: str, path: str, folder: Path, read: dict, settings: dict, figures: bool,
                     resume: bool) -> dict:
    import numpy as np

    import nwb_sae
    from nwb_sae.io.jsonable import write_json
    from nwb_sae.training.streaming import is_lazy
    from nwb_sae.viz.report import save_training_figures

    read = dict(read)
    if "window" in read:
        read["window"] = tuple(read["window"])
    data = nwb_sae.load_data(path, **read)
    sae = nwb_sae.SAE(**settings).fit(data, checkpoint_dir=folder / "checkpoints", resume=resume)
    write_json(folder / "history.json", sae.history_)
    write_json(folder / "metrics.json", sae.metrics_)
    if figures and not is_lazy(data):  # the figures encode the whole recording at once
        save_training_figures(sae, data, folder / "figures")
    nwb_sae.write_nwb(sae, path, folder / f"{name}_sae.nwb", activity=read.get("activity"),
                      bin_size=read.get("bin_size"), overwrite=True, progress=False)
    significant = getattr(sae, "significant_", None)
    if significant is not None:
        ensembles = int(np.count_nonzero(significant))
    else:
        codes = sae.encode(data)
        ensembles = int((codes != 0).any(dim=("time", "presentations")).sum())
    return {"neurons": data.sizes["neurons"], "samples": data.sizes["time"] * data.sizes["presentations"],
            "ensembles": ensembles, "fvu": float(sae.metrics_["fvu"]), "l0": float(sae.metrics_["l0"])}


def _run(client, todo, out: Path, plan: dict, settings: dict, resume: bool, progress: bool, rows: dict) -> None:
    from distributed import as_completed
    from tqdm.auto import tqdm

    run_id = uuid.uuid4().hex[:8]  # task keys unique per run: a shared scheduler may remember older ones
    futures = {client.submit(run_session, name, path, str(out / name), plan, settings, resume,
                             key=f"nwb-sae-{name}-{run_id}"): (name, path) for name, path in todo}
    with tqdm(total=len(futures), desc="sessions", unit="session", disable=not progress) as bar:
        for future in as_completed(futures):
            name, path = futures[future]
            try:
                rows[name] = future.result()
            except Exception as err:  # the worker itself died (killed for memory, ...)
                rows[name] = {"session": name, "path": path, "status": "failed",
                              "error": f"the Dask worker running it failed ({type(err).__name__}: {err})"}
            bar.set_postfix_str(f"{name}: {rows[name]['status']}")
            bar.update()
            write_summary(out / "summary.csv", [r for r in rows.values() if r is not None])


@contextmanager
def dask_client(workers: int, scheduler: str | None = None):
    """A dask.distributed Client on ``scheduler``, or on a LocalCluster of ``workers`` processes (one thread
    each) listening on 127.0.0.1 only; both are closed on exit."""
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="30s")
        except OSError as err:
            raise NwbSaeError(f"cannot reach the Dask scheduler at {scheduler} ({err}). Check the address, or "
                              "leave --scheduler out to run on this machine.") from err
        with client:
            yield client
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def write_summary(path: Path, rows: list[dict]):
    """Write the summary rows as CSV (atomically) and return them as a DataFrame."""
    import pandas as pd

    from nwb_sae.io.safe_write import atomic_write

    table = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))
    return table


def _jsonable(obj):
    """``obj`` as it reads back from JSON (tuples become lists), so plans compare equal across runs."""
    from nwb_sae.io.jsonable import dumps

    return json.loads(dumps(obj))
