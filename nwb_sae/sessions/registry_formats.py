"""Registries from where registrations already live: NWB neuron columns, and registration tools' output files.

Each reader turns a tool's file into the plain (session, neuron, global_id, confidence) table that
:class:`~nwb_sae.sessions.registry.Registry` validates, so the rules (one row per local neuron, one neuron
per global id and session) are checked in one place. The tools themselves are never imported: their
outputs are read as files (UnitMatch's licence is non-commercial, ROICaT's results are plain pickles or
its own ``.richfile`` folders that we do not unpickle).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr


def neuron_columns(source, activity: str | None = None) -> tuple[np.ndarray, dict, str]:
    """The local neuron ids, the neuron columns and a name for messages, of a DataArray or an NWB file.

    A DataArray gives its ``neurons`` coordinate and every other coordinate along ``neurons``; a file gives
    the rows of the table behind its activity (Units, PlaneSegmentation), read without the activity itself.
    """
    if isinstance(source, xr.DataArray):
        columns = {name: np.asarray(c.values) for name, c in source.coords.items()
                   if c.dims == ("neurons",) and name != "neurons"}
        where = str(source.attrs.get("source", "the DataArray"))
        return np.asarray(source["neurons"].values), columns, where
    from nwb_sae.io.recording.nwb import open_activity

    with open_activity(source, activity=activity) as src:
        columns = {k: np.asarray(v) for k, v in src.neuron_coords.items()}
        where = f"{source}: {src.object_path}"
    return columns.pop("id"), columns, where


def registry_table_from_path(path: str | Path):
    """A registry table read from a CSV/TSV/parquet file with columns session, neuron, global_id[, confidence]."""
    import pandas as pd

    from nwb_sae.sessions.registry import RegistryError

    path = Path(path)
    if not path.is_file():
        raise RegistryError(f"{path}: no such registry file; give a CSV with columns session, neuron, global_id "
                            f"[, confidence].")
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, sep="\t" if path.suffix in (".tsv", ".tab") else ",")


UNITMATCH_ID_COLUMNS = {"default": "UID 1", "liberal": "UID Lib 1", "conservative": "UID Cons 1",
                        "original": "UID orig 1"}
"""UnitMatch's unique-id variants: the MatchTable.csv column holding each variant for the pair's first unit."""


def read_unitmatch(path, sessions=None, *, uid: str = "default"):
    """A registry table from UnitMatch's ``MatchTable.csv`` (UnitMatchPy ``save_utils.save_to_output``).

    The table has one row per pair of units: ``ID1`` (the unit's cluster id in its session),
    ``RecSes 1`` (its session, counted from 1), ``UID 1`` (its unique id across sessions, written when
    unique ids were assigned; ``UID Lib 1`` / ``UID Cons 1`` hold the liberal / conservative variants) and
    ``UM Probabilities`` (the match probability of the pair). Each unit's confidence is its highest match
    probability with a unit of another session that got the same unique id (1.0 for a unit matched to none).
    UnitMatch itself is not imported.

    Parameters
    ----------
    path : str or Path
        ``MatchTable.csv``, or the UnitMatch output folder holding it.
    sessions : list of str, optional
        The session names, in UnitMatch's session order (default ``"1"``, ``"2"``, ...); name them as the
        fits are named.
    uid : {'default', 'liberal', 'conservative', 'original'}
        Which unique-id variant is the global id.
    """
    import pandas as pd

    from nwb_sae.sessions.registry import RegistryError

    path = Path(path)
    path = path / "MatchTable.csv" if path.is_dir() else path
    if not path.is_file():
        raise RegistryError(f"{path}: no UnitMatch MatchTable.csv; give the file or the UnitMatch output folder "
                            "(UnitMatchPy save_to_output writes it when unique ids are assigned).")
    column = UNITMATCH_ID_COLUMNS.get(uid)
    if column is None:
        raise RegistryError(f"uid must be one of {sorted(UNITMATCH_ID_COLUMNS)}, got {uid!r}.")
    table = pd.read_csv(path)
    needed = ["ID1", "ID2", "RecSes 1", "RecSes 2", column, column.replace(" 1", " 2"), "UM Probabilities"]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise RegistryError(f"{path}: not a UnitMatch match table with unique ids: columns {missing} missing "
                            f"(has {list(table.columns)[:12]}...). Run UnitMatch's unique-id assignment and save "
                            "the MatchTable with the UIDs.")
    units = table.drop_duplicates(["RecSes 1", "ID1"])[["RecSes 1", "ID1", column]]
    same = table[(table[column] == table[column.replace(" 1", " 2")]) & (table["RecSes 1"] != table["RecSes 2"])]
    best = same.groupby(["RecSes 1", "ID1"])["UM Probabilities"].max()
    confidence = [float(best.get((s, i), 1.0)) for s, i in zip(units["RecSes 1"], units["ID1"], strict=True)]
    numbers = sorted(int(s) for s in units["RecSes 1"].unique())
    names = _session_names(sessions, numbers, path)
    return pd.DataFrame({"session": [names[int(s)] for s in units["RecSes 1"]],
                         "neuron": units["ID1"].astype(int).to_numpy(),
                         "global_id": [f"uid{int(u)}" for u in units[column]],
                         "confidence": np.clip(confidence, 0.0, 1.0)})


def read_roicat(labels_by_session, sessions=None, neurons=None):
    """A registry table from ROICaT's tracking output: the cluster label (UCID) of each ROI of each session.

    ROICaT saves its results as a pickle (``results.pkl``: ``results["clusters"]["labels_bySession"]``, one
    integer array per session, ``-1`` for an ROI in no cluster). nwb-sae never unpickles a file; load it
    with ROICaT (``roicat.helpers.pickle_load``) if you trust it and pass the dict, or save the labels as
    an ``.npz`` (one array per session, in session order) and pass its path.

    Parameters
    ----------
    labels_by_session : dict, list of arrays, or path to .npz
        ROICaT's results dict, its ``labels_bySession`` list, or an ``.npz`` of per-session label arrays.
    sessions : list of str, optional
        Session names in ROICaT's order (default: the ``.npz`` keys, else ``"0"``, ``"1"``, ...).
    neurons : dict {session: array}, optional
        Each session's local ids in ROICaT's ROI order (default: the ROI's position, 0..n-1, as the ROI
        rows of a suite2p PlaneSegmentation).
    """
    import pandas as pd

    from nwb_sae.sessions.registry import RegistryError

    keys = None
    if isinstance(labels_by_session, str | Path):
        path = Path(labels_by_session)
        if path.suffix != ".npz" or not path.is_file():
            raise RegistryError(f"{path}: give an .npz of per-session ROICaT labels (nwb-sae does not unpickle "
                                "results.pkl; load it with roicat.helpers.pickle_load and pass the dict).")
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.files)
            labels_by_session = [archive[k] for k in keys]
    elif isinstance(labels_by_session, dict):
        try:
            labels_by_session = labels_by_session["clusters"]["labels_bySession"]
        except (KeyError, TypeError) as err:
            raise RegistryError("a ROICaT results dict holds clusters/labels_bySession; this one does not.") from err
    labels = [np.asarray(lab, dtype=np.int64).ravel() for lab in labels_by_session]
    names = [str(s) for s in sessions] if sessions is not None else (keys or [str(i) for i in range(len(labels))])
    if len(names) != len(labels):
        raise RegistryError(f"{len(names)} session names for {len(labels)} ROICaT sessions; give one name each.")
    frames = []
    for name, lab in zip(names, labels, strict=True):
        ids = np.arange(len(lab)) if neurons is None or name not in neurons else np.asarray(neurons[name])
        if len(ids) != len(lab):
            raise RegistryError(f"session {name!r}: {len(ids)} local ids for {len(lab)} ROICaT ROIs.")
        keep = lab >= 0
        frames.append(pd.DataFrame({"session": name, "neuron": ids[keep],
                                    "global_id": [f"ucid{u}" for u in lab[keep]], "confidence": 1.0}))
    return pd.concat(frames, ignore_index=True)


def _session_names(sessions, numbers: list[int], path) -> dict[int, str]:
    from nwb_sae.sessions.registry import RegistryError

    if sessions is None:
        return {n: str(n) for n in numbers}
    sessions = [str(s) for s in sessions]
    if len(sessions) < max(numbers):
        raise RegistryError(f"{path}: UnitMatch numbers sessions up to {max(numbers)}; {len(sessions)} names given.")
    return {n: sessions[n - 1] for n in numbers}
