"""Significance, FDR, stability and selectivity checked against cases with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nwb_sae.ensembles import (
    benjamini_hochberg,
    circular_shift,
    coactivation_test,
    composite_latents,
    effective_neurons,
    same_ensembles,
    seed_stability,
    selectivity_table,
    selectivity_test,
)


def planted(n_bins=6000, n_neurons=30, members=range(6), seed=0):
    """Independent Poisson neurons; ``members`` fire together in 4% of the bins."""
    rng = np.random.default_rng(seed)
    x = rng.poisson(0.1, (n_bins, n_neurons)).astype(float)
    x[np.ix_(rng.random(n_bins) < 0.04, list(members))] += 1
    return x


def indicator(n_neurons, members):
    atom = np.zeros(n_neurons)
    atom[list(members)] = 1.0
    return atom


def test_planted_ensemble_is_significant_and_independent_neurons_are_not():
    x = planted()
    atoms = np.stack([indicator(30, range(6)), indicator(30, range(10, 16))])
    result = coactivation_test(atoms, x)
    assert result.q_value[0] < 1e-6
    assert result.q_value[1] > 0.05


def test_shuffled_ensemble_is_not_significant():
    """The planted data with every neuron shifted on its own: the ensemble is gone (20 shuffles)."""
    x = planted()
    atom = indicator(30, range(6))[None]
    p = [coactivation_test(atom, circular_shift(x, np.random.default_rng(s))).p_value[0]
         for s in range(20)]
    assert np.mean(np.array(p) <= 0.05) <= 0.2  # binomial(20, 0.05): at most 4 in 98% of runs


def test_q_values_control_the_false_discovery_rate_on_null_data():
    """Under the global null every discovery is false: P(any q <= alpha) must stay near alpha."""
    alpha, repeats = 0.1, 200
    rng = np.random.default_rng(0)
    any_rejection = 0
    for _ in range(repeats):
        x = rng.poisson(rng.uniform(0.05, 0.3, 20), (2000, 20)).astype(float)
        atoms = np.abs(rng.normal(size=(10, 20))) * (rng.random((10, 20)) < 0.3)
        any_rejection += bool((coactivation_test(atoms, x).q_value <= alpha).any())
    # binomial(200, 0.1): mean 20, sd 4.2; 32 is about three sd above
    assert any_rejection <= 32


def test_benjamini_hochberg_matches_the_step_up_rule():
    p = np.array([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216])
    q = benjamini_hochberg(p)
    expected = np.minimum.accumulate((p * len(p) / np.arange(1, len(p) + 1))[::-1])[::-1]
    np.testing.assert_allclose(q, expected)
    assert ((q <= 0.05) == (np.arange(10) < 2)).all()


def test_stability_is_high_for_the_same_atoms_and_low_for_random_ones():
    rng = np.random.default_rng(0)
    atoms = np.abs(rng.normal(size=(8, 40))) * (rng.random((8, 40)) < 0.25)
    again = atoms[rng.permutation(8)] + 0.02 * rng.normal(size=(8, 40))
    other = rng.normal(size=(8, 40))
    result = seed_stability(atoms, [again, other])
    assert (result.matched_cosine[0] > 0.95).all()
    assert (result.matched_cosine[1] < 0.9).all()
    assert (result.matched_fraction == 0.5).all()
    assert np.allclose(np.linalg.norm(result.consensus, axis=1), 1.0)
    assert same_ensembles(atoms, again) == 1.0 and same_ensembles(atoms, other) == 0.0


def test_a_union_of_two_ensembles_and_a_copy_of_one_are_composite():
    a, b, c = indicator(30, range(5)), indicator(30, range(5, 10)), indicator(30, range(20, 25))
    d = indicator(30, range(3, 8))  # overlaps a and b by 2 and 3 members: its own ensemble
    atoms = np.stack([a, b, c, a + b, a + 0.05 * c, d])
    frequency = np.array([0.05, 0.04, 0.03, 0.001, 0.002, 0.0005])
    composite = composite_latents(atoms, frequency, np.ones(6, bool))
    assert composite.tolist() == [False, False, False, True, True, False]


def test_a_single_neuron_latent_with_a_little_co_activation_is_not_an_ensemble():
    """On a long recording a neuron's axis plus faint member weights passes the co-activation test;
    the participation ratio tells it from an ensemble."""
    x = planted(n_bins=40000)
    single = indicator(30, [0]) + 0.05 * indicator(30, range(1, 6))
    atoms = np.stack([indicator(30, range(6)), single])
    assert (coactivation_test(atoms, x).q_value < 0.05).all()
    neurons = effective_neurons(atoms)
    assert neurons[0] == pytest.approx(6.0) and neurons[1] < 1.5


def test_one_dominant_neuron_over_a_wide_tail_is_one_neuron():
    """On 200 ROIs a tail of small weights lifts one neuron's participation ratio above 4; its
    members (weights >= half the largest) say one neuron, as the browser's size column does."""
    from nwb_sae.metrics import ensemble_sizes
    from nwb_sae.stats.significance import verdict_reasons

    tail = np.r_[1.0, np.full(199, 0.08)]
    pair = np.r_[1.0, 0.7, np.full(198, 0.08)]
    atoms = np.stack([tail, pair])
    assert ensemble_sizes(atoms).tolist() == [1, 2]
    assert effective_neurons(atoms)[0] == 1.0 and effective_neurons(atoms)[1] == 2.0
    reasons = verdict_reasons(np.array([0.001, 0.001]), np.array([0.1, 0.1]), effective_neurons(atoms))
    assert reasons.tolist() == ["one neuron", ""]


@pytest.fixture
def responses():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.array(["face", "house", "tool"]), 30)
    tuned = rng.gamma(2.0, 0.1, 90) + 0.4 * (labels == "house")
    return np.stack([tuned, rng.gamma(2.0, 0.1, 90)]), labels, rng


def test_stimulus_locked_latent_is_selective_and_label_shuffled_is_not(responses):
    values, labels, rng = responses
    result = selectivity_test(values, labels, n_permutations=500)
    assert result.preferred[0] == "house" and result.q_value[0] < 0.01 and result.eta_squared[0] > 0.3
    assert result.q_value[1] > 0.05
    shuffled = selectivity_test(values[:1], rng.permutation(labels), n_permutations=500)
    assert shuffled.p_value[0] > 0.01


def test_selectivity_table_tests_only_the_given_latents(responses):
    values, labels, _ = responses
    table = selectivity_table(values, {"stimulus": labels}, np.array([True, False]), n_permutations=200)
    assert table.loc[0, "stimulus_preferred"] == "house" and table.loc[0, "stimulus_q_value"] < 0.01
    assert np.isnan(table.loc[1, "stimulus_p_value"]) and pd.isna(table.loc[1, "stimulus_preferred"])
