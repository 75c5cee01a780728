"""What a detector finds: hits against units of an index (a unique benchmark text, a coverage unit, a case), per
row. Shared by the stages (`medrl.detection.stages`) and the detectors they share with dedup."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Hit:
    text_id: int  # a unit of the stage's index: a unique benchmark text (ngram/fuzzy) or a coverage unit
    score: float
    evidence: str
    row_span: tuple[int, int] | None = None  # character span of the evidence in the row's text
    item_span: tuple[int, int] | None = None  # ... and in the benchmark text


@dataclass(frozen=True)
class RowHits:
    """One row's result from a stage: the hits kept as evidence, and the ids of every unit matched (a stage may
    keep fewer hits than it matched; counts always use every match)."""

    hits: list[Hit]
    ids: np.ndarray

    @classmethod
    def of(cls, hits: list[Hit]) -> RowHits:
        return cls(hits, np.fromiter((hit.text_id for hit in hits), dtype=np.int64, count=len(hits)))
