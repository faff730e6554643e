"""Tracking ensembles across sessions on planted answers: links, statuses, the shuffled-id null, projection."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import nwb_sae
from nwb_sae.sessions.projection import project_template
from nwb_sae.sessions.registry import Registry
from nwb_sae.synthetic.sessions import make_sessions, shuffled_registry


def noisy_fits(truth, noise: float = 0.03, seed: int = 0) -> dict:
    """Each session's planted atoms with weight noise on every neuron: a good per-session fit."""
    rng = np.random.default_rng(seed)
    fits = {}
    for name in truth.sessions:
        atoms = truth.pool_atoms(name)
        fits[name] = atoms.copy(data=np.abs(atoms.values + rng.normal(0.0, noise, atoms.shape)))
    return fits


@pytest.fixture(scope="module")
def truth():
    return make_sessions(n_pool=240, duration=30, n_presentations=10, members=16, seed=4)


def test_planted_ensembles_are_tracked_with_their_status(truth):
    tracks = nwb_sae.track_ensembles(noisy_fits(truth), registry=Registry.from_table(truth.registry))
    assert tracks["latent"].dims == ("track", "session")
    assert list(tracks["session"].values) == truth.sessions
    assert tracks.sizes["track"] == len(truth.assemblies)
    present = truth.rates > 0
    for t in range(tracks.sizes["track"]):
        assembly = int(tracks["latent"].values[t][tracks["latent"].values[t] >= 0][0])
        np.testing.assert_array_equal(tracks["latent"].values[t] >= 0, present[assembly])
        assert set(tracks["latent"].values[t][present[assembly]]) == {assembly}
        assert tracks["status"].values[t] == truth.assemblies["status"][assembly]
    linked = np.isfinite(tracks["q_value"].values)
    assert linked.sum() > 0 and (tracks["q_value"].values[linked] <= 0.05).all()
    assert (tracks["gained"].values[tracks["latent"].values < 0] == -1).all()
    drifting = tracks["status"].values == "drifting"
    assert (tracks["gained"].values[drifting][:, 1:] > 0).any()
    assert tracks.attrs["registry_hash"] == Registry.from_table(truth.registry).hash


def test_a_session_that_missed_an_ensemble_does_not_cut_its_track(truth):
    fits = noisy_fits(truth)
    middle = truth.sessions[2]
    stable = int(np.flatnonzero(truth.assemblies["kind"] == "stable")[0])
    fits[middle] = fits[middle].where(fits[middle]["latents"] != stable, 0.0).assign_coords(
        significant=("latents", fits[middle]["significant"].values & (np.arange(len(truth.assemblies)) != stable)))
    tracks = nwb_sae.track_ensembles(fits, registry=Registry.from_table(truth.registry))
    row = [t for t in range(tracks.sizes["track"]) if tracks["latent"].values[t, 0] == stable][0]
    assert tracks["latent"].values[row].tolist() == [stable, stable, -1, stable, stable]
    assert tracks["status"].values[row] == "persistent"


def test_shuffled_ids_give_no_links_beyond_the_fdr_over_repeats():
    repeats, runs_with_links, p_values = 12, 0, []
    for seed in range(repeats):
        truth = make_sessions(n_pool=120, n_sessions=3, members=12, kinds={"stable": 4, "drifting": 2},
                              duration=10, n_presentations=2, seed=100 + seed)
        null = Registry.from_table(shuffled_registry(truth.registry, seed=seed))
        tracks = nwb_sae.track_ensembles(noisy_fits(truth, seed=seed), registry=null, n_permutations=99,
                                         min_cosine=0.0, seed=seed)
        runs_with_links += tracks.attrs["n_links"] > 0
        p_values.extend(tracks["p_value"].values[np.isfinite(tracks["p_value"].values)].tolist())
        assert (tracks["n_sessions"].values == 1).all() or tracks.attrs["n_links"] > 0
    # BH under the complete null controls the chance of any link at alpha = 0.05
    assert runs_with_links <= 2
    planted = nwb_sae.track_ensembles(noisy_fits(truth), registry=Registry.from_table(truth.registry),
                                      n_permutations=99)
    assert planted.attrs["n_links"] >= 6


