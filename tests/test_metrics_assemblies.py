"""Assembly-recovery metrics against hand-computed answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nwb_sae.metrics import assembly_report, best_match, binarise, fraction_found, precision

TRUE = np.array([[1.0, 1, 1, 0, 0, 0, 0, 0],
                 [0, 0, 0, 1, 1, 1, 0, 0]]) / np.sqrt(3)


def test_perfect_recovery_scores_one_everywhere():
    report = assembly_report(TRUE[::-1] * 5.0, TRUE)  # order and scale do not matter
    assert report == pytest.approx({"hungarian_mean_cosine": 1.0, "found_0.9": 1.0, "precision": 1.0,
                                    "best_match": 1.0, "n_reported": 2})


def test_spurious_pattern_lowers_precision_only():
    spurious = np.array([[0, 0, 0, 0, 0, 0, 1.0, 1.0]])
    learned = np.vstack([TRUE, spurious])
    assert precision(learned, TRUE) == pytest.approx(2 / 3)
    assert fraction_found(learned, TRUE) == 1.0
    assert best_match(learned, TRUE) == 1.0


def test_sign_flipped_pattern_counts_as_found():
    assert fraction_found(-TRUE, TRUE) == 1.0
    assert precision(-TRUE, TRUE) == pytest.approx(1.0)
    assert best_match(-TRUE, TRUE) == 1.0


def test_partial_pattern_known_cosine_and_jaccard():
    # two of three members: cosine 2/sqrt(6) = 0.816 (< 0.9, not found), Jaccard 2/3
    half = np.array([[1.0, 1.0, 0, 0, 0, 0, 0, 0]])
    assert precision(half, TRUE) == pytest.approx(2 / np.sqrt(6))
    assert fraction_found(half, TRUE) == 0.0
    assert best_match(half, TRUE) == pytest.approx((2 / 3 + 0) / 2)


def test_binarisation_rule_is_half_the_largest_weight():
    members = binarise(np.array([[0.2, 0.51, 1.0, 0.49, -0.9], [-1.0, -0.6, 0.3, 0, 0]]))
    np.testing.assert_array_equal(members, [[False, True, True, False, False],
                                            [True, True, False, False, False]])


def test_empty_cases():
    nothing = np.zeros((0, 8))
    assert math.isnan(precision(nothing, TRUE))
    assert fraction_found(nothing, TRUE) == 0.0
    assert best_match(nothing, TRUE) == 0.0
    # independent neurons: anything reported is spurious
    assert precision(TRUE, nothing) == 0.0
    assert math.isnan(fraction_found(TRUE, nothing))
    report = assembly_report(nothing, TRUE)
    assert report["n_reported"] == 0 and report["hungarian_mean_cosine"] == 0.0
