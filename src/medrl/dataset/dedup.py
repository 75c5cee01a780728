"""Remove duplicates inside the training data, keeping each first occurrence and recording what it stands for.

Exact duplicates share the question and the set of option texts after `medrl.detection.text.words` normalisation
(case, accents, punctuation and whitespace folded; option order ignored, since shuffled options pose the same
problem). Near duplicates are found with the coverage detector run between training rows: the rows' questions and
options are indexed as a `CoverageIndex` (one entry per row) and every row's question, with its options, is run
through `coverage_hits` against it batch by batch, vectorised with numpy, so the cost grows with the rows and their
shared rare n-grams, never with all pairs. Options make it option-aware: the same stem with entirely different
options is a different problem. Two rows are near duplicates when the detector flags either against the other.

Rows linked by exact or near duplication, directly or through other rows, form a cluster; `Deduplicated.clusters`
names each kept row's cluster by its earliest row, so splits can keep a whole cluster on one side.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from medrl.dataset.sources import TrainingRecord
from medrl.detection.coverage_match import coverage_hits
from medrl.detection.rare_ngrams import CoverageConfig, build_coverage_index
from medrl.detection.text import folded_options, words


@dataclass(frozen=True)
class Duplicate:
    """A dropped row and the kept row it duplicates (`score`: 100 for exact, else the coverage percentage).

    An exact copy of a row that was itself dropped as a near duplicate stays `exact` (that is what it is) and names
    that row as `via`, while `of` names the kept row both stand for."""

    record: TrainingRecord
    of: TrainingRecord
    method: str  # "exact" | "near"
    score: float
    via: TrainingRecord | None = None


@dataclass(frozen=True)
class Deduplicated:
    kept: list[TrainingRecord]
    duplicates: list[Duplicate]
    clusters: dict[int, int]  # kept row_id -> the earliest row_id of its duplicate cluster


class _Clusters:
    """Union-find over row_ids; each cluster is named by its smallest (earliest) row_id."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def root(self, row: int) -> int:
        path = [row]
        while (parent := self.parent.setdefault(path[-1], path[-1])) != path[-1]:
            path.append(parent)
        for member in path:  # path compression: later lookups are one step
            self.parent[member] = path[-1]
        return path[-1]

    def link(self, first: int, second: int) -> None:
        a, b = self.root(first), self.root(second)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def _ignore(rows: int) -> None:
    """No progress display."""


def exact_key(record: TrainingRecord, tokens: Callable[[str], list[str]] = words) -> str:
    """The normalised question and the sorted normalised option texts (`tokens` normalises)."""
    options = sorted(" ".join(tokens(text)) for _, text in record.options)
    return "\x1f".join([" ".join(tokens(record.question)), *options])


def near_pairs(
    records: list[TrainingRecord], config: CoverageConfig, batch_size: int, on_rows: Callable[[int], None] = _ignore
) -> dict[int, dict[int, float]]:
    """For each record position, the earlier positions it near-duplicates (either way), with the coverage score.
    `on_rows(n)` is called as each batch of n records is done (progress)."""
    index = build_coverage_index([r.question for r in records], [r.options for r in records], config)
    earlier: dict[int, dict[int, float]] = {}
    for start in range(0, len(records), batch_size):
        batch = records[start : start + batch_size]
        questions, options = [r.question for r in batch], [folded_options(r.options) for r in batch]
        for row, hits in enumerate(coverage_hits(questions, index, options, evidence=False), start=start):
            for hit in hits:
                for other in index.unit_items[hit.text_id]:
                    if other != row:
                        later, first = max(row, other), min(row, other)
                        found = earlier.setdefault(later, {})
                        found[first] = max(found.get(first, 0.0), hit.score)
        on_rows(len(batch))
    return earlier


def deduplicate(
    records: list[TrainingRecord],
    near: CoverageConfig | None,
    batch_size: int,
    on_rows: Callable[[int], None] = _ignore,
) -> Deduplicated:
    """Exact duplicates first, then near duplicates among the rest (skipped when `near` is None).

    A row is dropped when it duplicates an earlier kept row (the earliest, if several); a row that only resembles
    dropped rows is kept. Exact copies of a row dropped as a near duplicate stay `exact` and point past it (`via`)
    to the kept row, so every duplicate names a kept row. `on_rows(n)` is told as n more rows are done.
    """
    clusters = _Clusters()
    first_of: dict[str, TrainingRecord] = {}
    unique: list[TrainingRecord] = []
    exact: list[Duplicate] = []
    for record in records:
        key = exact_key(record)
        if key in first_of:
            exact.append(Duplicate(record, first_of[key], "exact", 100.0))
            clusters.link(first_of[key].row_id, record.row_id)
        else:
            first_of[key] = record
            unique.append(record)
    on_rows(len(exact))
    if near is not None and len(unique) >= 2:
        earlier = near_pairs(unique, near, batch_size, on_rows)
    else:
        earlier = {}
        on_rows(len(unique))
    kept: list[TrainingRecord] = []
    dropped: dict[int, Duplicate] = {}  # row_id -> its near duplicate entry
    is_kept = [True] * len(unique)
    for position, record in enumerate(unique):
        for other in earlier.get(position, {}):
            clusters.link(unique[other].row_id, record.row_id)
        partners = sorted(other for other in earlier.get(position, {}) if is_kept[other])
        if partners:
            is_kept[position] = False
            dropped[record.row_id] = Duplicate(record, unique[partners[0]], "near", earlier[position][partners[0]])
        else:
            kept.append(record)
    for index, duplicate in enumerate(exact):
        if duplicate.of.row_id in dropped:
            exact[index] = Duplicate(duplicate.record, dropped[duplicate.of.row_id].of, "exact", 100.0, duplicate.of)
    duplicates = sorted([*exact, *dropped.values()], key=lambda duplicate: duplicate.record.row_id)
    return Deduplicated(kept, duplicates, {record.row_id: clusters.root(record.row_id) for record in kept})
