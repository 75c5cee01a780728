"""Decide: turn detector hits into per-row verdicts with evidence that names benchmark items."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from medrl.detection.index import PackIndex
from medrl.detection.stages import STAGES, Hit


@dataclass(frozen=True)
class Match:
    """Why a row was flagged: which benchmark item, by which method, how strongly, and the evidence."""

    benchmark: str
    split: str
    item_id: str
    method: str  # the stage that matched (its name in `medrl.detection.stages.STAGES`)
    score: float  # in the stage's units (its `Stage.score` says which)
    evidence: str  # what the stage shows a person (its `Stage.evidence` says what)
    field: str  # the training column that matched
    row_span: tuple[int, int] | None = None  # [start, end) characters of the evidence in the row's field
    item_span: tuple[int, int] | None = None  # ... and in the benchmark question (with options, for generic stems)
    confidence: str = "certain"  # the stage's class: "certain" (benchmark text in the row) or "review" (weaker)

    def shifted(self, offset: int) -> Match:
        """This match with its row span moved by `offset` characters (found in a part of the row's text)."""
        if self.row_span is None:
            return self
        return replace(self, row_span=(self.row_span[0] + offset, self.row_span[1] + offset))

    def to_dict(self) -> dict:
        found = asdict(self)
        for key in ("row_span", "item_span"):
            found[key] = list(found[key]) if found[key] is not None else None
        return found


@dataclass(frozen=True)
class Verdict:
    """A row's decision. `matches` is the evidence kept (capped); `benchmarks`/`methods` count every match."""

    contaminated: bool
    matches: tuple[Match, ...]
    benchmarks: tuple[str, ...]
    methods: tuple[str, ...]
    items: tuple[int, ...] = ()  # pack item indices matched (uncapped), for the benchmark-side view
    # "certain" when any stage that matched is certain-class, "review" when only review-class stages matched.
    confidence: str = "certain"
    fields: tuple[str, ...] = ()  # the checked texts that matched (uncapped), for counts per field


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
                _CONFIDENCE[method],
            )
            expanded.append((item_index, match))
    return expanded


# Evidence order: the most direct evidence first, as each stage ranks itself.
_METHOD_ORDER = {stage.name: stage.evidence_rank for stage in STAGES}
_CONFIDENCE = {stage.name: stage.confidence for stage in STAGES}


def decide(
    found: list[tuple[int, Match]],
    matched: dict[str, np.ndarray],
    max_matches: int,
    index: PackIndex,
    fields: tuple[str, ...] = (),
) -> Verdict:
    """Contaminated iff any stage matched an item. `found` is the evidence, `matched` every item matched per method;
    evidence is kept strongest first per method, ties in pack order."""
    matched = {method: items for method, items in matched.items() if len(items)}
    if not matched:
        return Verdict(False, (), (), ())
    ordered = sorted(found, key=lambda pair: (_METHOD_ORDER[pair[1].method], -pair[1].score, pair[0]))
    kept = ordered if max_matches == 0 else ordered[:max_matches]
    items = np.unique(np.concatenate(list(matched.values())))
    certain = any(_CONFIDENCE[method] == "certain" for method in matched)
    return Verdict(
        contaminated=True,
        matches=tuple(match for _, match in kept),
        benchmarks=tuple(sorted({index.items[item].benchmark for item in items.tolist()})),
        methods=tuple(sorted(matched)),
        items=tuple(items.tolist()),
        confidence="certain" if certain else "review",
        fields=fields,
    )
