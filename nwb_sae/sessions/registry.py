"""Which local neuron of which session is which global neuron: the registry every cross-session claim needs.

NWB has no standard for cross-session neuron identity (pynwb issue 1736 suggests a custom global-id
column), and registration tools (ROICaT, CellReg, track2p, UnitMatch) give each run new global ids, so a
registry is a plain table (session, local neuron id, global id, confidence) pinned by a hash of its
canonical form: results computed with one registry say which version they used.

Local ids are compared as strings (``str(id)``), so the integer unit ids of one file and the string ROI
names of another both work; a neuron the registry does not list keeps a session-prefixed global id
(``"<session>:<neuron>"``) and so is never shared with another session.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import pandas as pd

from nwb_sae.errors import InputDataError

REGISTRY_COLUMNS = ("session", "neuron", "global_id", "confidence")


class RegistryError(InputDataError):
    """A neuron registry is inconsistent: duplicated rows, one global id twice in a session, missing columns."""


def unregistered_id(session: str, neuron) -> str:
    """The global id a neuron the registry does not list gets: its session, a colon, its local id."""
    return f"{session}:{neuron}"


class Registry:
    """A versioned map (session, local neuron id) -> global neuron id, with a confidence per row.

    Build it with :meth:`from_table`, :meth:`from_nwb_column` or the readers of registration tools'
    outputs (:func:`nwb_sae.sessions.registry_formats.read_roicat`, ``read_unitmatch``).

    Examples
    --------
    >>> import pandas as pd
    >>> reg = Registry.from_table(pd.DataFrame({"session": ["mon", "mon", "fri"], "neuron": [0, 1, 7],
    ...                                         "global_id": ["a", "b", "a"]}))
    >>> reg.sessions
    ('fri', 'mon')
    >>> reg.global_ids("mon", [1, 0, 5]).tolist()
    ['b', 'a', 'mon:5']
    >>> reg.shared("mon", "fri")
    ['a']
    """

    def __init__(self, table: pd.DataFrame):
        self._table = table  # validated, canonical: str columns, sorted, float confidence
        self._lookup = {(s, n): (g, c) for s, n, g, c in table.itertuples(index=False, name=None)}
        self._by_session = {s: dict(zip(t["neuron"], t["global_id"], strict=True))
                            for s, t in table.groupby("session", sort=True)}

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_table(cls, df: pd.DataFrame, *, source: str = "the registry table") -> Registry:
        """A registry from a table with columns ``session``, ``neuron``, ``global_id`` and optional ``confidence``.

        Parameters
        ----------
        df : pandas.DataFrame
            One row per registered neuron of a session. ``neuron`` is the local id as it appears in that
            session's ``neurons`` coordinate; ``confidence`` (default 1.0) is the registration tool's
            certainty in [0, 1]. Rows whose ``global_id`` is missing (NaN/None/"") are dropped: the neuron
            stays unregistered.
        source : str
            Named in error messages (a file name when the table was read from one).

        Raises
        ------
        RegistryError
            A required column is missing, a (session, neuron) pair appears twice, or one global id is given
            to two neurons of the same session; the message lists the rows and the fix.
        """
        if not isinstance(df, pd.DataFrame):
            raise RegistryError(f"{source}: expected a pandas DataFrame with columns session, neuron, "
                                f"global_id, got {type(df).__name__}.")
        missing = [c for c in REGISTRY_COLUMNS[:3] if c not in df.columns]
        if missing:
            raise RegistryError(f"{source}: missing column(s) {missing}; a registry table needs columns "
                                f"session, neuron (the local id in that session's `neurons` coordinate), "
                                f"global_id and optionally confidence. It has {list(df.columns)}.")
        table = pd.DataFrame({
            "session": df["session"].astype(str).to_numpy(),
            "neuron": [str(n) for n in df["neuron"]],
            "global_id": df["global_id"].to_numpy(dtype=object),
            "confidence": (df["confidence"].to_numpy(dtype=float) if "confidence" in df.columns
                           else np.ones(len(df))),
        })
        registered = table["global_id"].notna() & (table["global_id"].astype(str) != "")
        table = table[registered].copy()
        table["global_id"] = [_global_str(g) for g in table["global_id"]]
        bad_conf = ~np.isfinite(table["confidence"]) | (table["confidence"] < 0) | (table["confidence"] > 1)
        if bad_conf.any():
            raise RegistryError(f"{source}: confidence must be a number in [0, 1]; rows "
                                f"{_rows(table[bad_conf])} are not. Rescale or drop the column (default 1.0).")
        _refuse_duplicates(table, ["session", "neuron"], source,
                           "each local neuron of a session may be registered once; keep one row per "
                           "(session, neuron), e.g. the one of highest confidence")
        _refuse_duplicates(table, ["session", "global_id"], source,
                           "one global id names two neurons of the same session (a split or merged ROI/unit); "
                           "keep the better-matched neuron or give the other its own global id")
        table = table.sort_values(["session", "neuron"], kind="stable").reset_index(drop=True)
        return cls(table)

    @classmethod
    def from_nwb_column(cls, sources, column: str = "global_id", *, sessions: Iterable[str] | None = None,
                        activity: str | None = None) -> Registry:
        """A registry from a global-id column already in each session's Units / PlaneSegmentation table.

        Parameters
        ----------
        sources : list of paths or DataArrays, or dict {session: path or DataArray}
            NWB files (their activity's neuron table is read, not the activity) or DataArrays from
            :func:`nwb_sae.read_nwb`, whose ``neurons`` coordinate holds the local ids and whose neuron
            coordinate ``column`` (or ``neuron_<column>``) holds the global ids.
        column : str
            The name of the global-id column.
        sessions : list of str, optional
            Session names for a list of sources (default: file stems as ``batch`` names them; for
            DataArrays their ``session`` attribute or the source file's stem).
        activity : str, optional
            Which activity of an NWB file, as in :func:`nwb_sae.read_nwb`.
        """
        from nwb_sae.sessions.registry_formats import neuron_columns

        named = _named_sources(sources, sessions)
        frames = []
        for session, src in named.items():
            ids, columns, where = neuron_columns(src, activity)
            values = columns.get(column, columns.get(f"neuron_{column}"))
            if values is None:
                raise RegistryError(f"{where}: no neuron column {column!r} (has {sorted(columns)}); add the "
                                    f"global ids as a column of the Units / PlaneSegmentation table "
                                    f"(pynwb: table.add_column('{column}', ...)) or pass column=.")
            frames.append(pd.DataFrame({"session": session, "neuron": ids, "global_id": values}))
        return cls.from_table(pd.concat(frames, ignore_index=True), source=f"the {column!r} columns")

    @classmethod
    def from_unitmatch(cls, path, sessions=None, *, uid: str = "default") -> Registry:
        """A registry from UnitMatch's ``MatchTable.csv`` (see :func:`~nwb_sae.sessions.registry_formats.read_unitmatch`)."""
        from nwb_sae.sessions.registry_formats import read_unitmatch

        return cls.from_table(read_unitmatch(path, sessions, uid=uid), source=str(path))

    @classmethod
    def from_roicat(cls, labels_by_session, sessions=None, neurons=None) -> Registry:
        """A registry from ROICaT's per-session cluster labels (see :func:`~nwb_sae.sessions.registry_formats.read_roicat`)."""
        from nwb_sae.sessions.registry_formats import read_roicat

        return cls.from_table(read_roicat(labels_by_session, sessions, neurons), source="the ROICaT labels")

    @classmethod
    def from_file(cls, path) -> Registry:
        """A registry from a CSV / TSV / parquet table with columns session, neuron, global_id[, confidence]."""
        from nwb_sae.sessions.registry_formats import registry_table_from_path

        return cls.from_table(registry_table_from_path(path), source=str(path))

    # ---------------------------------------------------------------- queries
    @property
    def sessions(self) -> tuple[str, ...]:
        """The session names the registry lists, sorted."""
        return tuple(self._by_session)

    def global_ids(self, session: str, neurons) -> np.ndarray:
        """The global id of each local neuron id in ``neurons`` (str array); unregistered ones get ``session:id``."""
        table = self._by_session.get(str(session), {})
        return np.array([table.get(str(n), unregistered_id(session, n)) for n in np.asarray(neurons).tolist()],
                        dtype=object).astype(str)

    def confidence(self, session: str, neurons) -> np.ndarray:
        """The registration confidence of each local neuron (float array); 0 for unregistered neurons."""
        return np.array([self._lookup.get((str(session), str(n)), (None, 0.0))[1]
                         for n in np.asarray(neurons).tolist()], dtype=float)

    def shared(self, session_a: str, session_b: str) -> list[str]:
        """The global ids registered in both sessions, sorted."""
        a = set(self._by_session.get(str(session_a), {}).values())
        b = set(self._by_session.get(str(session_b), {}).values())
        return sorted(a & b)

    @property
    def hash(self) -> str:
        """sha256 (hex) of the canonical table: two registries with the same rows have the same hash."""
        canonical = self._table.to_csv(index=False, float_format="%.6g", lineterminator="\n")
        return hashlib.sha256(canonical.encode()).hexdigest()

    def to_frame(self) -> pd.DataFrame:
        """The registry as a table (session, neuron, global_id, confidence), local ids as strings."""
        return self._table.copy()

    def __len__(self) -> int:
        return len(self._table)

    def __repr__(self) -> str:
        return (f"Registry({len(self._table)} rows, {len(self.sessions)} sessions, "
                f"{self._table['global_id'].nunique()} global ids, hash {self.hash[:12]})")

    def __eq__(self, other) -> bool:
        return isinstance(other, Registry) and self.hash == other.hash

    __hash__ = None


def _global_str(value) -> str:
    """Global ids as strings; integral floats (ids that went through a NaN-holding column) lose their ``.0``."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _rows(table: pd.DataFrame, limit: int = 6) -> str:
    rows = [f"({s!r}, neuron {n!r}, global_id {g!r})" for s, n, g in
            table[["session", "neuron", "global_id"]].itertuples(index=False, name=None)]
    return ", ".join(rows[:limit]) + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


def _refuse_duplicates(table: pd.DataFrame, keys: list[str], source: str, fix: str) -> None:
    dup = table.duplicated(keys, keep=False)
    if dup.any():
        raise RegistryError(f"{source}: {int(dup.sum())} rows repeat a ({', '.join(keys)}) pair: "
                            f"{_rows(table[dup])}; {fix}.")


def _named_sources(sources, sessions) -> dict:
    """{session: source} from a dict, or a list named by ``sessions``, DataArray attrs or batch's file naming."""
    if isinstance(sources, dict):
        return {str(k): v for k, v in sources.items()}
    sources = list(sources)
    if sessions is not None:
        sessions = [str(s) for s in sessions]
        if len(sessions) != len(sources):
            raise RegistryError(f"{len(sessions)} session names for {len(sources)} sources; give one name each.")
        return dict(zip(sessions, sources, strict=True))
    from nwb_sae.sessions.batch import session_names

    keys = [str(s) if not hasattr(s, "dims") else str(s.attrs.get("session") or s.attrs.get("source_file")
                                                          or f"session{i}") for i, s in enumerate(sources)]
    names = session_names(keys)
    by_key = dict(zip(keys, sources, strict=True))
    return {name: by_key[key] for name, key in names.items()}
