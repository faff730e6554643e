"""Which files hold each session's results for tracking, and the tracks as a flat table.

``batch`` writes ``OUTPUT_DIR/<session>/<session>_sae.nwb``; the session is the folder's name. Files
named directly are named as ``batch`` names its inputs (their stems, ``_sae`` dropped).
"""

from __future__ import annotations

import glob
from pathlib import Path

import pandas as pd

from nwb_sae.errors import InputDataError


def tracked_results(inputs) -> dict[str, Path]:
    """{session: results file} from a batch output folder, files, or quoted glob patterns, in session order."""
    from nwb_sae.sessions.batch import session_names

    files: list[Path] = []
    for item in [inputs] if isinstance(inputs, str | Path) else list(inputs):
        path = Path(item)
        if path.is_dir():
            found = sorted(path.glob("*/*_sae.nwb"))
            if not found:
                raise InputDataError(f"{path}: no <session>/<session>_sae.nwb inside; is it a `nwb-sae batch` "
                                     "output folder? Or name the results files.")
            files.extend(found)
        elif any(c in str(item) for c in "*?["):
            files.extend(Path(p) for p in sorted(glob.glob(str(item))))
        elif path.is_file():
            files.append(path)
        else:
            raise InputDataError(f"{item}: no such file or folder.")
    if len(files) < 2:
        raise InputDataError(f"tracking needs at least two sessions; found {len(files)} results file(s).")
    names = session_names([str(f) for f in files])
    out = {}
    for name, path in names.items():
        path = Path(path)
        stem = path.parent.name if path.stem == f"{path.parent.name}_sae" else name.removesuffix("_sae")
        out[stem] = path
    if len(out) != len(files):
        raise InputDataError(f"two results files map to one session name: {sorted(map(str, files))}.")
    return dict(sorted(out.items()))


def tracks_frame(tracks) -> pd.DataFrame:
    """The tracks as one row per (track, session): the per-cell variables and the track's status."""
    cells = [n for n, v in tracks.data_vars.items() if v.dims == ("track", "session")]
    frame = tracks[cells].to_dataframe().reset_index()
    per_track = tracks[[n for n, v in tracks.data_vars.items() if v.dims == ("track",)]].to_dataframe()
    return frame.merge(per_track, left_on="track", right_index=True)
