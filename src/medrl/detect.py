"""Detectors: pure functions from training texts to hits against unique benchmark texts of a `PackIndex`.

Each returns, per input text, `Hit`s (unique benchmark text id, score, evidence). They know nothing of files,
batches or engines, and each equals its exhaustive every-row-against-every-item definition (see tests).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process

from medrl.config import FuzzyConfig, NgramConfig
from medrl.index import PackIndex
from medrl.text import word_ngrams

# cdist scores in float32; candidates within this margin of the threshold are re-scored exactly in float64
# with the scalar scorer, so decisions are exactly `scorer(row, item) >= threshold`.
_CANDIDATE_MARGIN = 0.5


@dataclass(frozen=True)
class Hit:
    text_id: int
    score: float
    evidence: str


def ngram_hits(text: str, index: PackIndex, config: NgramConfig) -> list[Hit]:
    """Benchmark texts sharing at least one word n-gram with `text`.

    Score: the number of distinct shared n-grams; evidence: the first shared n-gram in the row's text order.
    """
    shared: dict[int, list] = {}
    for ngram in dict.fromkeys(word_ngrams(text, config.n)):
        for text_id in index.ngrams.get(ngram, ()):
            found = shared.get(text_id)
            if found is None:
                shared[text_id] = [1, ngram]
            else:
                found[0] += 1
    return [Hit(text_id, float(count), first) for text_id, (count, first) in shared.items()]


def fuzzy_hits(texts: list[str], index: PackIndex, config: FuzzyConfig, workers: int = -1) -> list[list[Hit]]:
    """Benchmark texts whose `scorer(text, benchmark_text)` >= threshold, for each text (raw, no processor).

    Evidence: the matched benchmark question.
    """
    if not texts:
        return []
    scorer = getattr(fuzz, config.scorer)
    cutoff = max(config.threshold - _CANDIDATE_MARGIN, 0.0)
    scores = process.cdist(texts, index.texts, scorer=scorer, score_cutoff=cutoff, dtype=np.float32, workers=workers)
    hits: list[list[Hit]] = [[] for _ in texts]
    for row, text_id in zip(*np.nonzero(scores), strict=True):
        exact = scorer(texts[row], index.texts[text_id])
        if exact >= config.threshold:
            hits[row].append(Hit(int(text_id), float(exact), index.texts[text_id]))
    return hits
