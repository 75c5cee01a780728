"""Accuracy on clean and contaminated items, with uncertainty: bootstrap intervals and a permutation test.

An item's score is the share of its samples that earned reward 1 (one sample: 0 or 1). A group's accuracy is the
mean item score. Intervals are percentile bootstrap intervals over items: `resamples` (10,000 by default) resamples
of the group's items with replacement, drawn from a seeded numpy RNG, so the same scores always give the same
interval. Since an item score takes few values (0, 1/K, ..., 1), a resample is drawn as multinomial counts of those
values, which is the same distribution as drawing items and needs no n-by-resamples array. The gap (contaminated -
clean) resamples each group on its own. Its p-value is the two-sided permutation test of "contamination label and
score are unrelated": the share of relabellings (same group sizes) whose |gap| is at least the observed one. For 0/1
scores that share is computed exactly (the hypergeometric distribution; Fisher's exact test); for fractional scores
it is estimated from `resamples` random relabellings, as (hits + 1) / (resamples + 1), never 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from medrl.errors import MedrlError

# Below this many items a group's accuracy is reported with a warning: the 95% interval of an accuracy near 50% is
# then wider than +-18 points (1.96 * sqrt(0.25 / 30)), and percentile bootstrap intervals cover less than their
# nominal 95% on so few items.
MIN_ITEMS = 30
_TOLERANCE = 1e-9  # |gap| comparisons: sums of fractions k/K differ from the observed gap by rounding only


@dataclass(frozen=True)
class StatsSettings:
    """How intervals and p-values are computed; recorded in eval.json."""

    resamples: int = 10_000
    confidence: float = 0.95
    seed: int = 0
    min_items: int = MIN_ITEMS

    def __post_init__(self) -> None:
        if self.resamples < 1:
            raise MedrlError(f"resamples must be >= 1, got {self.resamples}")
        if not 0 < self.confidence < 1:
            raise MedrlError(f"confidence must be in (0, 1), got {self.confidence}")

    def to_dict(self) -> dict:
        return {
            "resamples": self.resamples,
            "confidence": self.confidence,
            "seed": self.seed,
            "min_items": self.min_items,
            "interval": "percentile bootstrap over items",
            "p_value": "two-sided permutation test (exact for 0/1 scores)",
        }


@dataclass(frozen=True)
class Estimate:
    """A group's accuracy with its interval; None values for an empty group."""

    items: int
    accuracy: float | None
    low: float | None
    high: float | None
    warning: str | None

    def to_dict(self) -> dict:
        return {"items": self.items, "accuracy": self.accuracy, "low": self.low, "high": self.high} | (
            {"warning": self.warning} if self.warning else {}
        )


@dataclass(frozen=True)
class Gap:
    """Accuracy of a contaminated group minus that of the clean items, its interval and permutation p-value."""

    gap: float
    low: float
    high: float
    p_value: float

    def to_dict(self) -> dict:
        return {"gap": self.gap, "low": self.low, "high": self.high, "p_value": self.p_value}


