"""Stepping through the sessions of a track in the napari browser, on tracked NWB files written by nwb-sae.

Three synthetic sessions are written as real NWB files (pynwb), each fitted briefly and its results
written (``write_nwb``); their tracks tables are written by ``write_tracks`` (the writer ``nwb-sae
track`` uses) from a known track layout, so the browser's steps have a known answer. The tracking
algorithm itself is tested in test_sessions_tracking.py / test_sessions_cli.py.
"""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest
import xarray as xr

napari = pytest.importorskip("napari")

import nwb_sae  # noqa: E402
from nwb_sae.io.results.write_tracks import session_rows, write_tracks  # noqa: E402
from nwb_sae.napari._layers import BROWSER  # noqa: E402
from nwb_sae.napari._tracks import track_context  # noqa: E402
from nwb_sae.sessions.registry import Registry  # noqa: E402
from nwb_sae.synthetic.sessions import make_sessions, write_sessions_nwb  # noqa: E402

pytestmark = pytest.mark.usefixtures("qt_can_start")

SESSIONS = ["s0", "s1", "s2"]
LATENTS = np.array([[3, 5, 1], [-1, 2, 6]])
"""Known tracks: track 0 present in every session (latents 3, 5, 1), track 1 new in s1 (latents 2, 6)."""


def _tracks() -> xr.Dataset:
    dims = ("track", "session")
    present = LATENTS >= 0
    cosine = np.where(present, 0.9, np.nan)
    cosine[:, 0] = np.nan
    cosine[1, 1] = np.nan
    return xr.Dataset(
        {"latent": (dims, LATENTS), "cosine": (dims, cosine), "p_value": (dims, np.where(present, 0.001, np.nan)),
         "q_value": (dims, np.where(present, 0.003, np.nan)), "n_shared": (dims, np.where(present, 30, -1)),
         "gained": (dims, np.where(present, 0, -1)), "lost": (dims, np.where(present, 0, -1)),
         "status": ("track", np.array(["persistent", "new"]))},
        coords={"track": [0, 1], "session": SESSIONS})


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """{session: tracked results file} in one folder, as `nwb-sae track --output_dir` writes them."""
    folder = tmp_path_factory.mktemp("tracked_sessions")
    truth = make_sessions(n_pool=40, n_sessions=3, kinds={"stable": 2}, members=8, duration=20,
                          n_presentations=8, seed=3)
    sources = write_sessions_nwb(truth, folder / "raw")
    registry = Registry.from_table(truth.registry)
    out = folder / "tracked"
    out.mkdir()
    written = {name: out / f"{name}_tracked.nwb" for name in SESSIONS}
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, source in zip(SESSIONS, sources, strict=True):
            (folder / "batch" / name).mkdir(parents=True)
            sae = nwb_sae.SAE(n_latents=8, k=2, epochs=2, progress=False, seed=0).fit(truth.data[name])
            results[name] = nwb_sae.write_nwb(sae, source, folder / "batch" / name / f"{name}_sae.nwb",
                                              bin_size=0.025, progress=False)
    sessions = session_rows(results, registry.hash, written=written)
    for name in SESSIONS:
        write_tracks(results[name], _tracks(), registry, name, written[name], sessions=sessions)
    return written


def _dock(viewer):
    _, widget = viewer.window.add_plugin_dock_widget("nwb-sae", "SAE code browser")
    return widget


def test_sessions_table_says_where_every_tracked_file_is(tracked):
    with nwb_sae.read_results(tracked["s1"]) as res:
        assert list(res.sessions["file"]) == [f"{s}_tracked.nwb" for s in SESSIONS]
        context = track_context(tracked["s1"], res.tracks, res.sessions)
    assert context.session == "s1" and context.files == tracked and context.missing == []
    assert context.present_in(5) == SESSIONS and context.present_in(2) == ["s1", "s2"]
    assert context.neighbour(5, -1) == ("s0", tracked["s0"]) and context.neighbour(5, +1) == ("s2", tracked["s2"])
    assert context.neighbour(2, -1) is None  # the new track starts here
    assert context.describe(5).startswith("track 0 (persistent") and "[s1]" in context.describe(5)
    assert "not tracked" in context.describe(0) and context.neighbour(0, +1) is None


def test_a_moved_folder_still_steps_and_a_missing_session_is_named(tracked, tmp_path):
    moved = tmp_path / "elsewhere"
    shutil.copytree(tracked["s0"].parent, moved)
    (moved / "s2_tracked.nwb").unlink()
    with nwb_sae.read_results(moved / "s1_tracked.nwb") as res:
        context = track_context(moved / "s1_tracked.nwb", res.tracks, res.sessions)
    assert context.files == {"s0": moved / "s0_tracked.nwb", "s1": moved / "s1_tracked.nwb"}
    assert context.missing == ["s2"] and context.neighbour(5, +1) is None
    assert context.neighbour(5, -1) == ("s0", moved / "s0_tracked.nwb")


def test_untracked_file_has_no_track_row(make_napari_viewer, tracked, tmp_path):
    viewer = make_napari_viewer()
    widget = _dock(viewer)
    plain = tmp_path / "plain_sae.nwb"
    shutil.copy(tracked["s0"].parent.parent / "batch" / "s0" / "s0_sae.nwb", plain)  # fitted, never tracked
    assert widget.load(plain) is not None
    assert widget.browser.track_context is None and widget.track_row.isHidden()


def test_step_through_the_sessions_of_a_track(make_napari_viewer, tracked):
    viewer = make_napari_viewer()
    widget = _dock(viewer)
    assert widget.load(tracked["s1"]) is not None
    widget.select_latent(5)
    assert not widget.track_row.isHidden() and "track 0" in widget.track_label.text()
    assert widget.previous_session.isEnabled() and widget.next_session.isEnabled()
    first = widget.browser

    assert widget.step_session(+1) is not None
    assert widget.browser.path == tracked["s2"] and widget.latent == 1
    browsers = {id(layer.metadata.get(BROWSER)) for layer in viewer.layers if layer.metadata.get(BROWSER)}
    assert browsers == {id(widget.browser)}  # the previous session's layers were replaced, not stacked
    assert not widget.next_session.isEnabled() and widget.step_session(+1) is None  # the track's last session

    widget.step_session(-1)
    widget.step_session(-1)
    assert widget.browser.path == tracked["s0"] and widget.latent == 3
    assert not widget.previous_session.isEnabled()
    assert first._stack is not None and widget.browser is not first

    widget.select_latent(0)  # not a tracked latent: the line says so, nowhere to step
    assert "not tracked" in widget.track_label.text()
    assert not widget.previous_session.isEnabled() and not widget.next_session.isEnabled()
