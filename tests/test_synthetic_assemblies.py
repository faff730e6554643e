"""The planted cell-assembly generator: shapes, members, correlation structure, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from nwb_sae.errors import InputDataError
from nwb_sae.synthetic import lopes_dos_santos_toy, make_assemblies


def _correlation(rec):
    x = rec.data.values.reshape(rec.data.shape[0], -1)
    return np.corrcoef(x)


def test_shapes_and_planted_atoms():
    rec = make_assemblies(n_neurons=40, n_assemblies=4, members=6, duration=60, n_presentations=12)
    assert rec.data.dims == ("neurons", "time", "presentations")
    assert rec.data.shape == (40, 200, 12)
    np.testing.assert_allclose(rec.data.time.values[1] - rec.data.time.values[0], 0.025)
    assert rec.assemblies.shape == (4, 40)
    np.testing.assert_allclose(np.linalg.norm(rec.assemblies, axis=1), 1.0)
    assert (rec.assemblies >= 0).all()
    for atom, idx in zip(rec.assemblies, rec.members, strict=True):
        assert len(idx) == 6
        np.testing.assert_array_equal(np.flatnonzero(atom), idx)
    assert rec.mean_overlap == 0.0  # disjoint by default
    assert rec.activations.dims == ("latents", "time", "presentations")
    assert rec.activations.shape == (4, 200, 12)
    assert set(rec.data.stimulus.values) == {"S0", "S1"}
    assert rec.selective == {0: "S0", 1: "S1"}


def test_members_are_correlated_and_non_members_are_not():
    rec = make_assemblies(n_neurons=40, n_assemblies=3, members=6, duration=300, seed=1)
    corr = _correlation(rec)
    inside = [corr[i, j] for idx in rec.members for i in idx for j in idx if i < j]
    outsiders = np.setdiff1d(np.arange(40), np.concatenate(rec.members))
    between = [corr[i, j] for i in outsiders for j in outsiders if i < j]
    assert min(inside) > 0.2
    # 12,000 bins: independent pairs have |r| of order 1/sqrt(12000) ~ 0.01
    assert max(np.abs(between)) < 0.05


def test_stimulus_locked_assembly_fires_more_on_its_stimulus():
    rec = make_assemblies(n_neurons=30, n_assemblies=2, members=5, n_selective=1, selectivity=4.0,
                          duration=300, seed=2)
    act = rec.activations.sum("time")
    on = act.sel(latents=0).values[rec.data.stimulus.values == "S0"].mean()
    off = act.sel(latents=0).values[rec.data.stimulus.values == "S1"].mean()
    assert on > 2.5 * off
    other = act.sel(latents=1).values
    assert other[rec.data.stimulus.values == "S0"].mean() == pytest.approx(
        other[rec.data.stimulus.values == "S1"].mean(), rel=0.3)


def test_same_seed_same_recording_other_seed_differs():
    a = make_assemblies(duration=30, seed=3)
    b = make_assemblies(duration=30, seed=3)
    c = make_assemblies(duration=30, seed=4)
    np.testing.assert_array_equal(a.data.values, b.data.values)
    np.testing.assert_array_equal(a.assemblies, b.assemblies)
    assert not np.array_equal(a.data.values, c.data.values)


def test_overlap_settings():
    shared = make_assemblies(n_assemblies=16, members=10, overlap=1.7, duration=10)
    assert 1.2 < shared.mean_overlap < 2.3
    many = make_assemblies(n_neurons=50, n_assemblies=64, members=10, overlap=None, duration=10)
    assert many.assemblies.shape == (64, 50)
    assert len({tuple(m) for m in many.members}) == 64
    with pytest.raises(InputDataError, match="overlap=None"):
        make_assemblies(n_neurons=50, n_assemblies=8, members=10, overlap=0.0)


def test_independent_neurons_and_calcium_variant():
    none = make_assemblies(n_assemblies=0, duration=30)
    assert none.assemblies.shape == (0, 100) and none.members == []
    calcium = make_assemblies(n_neurons=20, n_assemblies=2, members=5, kind="calcium", duration=60, seed=5)
    assert calcium.data.dtype == np.float32
    assert calcium.data.attrs["kind"] == "calcium"
    assert (calcium.data.values < 0).any()  # Gaussian noise makes traces continuous, not counts
    corr = _correlation(calcium)
    a, b = calcium.members[0][:2]
    assert corr[a, b] > 0.2


def test_lopes_dos_santos_toy():
    rec = lopes_dos_santos_toy()
    assert rec.data.shape[0] == 20
    assert [len(m) for m in rec.members] == [4, 3]
    assert not set(rec.members[0]) & set(rec.members[1])
    assert rec.data.shape[1] * rec.data.shape[2] == 10_000


def test_bad_settings_are_clear_errors():
    with pytest.raises(InputDataError, match="kind"):
        make_assemblies(kind="lfp")
    with pytest.raises(InputDataError, match="event per bin"):
        make_assemblies(activation_rate=50.0, selectivity=4.0)
