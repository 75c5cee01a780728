"""The 8-gram stage, as open-r1's decontaminate script: a row is contaminated if any of its word n-grams (after
`openr1_normalise`) occurs in a benchmark question."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from medrl.benchmarks.loaders import BenchmarkItem
from medrl.detection.arrays import ArrayReader, Arrays, encode_strings
from medrl.detection.hits import Hit
from medrl.detection.stages.base import RowHits, Stage, StageBatch, StageSettings, TextTable
from medrl.detection.text import word_ngrams
from medrl.errors import MedrlError

_NO_IDS = np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class NgramConfig(StageSettings):
    """Word n-gram overlap as in open-r1's decontaminate script.

    Text is lower-cased, stripped, whitespace runs collapsed (Python `str.split()`), split on whitespace; a row is
    flagged when any of its word n-grams occurs in a benchmark question. Texts shorter than `n` words have no
    n-grams and can never be flagged by this stage (the seed method's blind spot, kept for exactness).
    """

    n: int = 8

    def __post_init__(self) -> None:
        if self.n < 1:
            raise MedrlError(f"ngram.n must be >= 1, got {self.n}")


@dataclass(frozen=True)
class NgramIndex:
    """Each benchmark n-gram (`keys[ngram]` = its position) and the unique texts containing it:
    `postings[offsets[k]:offsets[k + 1]]`."""

    unit_items: tuple[tuple[int, ...], ...]
    keys: dict[str, int]
    offsets: np.ndarray
    postings: np.ndarray

    def texts_with(self, key: int) -> np.ndarray:
        return self.postings[self.offsets[key] : self.offsets[key + 1]]

    def to_arrays(self) -> Arrays:
        return {**encode_strings("keys", list(self.keys)), "offsets": self.offsets, "postings": self.postings}


class NgramStage(Stage[NgramConfig, NgramIndex]):
    name = "ngram"
    settings_class = NgramConfig
    evidence_rank = 3
    confidence = "certain"  # a benchmark question's word n-gram is in the row, as the method it reproduces requires
    color = "#059669"
    score = "distinct shared n-grams"
    evidence = "the first shared n-gram"
    score_ceiling = None  # a count

    def index(self, items: Sequence[BenchmarkItem], table: TextTable, settings: NgramConfig) -> NgramIndex:
        postings: dict[str, list[int]] = {}
        for text_id, text in enumerate(table.texts):
            for ngram in dict.fromkeys(word_ngrams(text, settings.n)):
                postings.setdefault(ngram, []).append(text_id)
        lengths = np.fromiter((len(ids) for ids in postings.values()), dtype=np.int64, count=len(postings))
        return NgramIndex(
            unit_items=table.text_items,
            keys={ngram: key for key, ngram in enumerate(postings)},
            offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            postings=np.fromiter((i for ids in postings.values() for i in ids), dtype=np.int64),
        )

    def load_index(self, reader: ArrayReader, table: TextTable, settings: NgramConfig, item_count: int) -> NgramIndex:
        keys = reader.strings("keys")
        postings = reader.indices("postings", len(table.texts))
        return NgramIndex(
            unit_items=table.text_items,
            keys={ngram: key for key, ngram in enumerate(keys)},
            offsets=reader.offsets("offsets", len(postings), len(keys)),
            postings=postings,
        )

    def hits(self, batch: StageBatch, index: NgramIndex, settings: NgramConfig) -> list[RowHits]:
        return [ngram_hits(text, index, settings, batch.run.max_matches_per_row) for text in batch.texts]

    def threshold(self, settings: Mapping[str, Any]) -> tuple[float, str]:
        return 1.0, f"any shared {settings.get('n', '')}-gram"


def ngram_hits(text: str, index: NgramIndex, config: NgramConfig, limit: int = 0) -> RowHits:
    """Benchmark texts sharing at least one word n-gram with `text`: Hits for the `limit` strongest (0 = all)
    and the ids of every matched text.

    Score: the number of distinct shared n-grams; evidence: the first shared n-gram in the row's text order.
    Stock phrases match hundreds of texts, so counting runs in numpy and only kept evidence becomes objects.
    """
    postings, firsts = [], []
    for ngram in dict.fromkeys(word_ngrams(text, config.n)):
        key = index.keys.get(ngram)
        if key is not None:
            postings.append(index.texts_with(key))
            firsts.append(ngram)
    if not postings:
        return RowHits([], _NO_IDS)
    every = np.concatenate(postings)
    source = np.repeat(np.arange(len(postings)), [len(found) for found in postings])
    ids, first, counts = np.unique(every, return_index=True, return_counts=True)
    strongest = np.lexsort((ids, -counts))
    if limit:
        strongest = strongest[:limit]
    hits = [Hit(int(ids[i]), float(counts[i]), firsts[source[first[i]]]) for i in strongest.tolist()]
    return RowHits(hits, ids)
