"""Stepping through the sessions of one track: the files ``nwb-sae track`` wrote, found from each other.

After tracking, every session's results module holds a ``tracks`` table (one row per latent: its track
id, status, the sessions the track is present in) and a ``sessions`` table whose ``file`` column gives
each session's tracked file relative to the folder they share. From the file that is open, the browser
finds that folder, the session of this file, and, for the selected latent, the file and latent of the
same track in the previous or next session where it is present.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd


@dataclass
class TrackContext:
    """The tracked sessions around one open file.

    Attributes
    ----------
    session : str
        The session of the open file.
    sessions : list of str
        Every tracked session, in tracking order.
    files : dict
        Session -> its tracked file (only those found on disk).
    tracks : pandas.DataFrame
        The open file's ``tracks`` table, indexed by latent.
    missing : list of str
        Sessions whose file was not found (named in the dock).
    """

    session: str
    sessions: list
    files: dict
    tracks: pd.DataFrame
    missing: list

    def track_of(self, latent: int) -> pd.Series | None:
        """The track row of ``latent``, None when the latent is not tracked."""
        if latent not in self.tracks.index:
            return None
        row = self.tracks.loc[latent]
        return row if int(row["track"]) >= 0 else None

    def present_in(self, latent: int) -> list[str]:
        """The sessions where the latent's track is present, in tracking order."""
        row = self.track_of(latent)
        if row is None:
            return []
        present = set(str(row["presence"]).split(";")) if str(row["presence"]) else set()
        return [s for s in self.sessions if s in present]

    def neighbour(self, latent: int, step: int) -> tuple[str, Path] | None:
        """The session ``step`` (-1 previous, +1 next) presences away where the track is, and its file."""
        present = self.present_in(latent)
        if self.session not in present:
            return None
        i = present.index(self.session) + step
        if not 0 <= i < len(present) or present[i] not in self.files:
            return None
        return present[i], self.files[present[i]]

    def describe(self, latent: int) -> str:
        """One line: the latent's track, its status and where it is present (this session in brackets)."""
        row = self.track_of(latent)
        if row is None:
            return f"latent {latent} is not tracked (not a reported ensemble of this session)"
        present = set(self.present_in(latent))
        cells = [f"[{s}]" if s == self.session else s if s in present else "·" for s in self.sessions]
        cosine = float(row.get("cosine_previous", np.nan))
        link = f", cosine {cosine:.2f} to the previous session" if np.isfinite(cosine) else ""
        return f"track {int(row['track'])} ({row['status']}{link}): " + " ".join(cells)


def track_context(path, tracks: pd.DataFrame | None, sessions: pd.DataFrame | None) -> TrackContext | None:
    """The tracked sessions around ``path`` from its ``tracks`` and ``sessions`` tables (None: not tracked).

    The session of ``path`` is the one whose ``file`` entry ``path`` ends with; the folder shared by the
    sessions' files is what remains of ``path`` above that entry.
    """
    if tracks is None or sessions is None or "file" not in sessions or not len(sessions):
        return None
    path = Path(path).resolve()
    entries = dict(zip(sessions["session"].astype(str), sessions["file"].astype(str), strict=True))
    own = [name for name, entry in entries.items() if _ends_with(path, entry)]
    if not own:
        return None
    session = own[0]
    root = Path(*path.parts[:-len(PurePosixPath(entries[session]).parts)])
    files, missing = {}, []
    for name, entry in entries.items():
        candidate = root.joinpath(*PurePosixPath(entry).parts)
        (files.__setitem__(name, candidate) if candidate.is_file() else missing.append(name))
    table = tracks.copy()
    table.index = table["latent"].astype(int).to_numpy()
    return TrackContext(session=session, sessions=list(sessions["session"].astype(str)), files=files,
                        tracks=table, missing=missing)


def _ends_with(path: Path, entry: str) -> bool:
    parts = PurePosixPath(entry).parts
    return bool(parts) and path.parts[-len(parts):] == parts


def latent_of_track(path, track: int, module: str = "sae") -> int | None:
    """The latent of ``path``'s dictionary that belongs to ``track`` (None when the file has none)."""
    from nwb_sae import read_results

    with read_results(path, module=module) as res:
        table = res.tracks
    if table is None:
        return None
    rows = table.loc[table["track"].astype(int) == int(track), "latent"]
    return int(rows.iloc[0]) if len(rows) else None
