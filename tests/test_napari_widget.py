"""The napari plugin on NWB files written by nwb-sae itself (ophys with ROI masks, units without).

Runs a real napari viewer (pytest-qt + napari's ``make_napari_viewer``) under Xvfb (pytest-xvfb).
"""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

napari = pytest.importorskip("napari")

from nwb_sae import read_nwb, read_results  # noqa: E402
from nwb_sae.napari._layers import BROWSER, ROLE  # noqa: E402
from nwb_sae.napari._reader import napari_get_reader, read_nwb_layers  # noqa: E402
from nwb_sae.napari._rows import normalisation  # noqa: E402
from nwb_sae.napari._sample_data import SAMPLE_NAME, SAMPLE_SIZE, make_sample_file  # noqa: E402

SMALL = SAMPLE_SIZE  # the files below are the plugin's own sample data
WINDOW = (-0.2, 0.8)  # what make_sample_file trains on for n_time=20 (time from -0.2 s, 0.05 s bins)


pytestmark = pytest.mark.usefixtures("qt_can_start")  # before pytest-qt's session-wide qapp


@pytest.fixture(scope="session")
def files(tmp_path_factory):
    """NWB files made by nwb-sae's own writers.

    ophys + results (ROI image masks), units + results (no masks), the bare ophys recording, and
    results of an SAE trained on every other ROI only (a neuron subset, as with an ``iscell`` filter).
    """
    from nwb_sae import SAE, write_nwb

    folder = tmp_path_factory.getbasetemp() / SAMPLE_NAME
    ophys = make_sample_file(folder, kind="ophys")
    units = make_sample_file(folder, kind="units")
    bare = ophys.with_name(ophys.name.replace("_sae.nwb", ".nwb"))
    subset = folder / "ophys_subset_sae.nwb"
    if not subset.exists():
        x = read_nwb(bare, presentations="trials", window=WINDOW, neurons=list(range(1, SMALL["n_neurons"], 2)))
        sae = SAE(n_latents=16, k=2, epochs=2, batch_size=128, progress=False).fit(x)
        write_nwb(sae, bare, subset)
    return {"ophys": ophys, "units": units, "bare": bare, "subset": subset, "folder": folder}


def _roles(layers):
    return {layer_data[1]["metadata"][ROLE]: layer_data for layer_data in layers}


def _dock(viewer):
    _, widget = viewer.window.add_plugin_dock_widget("nwb-sae", "SAE code browser")
    return widget


def _summary_done(qtbot, widget):
    """Wait until the widget's background pass has shown its summary (whenever it finishes)."""
    qtbot.waitUntil(lambda: widget.summary is not None, timeout=120_000)


