"""The fuzzy stage: rapidfuzz similarity of the raw row text against each raw benchmark question (the II-Medical-RL
method's second stage, `fuzz.ratio >= 80`), exact, with a character-count bound that skips hopeless pairs."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process

from medrl.benchmarks.loaders import BenchmarkItem
from medrl.detection.arrays import ArrayReader, Arrays, CacheInvalid
from medrl.detection.hits import Hit
from medrl.detection.stages.base import RowHits, Stage, StageBatch, StageSettings, TextTable
from medrl.errors import MedrlError

# cdist scores in float32; candidates within this margin of the threshold are re-scored exactly in float64
# with the scalar scorer, so decisions are exactly `scorer(row, item) >= threshold`.
_CANDIDATE_MARGIN = 0.5
CHAR_BUCKETS = 129  # one per ASCII code point, one for everything else
# rapidfuzz.fuzz scorers a user may pick (all return 0-100 similarities).
FUZZY_SCORERS = ("ratio", "partial_ratio", "token_sort_ratio", "token_set_ratio", "QRatio", "WRatio")


@dataclass(frozen=True)
class FuzzyConfig(StageSettings):
    """Character-level fuzzy matching of the raw row text against each raw benchmark question.

    `scorer` names a rapidfuzz.fuzz function (default `ratio`: normalised Indel similarity, no processor, as in
    OpenThoughts' `process.extract(..., scorer=fuzz.ratio)`); a pair matches when its score >= `threshold`.
    """

    scorer: str = "ratio"
    threshold: float = 80.0

    def __post_init__(self) -> None:
        if self.scorer not in FUZZY_SCORERS:
            raise MedrlError(f"fuzzy.scorer {self.scorer!r} is not one of {', '.join(FUZZY_SCORERS)}")
        if not 0 < self.threshold <= 100:
            raise MedrlError(f"fuzzy.threshold must be in (0, 100], got {self.threshold}")


def char_histogram(text: str) -> np.ndarray:
    """Character counts by bucket: ASCII characters each, all others together (still an upper bound on LCS)."""
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return np.bincount(np.minimum(codes, CHAR_BUCKETS - 1), minlength=CHAR_BUCKETS).astype(np.int32)


@dataclass(frozen=True)
class FuzzyIndex:
    """The unique texts sorted by length (`by_length` holds their ids), their lengths and `char_histogram`s in that
    order (uint16 when every count fits): the exact prefilter's tables."""

    texts: tuple[str, ...]
    unit_items: tuple[tuple[int, ...], ...]
    by_length: np.ndarray
    sorted_lengths: np.ndarray
    char_counts: np.ndarray

    def to_arrays(self) -> Arrays:
        return {"by_length": self.by_length, "sorted_lengths": self.sorted_lengths, "char_counts": self.char_counts}


class FuzzyStage(Stage[FuzzyConfig, FuzzyIndex]):
    name = "fuzzy"
    settings_class = FuzzyConfig
    evidence_rank = 1
    confidence = "certain"  # the row is nearly the benchmark question, character by character
    color = "#7c3aed"
    score = "the scorer's 0-100 similarity"
    evidence = "the matched benchmark question"

    def index(self, items: Sequence[BenchmarkItem], table: TextTable, settings: FuzzyConfig) -> FuzzyIndex:
        lengths = np.array([len(text) for text in table.texts], dtype=np.int64)
        order = np.argsort(lengths, kind="stable")
        counts = np.array([char_histogram(table.texts[i]) for i in order.tolist()], dtype=np.int32)
        counts = counts.reshape(-1, CHAR_BUCKETS)
        if counts.size and counts.max() <= np.iinfo(np.uint16).max:
            counts = counts.astype(np.uint16)
        return FuzzyIndex(table.texts, table.text_items, order, lengths[order], counts)

    def load_index(self, reader: ArrayReader, table: TextTable, settings: FuzzyConfig, item_count: int) -> FuzzyIndex:
        count = len(table.texts)
        by_length = reader.indices("by_length", count)
        sorted_lengths = reader.array("sorted_lengths", "i", count)
        char_counts = reader.arrays.get("char_counts")
        if len(by_length) != count or char_counts is None or char_counts.shape != (count, CHAR_BUCKETS):
            raise CacheInvalid("fuzzy index tables do not match the pack's texts")
        if char_counts.dtype.kind not in "iu" or not np.array_equal(
            sorted_lengths, np.array([len(table.texts[i]) for i in by_length.tolist()], dtype=np.int64)
        ):
            raise CacheInvalid("fuzzy index lengths do not match the pack's texts")
        return FuzzyIndex(table.texts, table.text_items, by_length, sorted_lengths, char_counts)

    def hits(self, batch: StageBatch, index: FuzzyIndex, settings: FuzzyConfig) -> list[RowHits]:
        return [RowHits.of(hits) for hits in fuzzy_hits(batch.texts, index, settings, batch.run.workers)]

    def threshold(self, settings: Mapping[str, Any]) -> tuple[float, str]:
        return float(settings["threshold"]), f"{settings['scorer']} >= threshold"


def fuzzy_hits(texts: list[str], index: FuzzyIndex, config: FuzzyConfig, workers: int = -1) -> list[list[Hit]]:
    """Benchmark texts whose `scorer(text, benchmark_text)` >= threshold, for each text (raw, no processor).

    Evidence: the matched benchmark question. For `ratio`, pairs that cannot reach the threshold by their
    character counts alone are skipped before any edit-distance work (see `ratio_candidates`); every pair left is
    scored with the scorer itself, so decisions equal scoring every pair.
    """
    if not texts:
        return []
    scorer = getattr(fuzz, config.scorer)
    cutoff = max(config.threshold - _CANDIDATE_MARGIN, 0.0)
    everything = np.arange(len(index.texts))

    def score_row(row: int) -> list[Hit]:
        text = texts[row]
        candidates = ratio_candidates(text, index, config.threshold) if config.scorer == "ratio" else everything
        if not len(candidates):
            return []
        choices = [index.texts[i] for i in candidates.tolist()]
        scores = process.cdist([text], choices, scorer=scorer, score_cutoff=cutoff, dtype=np.float32, workers=1)
        hits = []
        for position in np.flatnonzero(scores[0]).tolist():
            text_id = int(candidates[position])
            exact = scorer(text, index.texts[text_id])
            if exact >= config.threshold:
                hits.append(Hit(text_id, float(exact), index.texts[text_id]))
        return hits

    return _parallel(score_row, len(texts), workers)


def ratio_candidates(text: str, index: FuzzyIndex, threshold: float) -> np.ndarray:
    """Unique benchmark text ids whose `fuzz.ratio` with `text` may reach `threshold`, by an exact upper bound.

    ratio = 200 * LCS / (len(a) + len(b)), and LCS <= sum over characters of min(count in a, count in b) (buckets
    of characters only loosen this), so pairs whose bound is under the threshold cannot match.
    """
    length = len(text)
    if length == 0:  # fuzz.ratio("", "") is 100, and 0 against any non-empty text
        return index.by_length[: np.searchsorted(index.sorted_lengths, 0, side="right")]
    # Lengths alone bound the ratio by 200 * min / (len a + len b): only a window of lengths can reach it
    # (threshold <= 100, so share <= 0.5; the window is widened by one character on each side).
    share = threshold / 200.0
    low = np.searchsorted(index.sorted_lengths, length * share / (1 - share) - 1, side="left")
    high = np.searchsorted(index.sorted_lengths, length * (1 - share) / share + 1, side="right")
    counts = char_histogram(text)
    limit = np.iinfo(index.char_counts.dtype).max
    counts = np.minimum(counts, limit).astype(index.char_counts.dtype)  # no item count exceeds the limit
    common = np.minimum(index.char_counts[low:high], counts).sum(axis=1, dtype=np.int64)
    bound = 200.0 * common / (length + index.sorted_lengths[low:high])
    return index.by_length[low:high][bound >= threshold - 1e-6]


def _parallel(function: Callable[[int], list[Hit]], count: int, workers: int) -> list[list[Hit]]:
    """Rows in threads: numpy and rapidfuzz release the GIL in their loops, so threads use every core."""
    threads = os.cpu_count() or 1 if workers < 1 else workers
    if threads == 1 or count < 2:
        return [function(i) for i in range(count)]
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(function, range(count)))
