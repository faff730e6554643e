"""Figures of nwb_sae.viz: axes counts, real PNGs, headless and thread-safe use, clear errors."""

from __future__ import annotations

import ast
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure

from nwb_sae import viz
from nwb_sae.errors import InputDataError
from nwb_sae.synthetic import make_recording


@pytest.fixture(scope="module")
def rec():
    """A small recording with 3 conditions."""
    return make_recording(n_neurons=12, n_atoms=16, n_time=10, n_presentations=9, n_conditions=3, seed=1)


@pytest.fixture(scope="module")
def recon(rec):
    """A fake reconstruction: the data plus noise."""
    noise = np.random.default_rng(0).normal(0.0, 0.1, size=rec.data.shape).astype(np.float32)
    return rec.data + noise


@pytest.fixture
def history():
    """Ten epochs of a training run that bottoms out at epoch 7."""
    val = [1.0, 0.8, 0.6, 0.5, 0.45, 0.42, 0.40, 0.41, 0.43, 0.44]
    return {
        "epoch": list(range(1, 11)),
        "train_loss": [v * 0.9 for v in val],
        "val_loss": val,
        "val_fvu": [v / 2 for v in val],
        "val_l0": [8.0 - i * 0.3 for i in range(10)],
        "dead_fraction": [0.0, 0.0, 0.05, 0.05, 0.1, 0.1, 0.1, 0.12, 0.12, 0.12],
    }


def assert_png(path):
    """The file exists, is not empty and is not a single colour."""
    assert path.stat().st_size > 0
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3
    assert float(pixels[..., :3].std()) > 0


def check(fig, n_axes, path=None):
    """A Figure with ``n_axes`` axes (and, given ``path``, a real PNG there)."""
    assert isinstance(fig, Figure)
    assert len(fig.axes) == n_axes
    if path is not None:
        assert_png(path)


