"""The detector contract every stage follows, and what a stage returns.

A stage has a `name` (its field in `DecontaminationConfig`, and the `method` its evidence carries), an
`evidence_rank` (its place when a row's evidence is ordered, the most direct first), a `confidence` class
(`certain` or `review`, carried by its matches), an `index` method building
its part of the pack index from the pack's items and unique question texts, and a `hits` method from a batch of
training texts to per-row hits against that part. Index parts store themselves as plain arrays (`to_arrays` /
`from_arrays`) for the on-disk cache. A stage that needs something from outside the pack (the semantic stage's
model) may also have a `prepare(settings)` method, called before any index is built so that it fails first.
Stages know nothing of files, batches or engines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from medrl.benchmarks.loaders import BenchmarkItem
from medrl.config import DecontaminationConfig
from medrl.detection.arrays import ArrayReader, Arrays


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


@dataclass(frozen=True)
class StageBatch:
    """What a stage examines: training texts, each row's folded options from an options column (None: the options
    written in the text count), and the run-wide settings (evidence cap, threads)."""

    texts: list[str]
    options: list[frozenset[str]] | None
    run: DecontaminationConfig


@dataclass(frozen=True)
class TextTable:
    """The pack's unique question texts, in first-seen order, and the items carrying each (MedQA 4- and 5-option
    share theirs): text-based stages index and score each text once."""

    texts: tuple[str, ...]
    text_items: tuple[tuple[int, ...], ...]


class StageIndex(Protocol):
    """A stage's part of the pack index."""

    # Per unit (the `text_id` of a hit): the pack items it stands for.
    unit_items: tuple[tuple[int, ...], ...]

    def to_arrays(self) -> Arrays: ...


CONFIDENCE_CLASSES = ("certain", "review")


class Stage(Protocol):
    name: str
    evidence_rank: int
    # "certain" when a match means the benchmark text is in the row; "review" for weaker evidence (a rewrite).
    confidence: str

    def index(self, items: Sequence[BenchmarkItem], table: TextTable, config: Any) -> StageIndex:
        """Build this stage's part of the index; `config` is the stage's own settings."""
        ...

    def load_index(self, reader: ArrayReader, table: TextTable, config: Any, item_count: int) -> StageIndex:
        """Rebuild the part `index(...).to_arrays()` stored, validating it (raises `CacheInvalid`)."""
        ...

    def hits(self, batch: StageBatch, index: StageIndex, config: Any) -> list[RowHits]:
        """Per text of the batch, what it matches; `config` is the stage's own settings."""
        ...
