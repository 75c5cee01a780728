"""The evaluation statistics: invariants (hypothesis) and exact values on inputs whose answers are known."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from medrl.evaluation.stats import StatsSettings, estimate, gap, group_stats, permutation_p

SETTINGS = StatsSettings(resamples=2000)
scores = st.lists(st.sampled_from([0.0, 1.0]), min_size=1, max_size=60)
fractions = st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(values=st.one_of(scores, fractions), seed=st.integers(0, 2**16))
def test_interval_holds_the_accuracy(values: list[float], seed: int) -> None:
    found = estimate(np.array(values), SETTINGS, np.random.default_rng(seed))
    assert found.accuracy == sum(values) / len(values)
    assert found.low is not None and found.high is not None
    assert 0 <= found.low <= found.accuracy <= found.high <= 1


@settings(max_examples=60, deadline=None)
@given(a=st.one_of(scores, fractions), b=st.one_of(scores, fractions), seed=st.integers(0, 2**16))
def test_gap_interval_and_p_value(a: list[float], b: list[float], seed: int) -> None:
    found = gap(np.array(a), np.array(b), SETTINGS, np.random.default_rng(seed))
    assert found is not None
    assert math.isclose(found.gap, np.mean(a) - np.mean(b), abs_tol=1e-12)
    assert found.low <= found.gap <= found.high
    assert 0 < found.p_value <= 1


def test_exact_permutation_p_on_known_inputs() -> None:
    rng = np.random.default_rng(0)
    # 3 of 3 right against 0 of 3: of the C(6,3) = 20 relabellings only this one and its mirror reach |gap| = 1.
    assert permutation_p(np.ones(3), np.zeros(3), SETTINGS, rng) == 2 / 20
    # Identical groups: every relabelling is at least as extreme.
    assert permutation_p(np.array([1.0, 0.0]), np.array([0.0, 1.0]), SETTINGS, rng) == 1.0
    # Constant scores: no gap can be observed, p = 1.
    assert permutation_p(np.ones(5), np.ones(7), SETTINGS, rng) == 1.0


def test_fractional_scores_match_the_exact_test_where_it_applies() -> None:
    # The same scores written as 0.0/1.0 halves: the Monte Carlo estimate is close to the exact 2/20.
    a, b = np.array([1.0, 1.0, 1.0, 0.5]), np.array([0.0, 0.0, 0.0, 0.5])
    p = permutation_p(a, b, StatsSettings(resamples=20_000), np.random.default_rng(1))
    assert 0 < p < 0.2


def test_constant_scores_give_a_point_interval_and_reproducible_results() -> None:
    found = estimate(np.ones(40), SETTINGS, np.random.default_rng(3))
    assert (found.accuracy, found.low, found.high, found.warning) == (1.0, 1.0, 1.0, None)
    first = group_stats(["clean", "certain"] * 20, [1.0, 0.0] * 20, SETTINGS, "medqa")
    assert first == group_stats(["clean", "certain"] * 20, [1.0, 0.0] * 20, SETTINGS, "medqa")


def test_small_groups_warn_and_no_contamination_reports_no_gap() -> None:
    report = group_stats(["clean"] * 50, [1.0] * 25 + [0.0] * 25, SETTINGS, "pubmedqa")
    assert report["gaps"] == "no contaminated items"
    assert report["groups"]["all"]["accuracy"] == 0.5 and "warning" not in report["groups"]["all"]
    assert report["groups"]["contaminated"]["items"] == 0
    mixed = group_stats(["clean"] * 40 + ["review"] * 5, [0.0] * 40 + [1.0] * 5, SETTINGS, "medqa")
    assert "only 5 items" in mixed["groups"]["review"]["warning"]
    assert mixed["gaps"]["review"]["gap"] == 1.0 and mixed["gaps"]["certain"] is None
    # 5 of 5 right against 0 of 40: only this labelling of the 5 successes reaches a gap of 1 -> 1 / C(45, 5).
    assert mixed["gaps"]["contaminated"]["p_value"] == 1 / math.comb(45, 5)