def test_reader_gives_activity_codes_and_roi_layers(files):
    path = files["ophys"]
    assert napari_get_reader(str(path)) is read_nwb_layers
    assert napari_get_reader("recording.npy") is None
    layers = _roles(read_nwb_layers(str(path)))
    assert set(layers) == {"codes", "activity", "roi_weights"}
    res = read_results(path)
    n_latents, n_neurons = res.dictionary.shape
    codes, activity = layers["codes"][0], layers["activity"][0]
    assert codes.shape == (SMALL["n_presentations"], n_latents, SMALL["n_time"])
    assert activity.shape == (SMALL["n_presentations"], n_neurons, SMALL["n_time"])
    # the layers hold exactly what read_nwb aligns to the trials
    x = read_nwb(path, presentations="trials", window=WINDOW)
    c = read_nwb(path, activity="processing/sae/codes", presentations="trials", window=WINDOW)
    browser = layers["activity"][1]["metadata"][BROWSER]
    offset, scale = normalisation(browser.neuron_stats, "z-score")
    for p in (0, 17, SMALL["n_presentations"] - 1):
        np.testing.assert_allclose(activity.raw([p])[0], x.values[:, :, p], rtol=1e-6)
        # shown: each neuron z-scored, in the browser's row order
        shown = (x.values[:, :, p] - offset[:, None]) * scale[:, None]
        np.testing.assert_allclose(activity[p], shown[browser.rows], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(codes[p], c.values[:, :, p], rtol=1e-6)
    assert layers["roi_weights"][0].ndim == 2


def test_units_file_has_no_mask_layer(files):
    layers = _roles(read_nwb_layers(files["units"]))
    assert set(layers) == {"codes", "activity"}
    n_units = read_results(files["units"]).dictionary.sizes["neurons"]
    assert layers["activity"][0].shape == (SMALL["n_presentations"], n_units, SMALL["n_time"])


def _image_masks(path):
    """The ROI masks as the source file stores them (read here with h5py, independently of the plugin)."""
    with h5py.File(path, "r") as f:
        return f["processing/ophys/ImageSegmentation/PlaneSegmentation/image_mask"][()]


def test_selecting_a_latent_updates_atom_plot_and_roi_painting(make_napari_viewer, files):
    path = files["ophys"]
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin="nwb-sae")
    widget = _dock(viewer)
    assert widget.browser is not None and widget.browser.path == path  # adopted the reader's layers
    roles = [layer.metadata.get(ROLE) for layer in viewer.layers]
    assert {"activity", "codes", "roi_weights", "selection", "selection_arrow", "row_labels", "titles"} <= set(roles)
    dictionary = read_results(path).dictionary.values
    masks = _image_masks(path)
    owner = np.where(masks.max(axis=0) > 0, masks.argmax(axis=0), -1)
    widget.show_all.setChecked(True)  # latents 3 and 11 need not be significant ensembles
    for latent in (3, 11):
        row = next(r for r in range(widget.latent_table.rowCount())
                   if int(widget.latent_table.item(r, 0).text()) == latent)
        widget.latent_table.selectRow(row)
        assert widget.latent == latent
        heights = [bar.get_height() for bar in widget.plots.atom_bars]  # in each neuron's own SDs
        scale = np.asarray(read_results(path).provenance["normalization"]["scale"], dtype=float)
        expected = dictionary[latent] / scale
        expected /= np.linalg.norm(expected)
        np.testing.assert_allclose(heights, expected, rtol=1e-4, atol=1e-7)
        painted = widget.layer("roi_weights").data
        assert painted.shape == owner.shape
        for roi in range(masks.shape[0]):
            np.testing.assert_allclose(painted[owner == roi], expected[roi], rtol=1e-4, atol=1e-7)
        assert np.all(painted[owner < 0] == 0)


def test_results_on_a_neuron_subset_paint_only_those_rois(make_napari_viewer, files):
    viewer = make_napari_viewer()
    widget = _dock(viewer)
    widget.load(files["subset"])
    assert not widget.message.isVisibleTo(widget)
    res = read_results(files["subset"])
    rois = np.asarray(res.dictionary["neurons"].values).astype(int)  # ROI ids = rows of the table here
    assert widget.layer("activity").data.shape[1] == rois.size
    widget.select_latent(4)
    masks = _image_masks(files["subset"])
    owner = np.where(masks.max(axis=0) > 0, masks.argmax(axis=0), -1)
    painted = widget.layer("roi_weights").data
    atom = widget.browser.member_atoms()[4]  # the atom in each neuron's own SDs
    for j, roi in enumerate(rois):
        alone = (owner == roi) & (masks[np.setdiff1d(rois, [roi])].max(axis=0) == 0)
        np.testing.assert_allclose(painted[alone], atom[j], rtol=1e-5)
    others = np.setdiff1d(np.arange(masks.shape[0]), rois)
    outside = (masks[others].max(axis=0) > 0) & (masks[rois].max(axis=0) == 0)
    assert outside.any() and np.all(painted[outside] == 0)


def test_ensembles_listed_first_then_every_other_latent_with_the_fits_reason(make_napari_viewer, files, qtbot):
    path = files["ophys"]
    stats = read_results(path).latent_table
    significant = stats["significant"].to_numpy(dtype=bool)
    n = int(significant.sum())
    widget = _dock(make_napari_viewer())
    widget.load(path)
    assert widget.header.text().startswith(f"{n} ensemble{'s' if n != 1 else ''} of {len(stats)} latents")
    assert widget.show_all.isChecked() and widget.latent_table.rowCount() == len(stats)
    listed = widget.table["significant"].to_numpy(dtype=bool)
    assert listed[:n].all() and not listed[n:].any()  # exactly the reported ensembles first
    verdict = widget.table["verdict"]
    assert (verdict[listed] == "ensemble").all()
    np.testing.assert_array_equal(verdict[~listed].to_numpy(dtype=str),  # the reason written by the fit
                                  stats["reason"].loc[widget.table.index[~listed]].to_numpy(dtype=str))
    assert {"neurons", "activation_frequency", "q_value"} <= set(widget.table)
    headings = [widget.latent_table.horizontalHeaderItem(c).text() for c in range(widget.latent_table.columnCount())]
    shown_q = [widget.latent_table.item(r, headings.index("q")).text() for r in range(n)]
    assert all(q.startswith("<") or float(q) <= 0.05 for q in shown_q)
    widget.show_all.setChecked(False)
    assert widget.latent_table.rowCount() == n