def test_null_p_values_are_not_small_more_often_than_nominal():
    from nwb_sae.sessions.matching import match_pair

    rng = np.random.default_rng(0)
    small = total = 0
    for _ in range(30):
        a = np.abs(rng.normal(size=(5, 80))) * (rng.random((5, 80)) < 0.15)
        b = np.abs(rng.normal(size=(5, 80))) * (rng.random((5, 80)) < 0.15)
        ids = np.array([f"g{i}" for i in range(80)])
        m = match_pair(a, ids, b, ids, n_permutations=99, rng=rng)
        small += (m.p_value <= 0.05).sum()
        total += len(m.p_value)
    assert small / total <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / total)


def test_sessions_without_shared_registration_are_refused(truth):
    fits = noisy_fits(truth)
    empty = truth.registry[truth.registry["session"] == "nobody"]
    with pytest.raises(nwb_sae.InputDataError, match="no two sessions share 10 registered neurons"):
        nwb_sae.track_ensembles(fits, registry=Registry.from_table(empty))
    with pytest.raises(nwb_sae.InputDataError, match="no fit for session"):
        nwb_sae.track_ensembles(fits, registry=Registry.from_table(truth.registry), sessions=["s0", "s9"])


def test_different_neuron_counts_and_one_unregistered_session(truth):
    table = truth.registry[truth.registry["session"] != "s4"]
    fits = noisy_fits(truth)
    assert len({f.sizes["neurons"] for f in fits.values()}) > 1
    tracks = nwb_sae.track_ensembles(fits, registry=Registry.from_table(table))
    # s4 shares no registered neuron: its ensembles stay alone, the others are still linked
    assert (tracks["latent"].values[:, 4] >= 0).sum() == (truth.rates[:, 4] > 0).sum()
    alone = tracks["latent"].values[:, 4] >= 0
    assert (tracks["n_sessions"].values[alone] == 1).all()
    assert (tracks["n_sessions"].values[~alone] >= 2).any()


def test_template_projection_follows_where_the_ensemble_is_active(truth):
    reg = Registry.from_table(truth.registry)
    fits = noisy_fits(truth)
    born = int(np.flatnonzero(truth.assemblies["kind"] == "born")[0])
    before = project_template(fits["s3"], "s3", born, truth.data["s0"], "s0", reg)
    after = project_template(fits["s3"], "s3", born, truth.data["s4"], "s4", reg)
    assert before.dims == ("time", "presentations") and after.attrs["n_shared"] >= 10
    assert float(after.mean()) > 5 * max(abs(float(before.mean())), 0.01)
    with pytest.raises(nwb_sae.InputDataError, match="not one of the reported ensembles"):
        project_template(fits["s0"], "s0", born, truth.data["s4"], "s4", reg)


def test_tracks_are_plain_xarray(truth):
    tracks = nwb_sae.track_ensembles(noisy_fits(truth), registry=Registry.from_table(truth.registry))
    assert isinstance(tracks, xr.Dataset)
    assert set(tracks["status"].values) <= set(nwb_sae.sessions.STATUSES)
    assert tracks["latent"].dtype.kind == "i" and tracks["members"].dtype.kind == "U"


def test_tracks_figure_and_flat_table(truth, tmp_path):
    from nwb_sae.sessions.track_files import tracks_frame

    tracks = nwb_sae.track_ensembles(noisy_fits(truth), registry=Registry.from_table(truth.registry))
    fig = nwb_sae.viz.plot_tracks(tracks, tmp_path / "tracks.png")
    assert len(fig.axes) == 1 and (tmp_path / "tracks.png").stat().st_size > 0
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(text.startswith("new (2)") for text in legend)
    frame = tracks_frame(tracks)
    assert len(frame) == tracks.sizes["track"] * tracks.sizes["session"]
    assert {"track", "session", "latent", "status", "cosine_first_last"} <= set(frame.columns)
    with pytest.raises(nwb_sae.InputDataError, match="track_ensembles returns"):
        nwb_sae.viz.plot_tracks(xr.Dataset())