@pytest.fixture(autouse=True)
def no_pyplot_figures():
    """viz never registers figures with pyplot (when some other code has imported it)."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    before = set(pyplot.get_fignums()) if pyplot else set()
    yield
    pyplot = sys.modules.get("matplotlib.pyplot")
    assert (set(pyplot.get_fignums()) if pyplot else set()) == before


# --- plot_history


def test_history_panels_best_epoch_and_png(history, tmp_path):
    path = tmp_path / "history.png"
    fig = viz.plot_history(history, path=path)
    check(fig, 4, path=path)
    assert fig.axes[0].get_yscale() == "log"
    assert "best epoch 7" in fig.axes[0].get_title()
    for ax in fig.axes:  # the best epoch is marked in every panel
        assert any(np.allclose(line.get_xdata(), 7) for line in ax.get_lines())


def test_history_with_missing_keys_and_gaps():
    fig = viz.plot_history({"train_loss": [2.0, 1.0, np.nan, 0.5], "val_fvu": [None, 0.5, 0.4, 0.3]})
    check(fig, 4)
    assert "best epoch" not in fig.axes[0].get_title()  # no val_loss, no best epoch
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts.count("not recorded") == 2  # L0 and dead fraction


def test_history_empty_and_nonpositive():
    fig = viz.plot_history({})
    check(fig, 4)
    fig = viz.plot_history({"train_loss": [1.0, -0.5]})
    assert fig.axes[0].get_yscale() == "linear"


# --- plot_reconstructions


def test_reconstructions_default_first_n(rec, recon, tmp_path):
    path = tmp_path / "recon.png"
    fig = viz.plot_reconstructions(rec.data, recon, n=2, path=path)
    check(fig, 2 * 2 + 1, path=path)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("presentation 0 (condition=")
    assert "FVU = 0." in titles[1]  # noise makes FVU small and positive
    left, right = fig.axes[0].images[0], fig.axes[1].images[0]
    assert left.get_clim() == right.get_clim()  # shared colour scale
    time = rec.data["time"].values
    x0, x1 = fig.axes[0].get_xlim()
    assert x0 < time[0] < time[-1] < x1  # x axis in seconds


def test_reconstructions_fvu_matches_metric(rec):
    from nwb_sae.metrics import fvu

    recon = rec.data * 0.5
    fig = viz.plot_reconstructions(rec.data, recon, presentations=[4])
    x = rec.data.isel(presentations=4).values.T
    assert f"FVU = {fvu(x, x * 0.5):.3f}" in fig.axes[1].get_title()


def test_reconstructions_chosen_and_single_presentation(rec, recon, tmp_path):
    fig = viz.plot_reconstructions(rec.data, recon, presentations=[5, 2, 7])
    check(fig, 3 * 2 + 1)
    assert fig.axes[2].get_title().startswith("presentation 2")
    one = rec.data.isel(presentations=[3])
    path = tmp_path / "one.png"
    fig = viz.plot_reconstructions(one, one + 0.05, n=5, path=path)
    check(fig, 3, path=path)


def test_reconstructions_bad_input(rec, recon):
    with pytest.raises(InputDataError, match="out of range"):
        viz.plot_reconstructions(rec.data, recon, presentations=[99])
    with pytest.raises(InputDataError, match="differ in shape"):
        viz.plot_reconstructions(rec.data, recon.isel(presentations=slice(0, 3)))


# --- plot_dictionary


def test_dictionary_alone_and_with_truth(rec, tmp_path):
    learned = rec.dictionary + np.random.default_rng(1).normal(0, 0.05, size=rec.dictionary.shape)
    fig = viz.plot_dictionary(learned, n=8)
    check(fig, 2)
    image = fig.axes[0].images[0]
    assert image.get_array().shape == (8, 12)
    low, high = image.get_clim()
    assert low == pytest.approx(-high)  # diverging, centred at 0
    path = tmp_path / "dict_truth.png"
    order = np.arange(16)[::-1]
    labels = [f"roi{i}" for i in range(12)]
    fig = viz.plot_dictionary(learned, order=order, n=4, neuron_labels=labels, true_dictionary=rec.dictionary,
                              path=path)
    check(fig, 3, path=path)
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), learned[[15, 14, 13, 12]])
    assert fig.axes[0].get_xticklabels()[0].get_text() == "roi0"
    hist = fig.axes[1]
    assert "MMCS = " in hist.get_title() and "16/16 above 0.9" in hist.get_title()
    assert any(np.allclose(line.get_xdata(), 0.9) for line in hist.get_lines())


def test_significant_ensembles_are_marked(rec):
    significant = np.zeros(16, bool)
    significant[[2, 5]] = True
    fig = viz.plot_dictionary(rec.dictionary, order=[5, 0, 2, 1], n=4, significant=significant)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["5*", "0", "2*", "1"]
    assert "2 significant ensembles" in fig.axes[0].get_title()
    fig = viz.plot_code_statistics(rec.codes, significant=significant)
    legend = [t.get_text() for t in fig.axes[2].get_legend().get_texts()]
    assert any(text.startswith("significant ensembles") for text in legend)
    with pytest.raises(InputDataError, match="significance flags"):
        viz.plot_dictionary(rec.dictionary, significant=significant[:3])


def test_dictionary_bad_input(rec):
    with pytest.raises(InputDataError, match="neurons"):
        viz.plot_dictionary(rec.dictionary, true_dictionary=rec.dictionary[:, :5])
    with pytest.raises(InputDataError, match="labels"):
        viz.plot_dictionary(rec.dictionary, neuron_labels=["a"])
    with pytest.raises(InputDataError, match="order"):
        viz.plot_dictionary(rec.dictionary, order=[100])


# --- plot_code_statistics


def test_code_statistics(rec, tmp_path):
    path = tmp_path / "stats.png"
    fig = viz.plot_code_statistics(rec.codes, path=path)
    check(fig, 4, path=path)
    n_dead = int(np.sum(np.count_nonzero(rec.codes.values.reshape(16, -1), axis=1) == 0))
    assert fig.axes[0].get_title().startswith(f"{n_dead} of 16 latents dead")
    time = rec.codes["time"].values
    np.testing.assert_allclose(fig.axes[3].get_lines()[0].get_xdata(), time)


def test_code_statistics_all_dead_is_readable(rec, tmp_path):
    dead = rec.codes * 0
    path = tmp_path / "dead.png"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NaN / divide-by-zero warnings
        fig = viz.plot_code_statistics(dead, path=path)
    check(fig, 4, path=path)
    title = fig.axes[0].get_title()
    assert title == "16 of 16 latents dead (100%)"
    assert "nan" not in " ".join(ax.get_title() for ax in fig.axes).lower()


# --- plot_codes


def test_codes_with_and_without_data(rec, tmp_path):
    fig = viz.plot_codes(rec.codes, 3, top=5)
    check(fig, 2)
    shown = fig.axes[0].images[0].get_array()
    totals = np.abs(rec.codes.isel(presentations=3).values).sum(axis=1)
    np.testing.assert_allclose(np.abs(shown).sum(axis=1), np.sort(totals)[::-1][:5], rtol=1e-6)
    path = tmp_path / "codes_data.png"
    fig = viz.plot_codes(rec.codes, 0, data=rec.data, top=100, path=path)
    check(fig, 4, path=path)
    assert fig.axes[0].images[0].get_array().shape == (12, 10)  # data above
    assert fig.axes[1].images[0].get_array().shape == (16, 10)  # top clipped to the latents there are


def test_codes_bad_input(rec):
    with pytest.raises(InputDataError, match="out of range"):
        viz.plot_codes(rec.codes, 9)
    with pytest.raises(InputDataError, match="presentations"):
        viz.plot_codes(rec.codes, 0, data=rec.data.isel(presentations=slice(0, 2)))


# --- plot_tuning


def test_tuning_default_and_chosen(rec, tmp_path):
    fig = viz.plot_tuning(rec.codes, "condition")
    check(fig, 6)
    n_conditions = np.unique(rec.codes["condition"].values).size
    assert all(len(ax.get_lines()) >= n_conditions for ax in fig.axes)
    assert fig.legends and fig.legends[0].get_title().get_text() == "condition"
    path = tmp_path / "tuning.png"
    fig = viz.plot_tuning(rec.codes, "condition", latents=[0, 5], path=path)
    check(fig, 2, path=path)
    assert [ax.get_title() for ax in fig.axes] == ["latent 0", "latent 5"]


def test_tuning_default_picks_most_variable(rec):
    codes = rec.codes.copy()
    values = codes.values.copy()
    values[11] = 0.0
    values[11][:, codes["condition"].values == 0] = 5.0  # latent 11 fires only for condition 0
    codes.values = values
    fig = viz.plot_tuning(codes, "condition")
    assert fig.axes[0].get_title() == "latent 11"


def test_tuning_missing_coordinate_names_the_available_ones(rec):
    with pytest.raises(ValueError, match=r"'stimulus'.*available: \['presentations', 'condition'\]"):
        viz.plot_tuning(rec.codes, "stimulus")
    with pytest.raises(InputDataError, match="between 1 and 6"):
        viz.plot_tuning(rec.codes, "condition", latents=list(range(7)))


def test_tuning_one_presentation(rec):
    fig = viz.plot_tuning(rec.codes.isel(presentations=[0]), "condition")
    check(fig, 6)


# --- general


def test_wrong_dims_are_reported(rec):
    with pytest.raises(InputDataError, match="dims"):
        viz.plot_code_statistics(rec.data)
    with pytest.raises(InputDataError, match="DataArray"):
        viz.plot_code_statistics(rec.codes.values)


def test_works_in_threads(rec, history, tmp_path):
    jobs = [
        lambda: viz.plot_history(history, path=tmp_path / "t_history.png"),
        lambda: viz.plot_dictionary(rec.dictionary, n=4, path=tmp_path / "t_dictionary.png"),
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        figures = list(pool.map(lambda job: job(), jobs))
    assert all(isinstance(fig, Figure) for fig in figures)
    for name in ("history", "dictionary"):
        assert_png(tmp_path / f"t_{name}.png")


def test_viz_never_imports_pyplot():
    imported = []
    for module in Path(viz.__file__).parent.glob("*.py"):
        tree = ast.parse(module.read_text())
        imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                     for alias in node.names]
        imported += [f"{node.module}.{alias.name}" for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) for alias in node.names]
    assert any("matplotlib" in name for name in imported)
    assert not [name for name in imported if "pyplot" in name]


# --- ax=: every plot function draws into the caller's axes or (sub)figure


def _one_call_per_plot_function(rec, recon, history):
    """name -> (args, kwargs, panels it draws) for every public plot function."""
    return {
        "plot_history": ((history,), {}, 4),
        "plot_reconstructions": ((rec.data, recon), {"n": 2}, 4),
        "plot_dictionary": ((rec.dictionary,), {"true_dictionary": rec.dictionary}, 2),
        "plot_code_statistics": ((rec.codes,), {}, 4),
        "plot_codes": ((rec.codes, 0), {"data": rec.data}, 2),
        "plot_tuning": ((rec.codes, "condition"), {"latents": [0, 1, 2]}, 3),
        "plot_tracks": ((_two_tracks(),), {}, 1),
    }


def _two_tracks() -> xr.Dataset:
    """A persistent track over three sessions and one that appears in the last: the layout of track_ensembles."""
    dims = ("track", "session")
    return xr.Dataset({
        "latent": (dims, np.array([[0, 2, 1], [-1, -1, 4]])),
        "status": ("track", np.array(["persistent", "new"])),
        "cosine": (dims, np.array([[np.nan, 0.95, 0.9], [np.nan, np.nan, np.nan]])),
        "rate": (dims, np.array([[0.1, 0.2, 0.15], [np.nan, np.nan, 0.05]])),
    }, coords={"session": ["mon", "wed", "fri"]})


def test_every_plot_function_draws_into_given_axes(rec, recon, history, tmp_path):
    import inspect

    calls = _one_call_per_plot_function(rec, recon, history)
    plot_functions = {name for name in viz.__all__ if name.startswith("plot_")}
    assert set(calls) == plot_functions  # a new plot function needs a case here
    for name in sorted(plot_functions):
        assert "ax" in inspect.signature(getattr(viz, name)).parameters, name
        args, kwargs, panels = calls[name]
        fig = Figure(figsize=(12, 8), layout="constrained")
        axes = fig.subplots(1, panels + 1)  # one more than needed: the caller's own panel stays
        path = tmp_path / f"{name}.png"
        out = getattr(viz, name)(*args, **kwargs, ax=axes[:panels], path=path)
        assert out is fig and all(ax.has_data() for ax in axes[:panels]), name
        assert not axes[panels].has_data(), name
        assert_png(path)


def test_plot_into_a_single_axes_and_a_subfigure(rec, history):
    fig = Figure()
    ax = fig.subplots()
    assert viz.plot_dictionary(rec.dictionary, ax=ax) is fig and ax.images
    fig = Figure(layout="constrained")
    left, right = fig.subfigures(1, 2)
    assert viz.plot_history(history, ax=right) is fig
    assert len(right.axes) == 4 and not left.axes


def test_wrong_number_of_axes_is_explained(history):
    fig = Figure()
    with pytest.raises(InputDataError, match="plot_history draws 4 panel.*got 2"):
        viz.plot_history(history, ax=fig.subplots(1, 2))