def _levels(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    levels, counts = np.unique(scores, return_counts=True)
    return levels.astype(float), counts


def _bootstrap_means(scores: np.ndarray, settings: StatsSettings, rng: np.random.Generator) -> np.ndarray:
    """`resamples` bootstrap means of `scores` (multinomial counts of its distinct values)."""
    levels, counts = _levels(scores)
    draws = rng.multinomial(len(scores), counts / len(scores), size=settings.resamples)
    return np.asarray(draws @ levels / len(scores), dtype=float)


def _interval(values: np.ndarray, point: float, settings: StatsSettings) -> tuple[float, float]:
    """Percentile interval, widened to hold `point` where resampling noise leaves it just outside."""
    tail = (1 - settings.confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return min(float(low), point), max(float(high), point)


def estimate(scores: np.ndarray, settings: StatsSettings, rng: np.random.Generator) -> Estimate:
    """Accuracy (mean item score) of a group with its bootstrap interval."""
    scores = np.asarray(scores, dtype=float)
    if len(scores) == 0:
        return Estimate(0, None, None, None, "no items")
    point = float(scores.mean())
    low, high = _interval(_bootstrap_means(scores, settings, rng), point, settings)
    warning = None
    if len(scores) < settings.min_items:
        warning = f"only {len(scores)} items (< {settings.min_items}): the interval is wide and may under-cover"
    return Estimate(len(scores), point, low, high, warning)


def _exact_binary_p(successes_a: int, size_a: int, successes: int, size: int) -> float:
    """Two-sided permutation p-value of the gap between two groups of 0/1 scores, from the hypergeometric law of
    how many of all `successes` fall in group A when the labels are shuffled."""
    size_b = size - size_a

    def gap(k: int) -> float:
        return k / size_a - (successes - k) / size_b

    observed = abs(gap(successes_a))
    total = math.comb(size, size_a)
    hits = sum(
        math.comb(successes, k) * math.comb(size - successes, size_a - k)
        for k in range(max(0, successes - size_b), min(successes, size_a) + 1)
        if abs(gap(k)) >= observed - _TOLERANCE
    )
    return min(1.0, hits / total)


def permutation_p(a: np.ndarray, b: np.ndarray, settings: StatsSettings, rng: np.random.Generator) -> float:
    """Two-sided permutation p-value for mean(a) - mean(b) (both non-empty)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    pooled = np.concatenate([a, b])
    if np.isin(pooled, (0.0, 1.0)).all():
        return _exact_binary_p(int(a.sum()), len(a), int(pooled.sum()), len(pooled))
    observed = abs(a.mean() - b.mean())
    levels, counts = _levels(pooled)
    drawn = rng.multivariate_hypergeometric(counts, len(a), size=settings.resamples)
    sums_a = drawn @ levels
    gaps = np.abs(sums_a / len(a) - (pooled.sum() - sums_a) / len(b))
    hits = int((gaps >= observed - _TOLERANCE).sum())
    return (hits + 1) / (settings.resamples + 1)


def gap(contaminated: np.ndarray, clean: np.ndarray, settings: StatsSettings, rng: np.random.Generator) -> Gap | None:
    """mean(contaminated) - mean(clean), its bootstrap interval (groups resampled separately) and p-value; None
    when either group is empty."""
    contaminated, clean = np.asarray(contaminated, dtype=float), np.asarray(clean, dtype=float)
    if len(contaminated) == 0 or len(clean) == 0:
        return None
    point = float(contaminated.mean() - clean.mean())
    differences = _bootstrap_means(contaminated, settings, rng) - _bootstrap_means(clean, settings, rng)
    low, high = _interval(differences, point, settings)
    return Gap(point, low, high, permutation_p(contaminated, clean, settings, rng))


# The groups every benchmark reports: all items, clean ones, every contaminated one, and each confidence class.
CONTAMINATED_CLASSES = ("certain", "review")


def group_stats(classes: list[str], scores: list[float], settings: StatsSettings, name: str) -> dict:
    """A benchmark's (or the pooled) report: `classes[i]` is item i's group ("clean", a confidence class, or
    "unrecorded": found, but named by no recorded match), `scores[i]` its score."""
    rng = np.random.default_rng([settings.seed, *name.encode()])
    labels = np.asarray(classes, dtype=object)
    values = np.asarray(scores, dtype=float)
    contaminated = labels != "clean"
    groups = {
        "all": values,
        "clean": values[~contaminated],
        "contaminated": values[contaminated],
        **{kind: values[labels == kind] for kind in (*CONTAMINATED_CLASSES, "unrecorded")},
    }
    report: dict = {"groups": {key: estimate(group, settings, rng).to_dict() for key, group in groups.items()}}
    if not report["groups"]["unrecorded"]["items"]:
        del report["groups"]["unrecorded"]
    if not contaminated.any():
        report["gaps"] = "no contaminated items"
        return report
    report["gaps"] = {}
    for key in ("contaminated", *CONTAMINATED_CLASSES):
        found = gap(groups[key], groups["clean"], settings, rng)
        report["gaps"][key] = found.to_dict() if found else None
    return report
