"""Decide: turn detector hits into per-row verdicts with evidence that names benchmark items."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa

from medrl.detect import Hit
from medrl.index import PackIndex


@dataclass(frozen=True)
class Match:
    """Why a row was flagged: which benchmark item, by which method, how strongly, and the evidence."""

    benchmark: str
    split: str
    item_id: str
    method: str  # "ngram" | "fuzzy"
    score: float  # ngram: distinct shared n-grams; fuzzy: the scorer's 0-100 similarity
    evidence: str  # ngram: the first shared n-gram; fuzzy: the matched benchmark question; coverage: the row's
    # longest run of shared rare n-grams
    field: str  # the training column that matched
    row_span: tuple[int, int] | None = None  # [start, end) characters of the evidence in the row's field
    item_span: tuple[int, int] | None = None  # ... and in the benchmark question (with options, for generic stems)

    def to_dict(self) -> dict:
        found = asdict(self)
        for key in ("row_span", "item_span"):
            found[key] = list(found[key]) if found[key] is not None else None
        return found


# The `contamination` column's Arrow type (Parquet / HF outputs).
MATCH_TYPE = pa.list_(
    pa.struct(
        [
            ("benchmark", pa.string()),
            ("split", pa.string()),
            ("item_id", pa.string()),
            ("method", pa.string()),
            ("score", pa.float64()),
            ("evidence", pa.string()),
            ("field", pa.string()),
            ("row_span", pa.list_(pa.int64())),
            ("item_span", pa.list_(pa.int64())),
        ]
    )
)


@dataclass(frozen=True)
class Verdict:
    """A row's decision. `matches` is the evidence kept (capped); `benchmarks`/`methods` count every match."""

    contaminated: bool
    matches: tuple[Match, ...]
    benchmarks: tuple[str, ...]
    methods: tuple[str, ...]
    items: tuple[int, ...] = ()  # pack item indices matched (uncapped), for the benchmark-side view


def expand_hits(hits: list[Hit], method: str, field: str, index: PackIndex) -> list[tuple[int, Match]]:
    """One (item index, Match) per benchmark item carrying each hit's text (or coverage unit)."""
    text_items = index.hit_items(method)
    expanded = []
    for hit in hits:
        for item_index in text_items[hit.text_id]:
            item = index.items[item_index]
            match = Match(
                item.benchmark,
                item.split,
                item.item_id,
                method,
                hit.score,
                hit.evidence,
                field,
                hit.row_span,
                hit.item_span,
            )
            expanded.append((item_index, match))
    return expanded


# Evidence order: the most direct evidence first.
_METHOD_ORDER = {"coverage": 0, "fuzzy": 1, "rewrite": 2, "ngram": 3}


def decide(
    found: list[tuple[int, Match]], matched: dict[str, np.ndarray], max_matches: int, index: PackIndex
) -> Verdict:
    """Contaminated iff any stage matched an item. `found` is the evidence, `matched` every item matched per method;
    evidence is kept strongest first per method, ties in pack order."""
    matched = {method: items for method, items in matched.items() if len(items)}
    if not matched:
        return Verdict(False, (), (), ())
    ordered = sorted(found, key=lambda pair: (_METHOD_ORDER[pair[1].method], -pair[1].score, pair[0]))
    kept = ordered if max_matches == 0 else ordered[:max_matches]
    items = np.unique(np.concatenate(list(matched.values())))
    return Verdict(
        contaminated=True,
        matches=tuple(match for _, match in kept),
        benchmarks=tuple(sorted({index.items[item].benchmark for item in items.tolist()})),
        methods=tuple(sorted(matched)),
        items=tuple(items.tolist()),
    )
