"""The first view of `nwb-sae view`, checked on the rendered canvas: every layer in view, rows readable,
the selection marked at any zoom, members on top, the ensemble over time.

Three files as a user opens them: demo-shaped trial data (48 neurons, 384 latents, as ``nwb-sae demo``),
the suite2p export and the roiextractors file of the corpus (continuous, ROI masks, summary images).
The models are small TopK fits: what is tested is the browser, not the fit.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

napari = pytest.importorskip("napari")

from nwb_sae.napari._layers import layout_of  # noqa: E402
from nwb_sae.napari._marks import HIGHLIGHT  # noqa: E402
from nwb_sae.napari._rows import members  # noqa: E402

pytestmark = pytest.mark.usefixtures("qt_can_start")

WINDOW = (1500, 920)
"""The window size of the README picture."""
MIN_ROW_PIXELS = 2.0
"""Fewest screen pixels per activity row at :data:`WINDOW` (suite2p's 172 ROIs get about 2.4)."""
CORPUS_FILES = {"suite2p": "suite2p-export__2022_08_08.nwb", "roiextractors": "roiextractors-segmentation__nwb_test.nwb"}


@pytest.fixture(scope="session")
def viewed(tmp_path_factory, request):
    """name -> NWB file with results, for the demo-shaped recording and the two corpus files."""
    from nwb_sae import SAE, read_nwb, write_nwb
    from nwb_sae.synthetic import make_recording, write_nwb_recording

    folder = tmp_path_factory.mktemp("framing")
    out = {}
    rec = make_recording(n_neurons=48, n_atoms=96, n_time=40, n_presentations=150, bin_size=0.05, seed=0)
    source = write_nwb_recording(folder / "demo.nwb", rec, kind="ophys", seed=0)
    t = rec.data["time"].values
    sources = {"demo": (source, dict(presentations="trials", window=(float(t[0]), float(t[-1]) + 0.05)))}
    corpus = request.getfixturevalue("corpus_dir") if "NWB_SAE_CORPUS" in os.environ else None
    if corpus is not None:
        sources.update({name: (corpus / "ophys" / file, {}) for name, file in CORPUS_FILES.items()})
    for name, (path, kwargs) in sources.items():
        x = read_nwb(path, **kwargs)
        n_latents = 384 if name == "demo" else 32
        sae = SAE(n_latents=n_latents, activation="topk", k=6, epochs=1, seed=0, progress=False).fit(x)
        out[name] = write_nwb(sae, path, folder / f"{name}_sae.nwb")
    return out


def _open(make_napari_viewer, path, qtbot):
    """As `nwb-sae view` does: a viewer, the dock, the file; then let Qt lay the window out."""
    from qtpy.QtWidgets import QApplication

    from nwb_sae.cli.view import open_in_viewer

    viewer = make_napari_viewer(show=True)
    viewer.window.resize(*WINDOW)
    widget = open_in_viewer(viewer, path)
    qtbot.waitUntil(lambda: widget.summary is not None, timeout=120_000)
    for _ in range(5):
        QApplication.processEvents()
    return viewer, widget


def _to_screen(viewer):
    """World (row, column) -> screenshot pixel (x, y), and the screenshot of the canvas."""
    shot = viewer.screenshot(canvas_only=True, flash=False)
    view = viewer.window._qt_viewer.canvas.view
    transform = view.transform * view.scene.transform
    ratio = shot.shape[0] / viewer.canvas.size[0]  # screenshot pixels per canvas pixel

    def to_screen(row, col):
        x, y = transform.map([col, row])[:2]
        return x * ratio, y * ratio
    return to_screen, shot


def _boxes(widget, to_screen) -> dict:
    """Screen box (x0, y0, x1, y1) of each image layer, from its pixel edges mapped to the screen."""
    boxes = {}
    for role in ("activity", "codes", "roi_weights", "background"):
        layer = widget.layer(role)
        if layer is None:
            continue
        rows, cols = layer.data.shape[-2:]
        lead = [0] * (layer.ndim - 2)
        top_left = np.asarray(layer.data_to_world([*lead, -0.5, -0.5]))[-2:]
        bottom_right = np.asarray(layer.data_to_world([*lead, rows - 0.5, cols - 0.5]))[-2:]
        boxes[role] = (*to_screen(*top_left), *to_screen(*bottom_right))
    return boxes


def assert_framed(viewer, widget) -> float:
    """Every image layer inside the canvas, drawn, and nothing touching the canvas edge; returns the
    screen pixels per activity row."""
    to_screen, shot = _to_screen(viewer)
    height, width = shot.shape[:2]
    rgb = shot[..., :3].astype(int)
    background = rgb[0, 0]
    for role, (x0, y0, x1, y1) in _boxes(widget, to_screen).items():
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height, f"{role} is cut off: {(x0, y0, x1, y1)}"
        inside = rgb[int(y0) + 1:int(y1) - 1, int(x0) + 1:int(x1) - 1]
        assert (np.abs(inside - background).sum(axis=-1) > 0).mean() > 0.2, f"{role} is not drawn"
    border = np.concatenate([rgb[:2].reshape(-1, 3), rgb[-2:].reshape(-1, 3), rgb[:, :2].reshape(-1, 3),
                             rgb[:, -2:].reshape(-1, 3)])
    assert (border == background).all(), "something is drawn at the canvas edge (cut off)"
    x0, y0, x1, y1 = _boxes(widget, to_screen)["activity"]
    return (y1 - y0) / widget.layer("activity").data.shape[1]


def _highlight_near(viewer, world, radius: int = 10) -> bool:
    to_screen, shot = _to_screen(viewer)
    x, y = to_screen(*world)
    patch = shot[max(0, int(y) - radius):int(y) + radius, max(0, int(x) - radius):int(x) + radius, :3].astype(int)
    target = np.array([int(HIGHLIGHT[i:i + 2], 16) for i in (1, 3, 5)])
    return bool((np.abs(patch - target).sum(axis=-1) < 60).any())


@pytest.mark.parametrize("name", ["demo", "suite2p", "roiextractors"])
def test_first_view_is_framed_readable_and_marked(make_napari_viewer, viewed, qtbot, name):
    if name not in viewed:
        pytest.skip("NWB_SAE_CORPUS is not set")
    viewer, widget = _open(make_napari_viewer, viewed[name], qtbot)
    b = widget.browser
    assert widget.fitter.fits >= 2  # fitted again once the dock's layout gave the canvas its size
    pixels_per_row = assert_framed(viewer, widget)
    assert pixels_per_row >= MIN_ROW_PIXELS
    # the selected latent's arrow, at the fitted zoom and zoomed far out
    arrow = widget.layer("selection_arrow")
    world = np.asarray(arrow.data_to_world(arrow.data[0]))[-2:]
    assert _highlight_near(viewer, world)
    viewer.scene.camera.zoom /= 20
    assert _highlight_near(viewer, world)
    # the members of the selected ensemble on top of the activity, each labelled with its id
    top = members(b.dictionary[widget.latent])
    assert b.rows[: top.size].tolist() == top.tolist()
    labels = widget.layer("row_labels").features["label"].tolist()
    assert [str(b.neuron_ids[i]) in {v.rstrip("*") for v in labels} for i in top] == [True] * top.size
    # the ensemble over time with its null band: the whole session (continuous) or condition means (trials)
    plots = widget.plots
    assert plots.band_line is not None
    if b.presentations_from.startswith("consecutive"):
        assert len(plots.condition_lines) == 1 and plots.window_line is not None
        assert plots.condition_lines[0].get_xdata().size >= b.n_presentations
    else:
        assert len(plots.condition_lines) == widget.summary.levels.size
    assert " of " in widget.header.text() and "latents" in widget.header.text()
    if name != "demo":  # the imaging plane under the ROIs, the classifier's column advertised
        assert widget.layer("background") is not None
        assert widget.cells_hint.isVisibleTo(widget) and "--neurons" in widget.cells_hint.text()


def test_the_view_follows_the_window_until_the_user_moves_the_camera(make_napari_viewer, viewed, qtbot):
    from qtpy.QtWidgets import QApplication

    viewer, widget = _open(make_napari_viewer, viewed["demo"], qtbot)
    viewer.window.resize(1000, 700)
    for _ in range(5):
        QApplication.processEvents()
    assert_framed(viewer, widget)
    viewer.scene.camera.zoom *= 3  # the user zooms in: the camera is theirs now
    zoom = viewer.scene.camera.zoom
    viewer.window.resize(1200, 800)
    for _ in range(5):
        QApplication.processEvents()
    assert viewer.scene.camera.zoom == zoom


def test_switches_normalisation_row_order_and_overview_click(make_napari_viewer, viewed, qtbot):
    from matplotlib.backend_bases import MouseEvent

    viewer, widget = _open(make_napari_viewer, viewed["demo"], qtbot)
    b = widget.browser
    activity = widget.layer("activity")
    p = int(viewer.dims.current_step[0])
    raw = b.activity.raw([p])[0]
    widget.normalise_combo.setCurrentText("raw")
    widget.order_combo.setCurrentText("file order")
    np.testing.assert_allclose(activity.data[p], raw, rtol=1e-6)
    widget.normalise_combo.setCurrentText("z-score")
    z = (raw - b.neuron_stats.mean[:, None]) / b.neuron_stats.std[:, None]
    np.testing.assert_allclose(activity.data[p], z, rtol=1e-4, atol=1e-4)
    # clicking a row of the membership overview selects that ensemble
    plots = widget.plots
    target = int(plots.membership_latents[-1])
    x, y = plots.ax_members.transData.transform((1, len(plots.membership_latents) - 1))
    MouseEvent("button_press_event", plots, x, y, button=1)._process()
    assert widget.latent == target
    assert layout_of(b).activity is not None
