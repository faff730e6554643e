"""``nwb-sae track``: link the ensembles of sessions fitted apart (``batch``) through a neuron registry."""

from __future__ import annotations

import argparse

from nwb_sae.cli._common import add_flag
from nwb_sae.cli._flags import add_config_flags, settings_from_args
from nwb_sae.config import TrackConfig


def register(subparsers) -> None:
    """Add the ``track`` verb: the sessions' results files, the registry, the output folder, TrackConfig flags."""
    p = subparsers.add_parser(
        "track", help="track ensembles across sessions (after batch)",
        description="Link the reported ensembles of sessions fitted apart (nwb-sae batch OUTPUT_DIR, or NWB "
                    "files holding nwb-sae results) through a neuron registry, and write OUTPUT_DIR/tracks.csv "
                    "(one row per track and session), OUTPUT_DIR/tracks.png and, per session, a copy of its "
                    "file with the tracks, registry and sessions tables added to its results module "
                    "(OUTPUT_DIR/<session>_tracked.nwb; the inputs are only read unless --in_place).")
    add_flag(p, "results", required=True, nargs="+",
             help="a batch output folder, or NWB files with nwb-sae results (a quoted glob works)")
    source = p.add_mutually_exclusive_group(required=True)
    add_flag(source, "registry", default=None,
             help="CSV/TSV/parquet with columns session, neuron, global_id[, confidence]")
    add_flag(source, "registry_column", default=None,
             help="name of a global-id column of the sessions' Units / PlaneSegmentation tables")
    add_flag(p, "output_dir", required=True, help="folder for tracks.csv, tracks.png and the tracked copies")
    add_flag(p, "in_place", action="store_true", help="add the tables to the input files instead of copies")
    add_flag(p, "overwrite", action="store_true", help="replace existing outputs / tables")
    add_config_flags(p, TrackConfig)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Track, write the table, the figure and each session's tables; print one line per status."""
    from pathlib import Path

    from nwb_sae.io.results.write_tracks import session_rows, write_tracks
    from nwb_sae.sessions.registry import Registry
    from nwb_sae.sessions.track_files import tracked_results, tracks_frame
    from nwb_sae.sessions.tracking import track_ensembles
    from nwb_sae.viz.sessions import plot_tracks

    paths = tracked_results(args.results)
    registry = (Registry.from_file(args.registry) if args.registry
                else Registry.from_nwb_column(paths, column=args.registry_column))
    tracks = track_ensembles(paths, registry, **settings_from_args(args, TrackConfig))
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    tracks_frame(tracks).to_csv(out / "tracks.csv", index=False)
    plot_tracks(tracks, out / "tracks.png")
    written = {name: path if args.in_place else out / f"{name}_tracked.nwb" for name, path in paths.items()}
    sessions = session_rows(paths, registry.hash, written=written)
    for name, path in paths.items():
        write_tracks(path, tracks, registry, name, None if args.in_place else written[name],
                     sessions=sessions, in_place=args.in_place, overwrite=args.overwrite)
    counts = tracks["status"].to_series().value_counts()
    print(f"{tracks.sizes['track']} tracks over {len(paths)} sessions: "
          + ", ".join(f"{counts.get(s, 0)} {s}" for s in tracks.attrs["statuses"]) + f" -> {out}/tracks.csv")
    return 0