def test_selectivity_column_is_the_stored_tested_statistic(make_napari_viewer, files, qtbot):
    path = files["ophys"]
    stats = read_results(path).latent_table
    widget = _dock(make_napari_viewer())
    widget.load(path)
    widget.show_all.setChecked(True)
    column = widget.current_column()
    assert f"{column}_eta_squared" in stats  # the model was trained with this presentation column
    _summary_done(qtbot, widget)
    shown = widget.table.sort_index()
    np.testing.assert_allclose(shown["selectivity"], stats[f"{column}_eta_squared"].to_numpy())
    np.testing.assert_allclose(shown["selectivity_q"], stats[f"{column}_q_value"].to_numpy())


def test_condition_averages_and_top_presentations(make_napari_viewer, files, qtbot):
    path = files["ophys"]
    viewer = make_napari_viewer()
    widget = _dock(viewer)
    widget.load(path)
    assert widget.current_column() == "condition"
    _summary_done(qtbot, widget)
    latent = 5
    widget.select_latent(latent)
    c = read_nwb(path, activity="processing/sae/codes", presentations="trials", window=WINDOW)
    condition = c["condition"].values
    lines = widget.plots.condition_lines
    levels = np.unique(condition)
    assert len(lines) == levels.size
    for line, level in zip(lines, levels, strict=True):
        expected = c.values[latent][:, condition == level].mean(axis=1)
        np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-4, atol=1e-6)
    # the table has the selectivity column, values in [0, 1]
    assert "selectivity" in widget.table and widget.table["selectivity"].dropna().between(0, 1).all()
    # the top presentations are those with the largest mean code; clicking one moves the slider
    means = c.values[latent].mean(axis=0)
    first = widget.top_list.item(0)
    best = int(first.data(0x0100))
    assert np.isclose(means[best], means.max(), rtol=1e-5)
    widget.top_list.itemClicked.emit(first)
    assert viewer.dims.current_step[0] == best
    # both layers show that presentation (they share the slider)
    codes, activity = widget.layer("codes"), widget.layer("activity")
    x = read_nwb(path, presentations="trials", window=WINDOW)
    world = codes.data_to_world([best, 2, 3])
    assert np.isclose(codes.get_value(world, world=True), c.values[2, 3, best])
    widget.normalise_combo.setCurrentText("raw")  # the file's values, in the file's order
    widget.order_combo.setCurrentText("file order")
    world = activity.data_to_world([best, 1, 4])
    assert np.isclose(activity.get_value(world, world=True), x.values[1, 4, best])
    # grouping by nothing: one curve over all presentations
    with qtbot.waitSignal(widget.summary_ready, timeout=120_000):
        widget.group_combo.setCurrentText("(none)")
    assert widget.summary.column is None and len(widget.plots.condition_lines) == 1


def test_a_newer_summary_pass_or_closing_quits_the_running_one(make_napari_viewer, files, qtbot):
    import threading

    from nwb_sae.napari._open import open_browser

    browser = open_browser(files["ophys"])
    gate = threading.Event()  # the passes' worker threads wait here until the test lets them go
    read = browser.codes.read

    def gated_read(presentations):
        if threading.current_thread() is not threading.main_thread():
            gate.wait(120)
        return read(presentations)

    browser.codes.read = gated_read
    viewer = make_napari_viewer()
    widget = _dock(viewer)
    widget.set_browser(browser, add_layers=True)
    first = widget._running["worker"]
    returned = []
    first.returned.connect(returned.append)
    with qtbot.waitSignals([first.aborted, widget.summary_ready], timeout=120_000):
        widget.group_combo.setCurrentText("(none)")  # replaces the pass grouped by condition
        gate.set()
    assert not returned and widget.summary.column is None
    gate.clear()
    widget.group_combo.setCurrentText("condition")
    third = widget._running["worker"]
    with qtbot.waitSignal(third.aborted, timeout=120_000):
        widget.close()
        gate.set()
    assert widget.summary is None


