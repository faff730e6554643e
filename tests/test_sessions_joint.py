"""The joint multi-session model on planted sessions with a known answer, and its refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from sklearn.base import clone

import nwb_sae
from nwb_sae.errors import InputDataError, NwbSaeError
from nwb_sae.sessions.joint import IdentityError, MultiSessionSAE
from nwb_sae.sessions.joint_stats import PRESENT_FRACTION
from nwb_sae.sessions.joint_tracks import joint_tracks, session_dictionaries
from nwb_sae.sessions.joint_train import _batch_errors, as_session_samples
from nwb_sae.sessions.registry import Registry
from nwb_sae.sessions.tracking import track_ensembles
from nwb_sae.synthetic.sessions import make_sessions, shuffled_registry

KINDS = {"stable": 2, "drifting": 1, "born": 1, "dying": 1}
FAST = dict(n_latents=16, k=0.25, n_seeds=2, max_steps=1500)


def planted(seed: int):
    return make_sessions(n_pool=120, n_sessions=4, observed=(0.7, 0.9), kinds=KINDS, members=12, drift=0.25,
                         born_at=1, dies_after=1, duration=60.0, n_presentations=40, activation_rate=2.0,
                         seed=seed)


def matched_latents(model: MultiSessionSAE, truth, assembly: int) -> np.ndarray:
    """Per session, the latent whose decoder best matches the planted assembly (-1 where it was not planted)."""
    pool = {f"n{i}": i for i in range(truth.atoms.shape[2])}
    index = np.array([pool[g] for g in model.global_ids_])
    out = np.full(len(model.sessions_), -1)
    for s in range(len(model.sessions_)):
        if truth.rates[assembly, s] > 0:
            target = truth.atoms[assembly, s][index]
            dec = np.nan_to_num(model.decoders_.values[s])
            cosine = dec @ target / np.maximum(np.linalg.norm(dec, axis=1) * np.linalg.norm(target), 1e-12)
            assert cosine.max() > 0.6, (assembly, s, cosine.max())
            out[s] = int(np.argmax(cosine))
    return out


def latent_of(model: MultiSessionSAE, truth, assembly: int) -> int:
    """The latent that matches the planted assembly in most sessions."""
    found = matched_latents(model, truth, assembly)
    return int(np.bincount(found[found >= 0]).argmax())


@pytest.fixture(scope="module", params=[0, 1])
def fitted(request):
    truth = planted(request.param)
    model = MultiSessionSAE(**FAST, seed=request.param).fit(truth.data, registry=Registry.from_table(truth.registry))
    return truth, model


def test_every_planted_assembly_is_one_track_present_where_it_was_planted(fitted):
    truth, model = fitted
    tracks = joint_tracks(model)
    rows = [tuple(r) for r in tracks["latent"].values.tolist()]
    for a, status in enumerate(truth.assemblies["status"]):
        found = matched_latents(model, truth, a)
        assert tuple(found.tolist()) in rows, (status, found, rows)
        track = rows.index(tuple(found.tolist()))
        assert tracks["status"].values[track] == status, (status, found)
        assert all(model.ensembles_[latent] for latent in found[found >= 0])


def test_born_ensemble_is_absent_before_birth_by_its_held_out_gain(fitted):
    truth, model = fitted
    born = int(np.flatnonzero(truth.assemblies["kind"] == "born")[0])
    latent = latent_of(model, truth, born)
    assert model.presence_.values[latent].tolist() == (truth.rates[born] > 0).tolist()
    evidence = model.presence_table_.loc[latent]
    assert not evidence.loc["s0", "present"]
    assert evidence.loc["s0", "observed"] >= 0.3  # its neurons were recorded: absent, not unobserved
    assert evidence.loc["s0", "gain"] < PRESENT_FRACTION * evidence["gain"].max()
    assert np.isnan(model.drift_.values[latent, 0])


def test_drifting_ensemble_drifts_more_than_stable_ones(fitted):
    truth, model = fitted
    kinds = truth.assemblies["kind"].to_numpy()
    drift = {}
    for a in range(len(kinds)):
        found = matched_latents(model, truth, a)
        drift[a] = np.nanmean([model.drift_.values[latent, s] for s, latent in enumerate(found) if latent >= 0])
    drifting = [drift[a] for a in np.flatnonzero(kinds == "drifting")]
    stable = [drift[a] for a in np.flatnonzero(kinds == "stable")]
    assert min(drifting) > max(stable), drift
    tracks = joint_tracks(model)
    first_last = {str(s): [] for s in set(tracks["status"].values)}
    for status, cosine in zip(tracks["status"].values, tracks["cosine_first_last"].values, strict=True):
        first_last[str(status)].append(cosine)
    assert max(first_last["drifting"]) < min(first_last["persistent"])


def test_decoders_are_nan_on_neurons_a_session_did_not_record(fitted):
    truth, model = fitted
    sizes = {s: a.sizes["neurons"] for s, a in truth.data.items()}
    assert len(set(sizes.values())) > 1  # different neuron counts per session
    for s, session in enumerate(model.sessions_):
        recorded = set(model.registry_.global_ids(session, truth.data[session]["neurons"].values))
        absent = np.array([g not in recorded for g in model.global_ids_])
        assert absent.any() and (~absent).sum() == sizes[session]
        assert np.isnan(model.decoders_.values[s][:, absent]).all()
        assert np.isfinite(model.decoders_.values[s][:, ~absent]).all()
        assert np.isnan(model.gains_.values[s][absent]).all()
    assert model.decoders_.dims == ("session", "latents", "neurons")
    assert model.presence_.dims == ("latents", "session")


def test_encode_returns_codes_of_one_session(fitted):
    truth, model = fitted
    data = truth.data["s2"]
    codes = model.encode(data.isel(neurons=np.random.default_rng(0).permutation(data.sizes["neurons"])),
                         session="s2")
    assert codes.dims == ("latents", "time", "presentations")
    assert codes.shape == (model.n_latents_, data.sizes["time"], data.sizes["presentations"])
    assert (codes.values >= 0).all() and (codes.values > 0).any()
    np.testing.assert_allclose(codes.values, model.encode(data, session="s2").values, atol=1e-5)  # picked by id
    with pytest.raises(InputDataError, match="was not fitted"):
        model.encode(data, session="s9")
    with pytest.raises(InputDataError, match="lack"):
        model.encode(data.isel(neurons=slice(1, None)), session="s2")


def test_joint_tracks_and_session_dictionaries_have_the_tracking_layout(fitted):
    truth, model = fitted
    tracks = joint_tracks(model)
    assert tracks["latent"].dims == ("track", "session")
    assert set(tracks["status"].values) <= {"persistent", "drifting", "new", "vanished"}
    assert tracks.attrs["method"] == "joint" and tracks.attrs["registry_hash"] == model.registry_hash_
    fits = session_dictionaries(model)
    for session, atoms in fits.items():
        assert atoms.dims == ("latents", "neurons")
        assert sorted(atoms["neurons"].values.tolist()) == sorted(truth.data[session]["neurons"].values.tolist())
        assert np.isfinite(atoms.values).all()
        assert atoms["significant"].values.tolist() == model.significant_.sel(session=session).values.tolist()
    linked = track_ensembles(fits, model.registry_)
    assert set(linked["status"].values) <= {"persistent", "drifting", "new", "vanished"}


def test_the_loss_never_reads_an_absent_neuron():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((50, 6)).astype(np.float32), rng.standard_normal((50, 4)).astype(np.float32)
    samples = as_session_samples([a, b], [np.arange(6), np.array([0, 1, 2, 6])], 7)
    params = [torch.randn(3, 7), torch.zeros(3), torch.randn(3, 7), torch.randn(2, 3, 7) * 0.1,
              torch.zeros(2, 7), torch.zeros(2, 7)]
    xb = torch.stack(samples.x)
    errors, _, _ = _batch_errors(params, xb, samples.mask, 0.1)
    garbage = xb + (1 - samples.mask.unsqueeze(1)) * 100.0  # any value where a session recorded nothing
    np.testing.assert_allclose(_batch_errors(params, garbage, samples.mask, 0.1)[0], errors)


def test_refuses_without_registration():
    truth = planted(0)
    with pytest.raises(IdentityError, match="cannot be established") as err:
        MultiSessionSAE(**FAST).fit(truth.data)
    assert "registry" in str(err.value) and "presentation labels" in str(err.value)
    foreign = truth.registry.assign(global_id=truth.registry["session"] + "/" + truth.registry["global_id"])
    with pytest.raises(NwbSaeError, match="share no registered neuron"):
        MultiSessionSAE(**FAST).fit(truth.data, registry=Registry.from_table(foreign))
    with pytest.raises(InputDataError, match="two or more"):
        MultiSessionSAE(**FAST).fit({"s0": truth.data["s0"]}, registry=Registry.from_table(truth.registry))


def test_shuffled_registry_leaves_no_ensemble_shared_across_sessions():
    truth = planted(2)
    model = MultiSessionSAE(**FAST, seed=2).fit(truth.data, registry=Registry.from_table(shuffled_registry(
        truth.registry, seed=2)))
    # an ensemble's members are different neurons in every session under a shuffled registry: a latent may
    # still explain one session (it is then present there alone), but none reports the same atom across sessions
    shared = model.presence_.values[model.ensembles_].sum(axis=1)
    cosine = model.session_cosine_.values[model.ensembles_]
    off_diagonal = ~np.eye(len(model.sessions_), dtype=bool)
    both = model.presence_.values[model.ensembles_][:, :, None] & model.presence_.values[model.ensembles_][:, None]
    assert (shared <= len(model.sessions_)).all()
    assert not (cosine[both & off_diagonal] > 0.9).any()


def test_one_array_with_a_session_dim_and_scikit_learn_verbs():
    truth = planted(3)
    pool = {s: truth.data[s].assign_coords(neurons=truth.data[s]["pool_index"].values) for s in truth.sessions}
    stacked = xr.concat([a.reindex(neurons=np.arange(120)) for a in pool.values()], dim="session")
    stacked = stacked.assign_coords(session=truth.sessions)
    model = MultiSessionSAE(**{**FAST, "n_seeds": 1, "max_steps": 300}).fit(stacked)
    assert model.observed_.sum("neurons").values.tolist() == [a.sizes["neurons"] for a in pool.values()]
    assert model.fit(stacked) is model
    copy = clone(model)
    assert copy.get_params() == model.get_params() and not hasattr(copy, "decoders_")
    assert nwb_sae.MultiSessionSAE is MultiSessionSAE


@pytest.mark.slow
def test_default_fit_selects_size_and_sparsity_and_finds_every_assembly():
    truth = planted(4)
    model = MultiSessionSAE(seed=4).fit(truth.data, registry=Registry.from_table(truth.registry))
    assert model.n_latents_ >= 2 and 0 < model.k_ <= model.n_latents_
    rows = [tuple(r) for r in joint_tracks(model)["latent"].values.tolist()]
    for a in range(len(truth.assemblies)):
        assert tuple(matched_latents(model, truth, a).tolist()) in rows