def test_clicking_a_row_of_the_codes_image_selects_that_latent(make_napari_viewer, files, qtbot):
    from qtpy.QtCore import QPoint, Qt

    viewer = make_napari_viewer(show=True)
    widget = _dock(viewer)
    widget.load(files["units"])
    codes = widget.layer("codes")
    canvas = viewer.window._qt_viewer.canvas
    view = canvas.view
    for latent in (7, 20):
        world_row, world_col = np.asarray(codes.data_to_world([0, latent, 5]))[1:]
        x, y = (view.transform * view.scene.transform).map([world_col, world_row])[:2]
        qtbot.mouseClick(canvas.native, Qt.MouseButton.LeftButton, pos=QPoint(int(round(x)), int(round(y))))
        assert widget.latent == latent
        rows = widget.layer("selection").data[0][:, 0]
        assert rows.min() == latent - 0.5 and rows.max() == latent + 0.5  # the row is outlined


def test_file_without_results_shows_a_message(make_napari_viewer, files):
    viewer = make_napari_viewer()
    widget = _dock(viewer)
    widget.load(files["bare"])
    assert widget.message.isVisibleTo(widget)
    assert "No nwb-sae results" in widget.message.text()
    assert widget.layer("activity") is not None and widget.layer("codes") is None


def test_results_from_a_different_neuron_set_show_a_message(make_napari_viewer, files, tmp_path):
    # the units were re-sorted after the results were written: same table, other unit ids
    other = tmp_path / "resorted.nwb"
    shutil.copy(files["units"], other)
    with h5py.File(other, "a") as f:
        f["units/id"][:] = f["units/id"][:] + 100
    viewer = make_napari_viewer()
    widget = _dock(viewer)
    widget.load(other)
    text = widget.message.text()
    assert widget.message.isVisibleTo(widget)
    assert "different neuron set" in text and "processing/sae" in text and "units" in text
    # the codes and the recording are still shown; there is just no atom to draw
    assert widget.layer("codes") is not None and widget.layer("activity") is not None
    assert widget.browser.dictionary is None and widget.plots.atom_bars is None


@pytest.mark.parametrize("content", [b"not an NWB file", b""])
def test_unreadable_file_shows_a_message(make_napari_viewer, tmp_path, content):
    bad = tmp_path / "broken.nwb"
    bad.write_bytes(content)
    viewer = make_napari_viewer()
    widget = _dock(viewer)
    assert widget.load(bad) is None
    assert "broken.nwb" in widget.message.text()
    assert widget.load(tmp_path / "missing.nwb") is None
    assert "no such file" in widget.message.text()


def test_screenshot_of_the_window_is_not_blank(make_napari_viewer, files, qtbot):
    viewer = make_napari_viewer(show=True)
    widget = _dock(viewer)
    widget.load(files["ophys"])
    _summary_done(qtbot, widget)
    canvas = viewer.screenshot(canvas_only=True, flash=False)
    window = viewer.screenshot(canvas_only=False, flash=False)
    assert window.shape[0] > canvas.shape[0] and window.shape[1] > canvas.shape[1]
    rgb = canvas[..., :3].astype(float)
    assert rgb.std() > 10  # layers were drawn, not a uniform black canvas
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 50


def test_view_command_docks_the_widget(make_napari_viewer, files):
    from nwb_sae.cli import build_parser
    from nwb_sae.cli.view import open_in_viewer

    args = build_parser().parse_args(["view", str(files["units"]), "--module", "sae"])
    assert args.file == files["units"] and args.module == "sae"
    viewer = make_napari_viewer()
    widget = open_in_viewer(viewer, args.file, args.module)
    assert widget.browser is not None and widget.layer("codes") is not None
    assert not widget.message.isVisibleTo(widget)


def test_sample_data_opens(make_napari_viewer, files, monkeypatch):
    import tempfile

    # the sample is written into the temporary folder; point it at this session's folder
    monkeypatch.setattr(tempfile, "tempdir", str(files["folder"].parent))
    viewer = make_napari_viewer()
    viewer.open_sample("nwb-sae", "planted_ensembles")
    roles = {layer.metadata.get(ROLE) for layer in viewer.layers}
    assert roles == {"codes", "activity", "roi_weights"}
    widget = _dock(viewer)
    assert widget.browser is not None and widget.latent is not None


def test_manifest_is_valid_and_its_commands_import():
    from importlib.resources import files as package_files

    from npe2 import PluginManifest

    manifest = PluginManifest.from_file(package_files("nwb_sae.napari") / "napari.yaml")
    manifest.validate_imports()  # raises when a python_name does not resolve
    assert {c.python_name.split(":")[0] for c in manifest.contributions.commands} >= {"nwb_sae.napari._qt._widget"}
