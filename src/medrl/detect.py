"""Detectors: pure functions from training texts to hits against unique benchmark texts of a `PackIndex`.

Each returns, per input text, `Hit`s (unique benchmark text id, score, evidence). They know nothing of files,
batches or engines, and each equals its exhaustive every-row-against-every-item definition (see tests).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process

from medrl.config import FuzzyConfig, NgramConfig, RewriteConfig
from medrl.index import CoverageIndex, PackIndex, char_histogram, folded_options, member, pack_ngrams
from medrl.text import option_texts, word_ngrams, word_spans, words

# cdist scores in float32; candidates within this margin of the threshold are re-scored exactly in float64
# with the scalar scorer, so decisions are exactly `scorer(row, item) >= threshold`.
_CANDIDATE_MARGIN = 0.5


@dataclass(frozen=True)
class Hit:
    text_id: int  # a unique benchmark text (ngram/fuzzy) or coverage unit
    score: float
    evidence: str
    row_span: tuple[int, int] | None = None  # character span of the evidence in the row's text
    item_span: tuple[int, int] | None = None  # ... and in the benchmark text


def ngram_hits(text: str, index: PackIndex, config: NgramConfig, limit: int = 0) -> tuple[list[Hit], np.ndarray]:
    """Benchmark texts sharing at least one word n-gram with `text`: Hits for the `limit` strongest (0 = all)
    and the ids of every matched text.

    Score: the number of distinct shared n-grams; evidence: the first shared n-gram in the row's text order.
    Stock phrases match hundreds of texts, so counting runs in numpy and only kept evidence becomes objects.
    """
    postings, firsts = [], []
    for ngram in dict.fromkeys(word_ngrams(text, config.n)):
        found = index.ngrams.get(ngram)
        if found is not None:
            postings.append(found)
            firsts.append(ngram)
    if not postings:
        return [], _NO_IDS
    every = np.concatenate(postings)
    source = np.repeat(np.arange(len(postings)), [len(found) for found in postings])
    ids, first, counts = np.unique(every, return_index=True, return_counts=True)
    strongest = np.lexsort((ids, -counts))
    if limit:
        strongest = strongest[:limit]
    hits = [Hit(int(ids[i]), float(counts[i]), firsts[source[first[i]]]) for i in strongest.tolist()]
    return hits, ids


_NO_IDS = np.empty(0, dtype=np.int64)


def fuzzy_hits(texts: list[str], index: PackIndex, config: FuzzyConfig, workers: int = -1) -> list[list[Hit]]:
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


def ratio_candidates(text: str, index: PackIndex, threshold: float) -> np.ndarray:
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


@dataclass(frozen=True)
class SharedCounts:
    """Per (row, unit) pair sharing at least one rare n-gram: how many distinct rare n-grams they share."""

    rows: np.ndarray
    units: np.ndarray
    shared: np.ndarray
    row_ngrams: np.ndarray  # per row: its n-gram positions that are not stock phrases

    def item_coverage(self, index: CoverageIndex) -> np.ndarray:
        return self.shared / index.rare_total[self.units]

    def row_coverage(self) -> np.ndarray:
        return self.shared / np.maximum(self.row_ngrams[self.rows], 1)


def shared_counts(texts: list[str], index: CoverageIndex) -> SharedCounts:
    """Join every row's n-gram keys against the index in one vectorised pass over the batch."""
    row_keys = [pack_ngrams(index.ids(words(text)), index.config.n) for text in texts]
    lengths = np.array([len(keys) for keys in row_keys], dtype=np.int64)
    every = np.concatenate(row_keys) if row_keys else np.empty(0, dtype=np.uint64)
    rows = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    row_ngrams = lengths - np.bincount(rows[member(index.stock_keys, every)], minlength=len(texts))
    found = member(index.keys, every)
    position = np.searchsorted(index.keys, every[found])
    # One (row, key) pair per distinct shared key, then one (row, unit) pair per posting.
    pairs = np.unique(rows[found] * len(index.keys) + position)
    hit_rows, hit_keys = pairs // max(len(index.keys), 1), pairs % max(len(index.keys), 1)
    starts = index.offsets[hit_keys]
    counts = index.offsets[hit_keys + 1] - starts
    expanded = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
    units = index.postings[expanded].astype(np.int64)
    unit_count = len(index.unit_texts)
    pair_ids, shared = np.unique(np.repeat(hit_rows, counts) * unit_count + units, return_counts=True)
    return SharedCounts(pair_ids // unit_count, pair_ids % unit_count, shared, row_ngrams)


def coverage_hits(
    texts: list[str],
    index: CoverageIndex,
    row_options: list[frozenset[str]] | None = None,
    evidence: bool = True,
) -> list[list[Hit]]:
    """Benchmark units a row covers (see `CoverageConfig`), vectorised over the batch with numpy.

    `row_options` are each row's folded option texts when they live in another column; otherwise options written
    in the row's text are used. Score: the percentage of the unit's rare n-grams found in the row; evidence: the
    longest run of the row's text made of shared rare n-grams, with its character spans in both texts
    (`evidence=False` skips it, for callers that only need the decision).
    """
    config = index.config

    def hit(row: int, unit: int, score: float) -> Hit:
        return _coverage_evidence(texts[row], unit, score, index) if evidence else Hit(unit, score, "")

    counts = shared_counts(texts, index)
    item_coverage = counts.item_coverage(index)
    short = index.short[counts.units]
    flagged = (
        (item_coverage >= config.min_item_coverage)
        & (counts.shared >= np.minimum(config.min_item_shared, index.rare_total[counts.units]))
    ) | ((counts.row_coverage() >= config.min_row_coverage) & (counts.shared >= config.min_shared))
    flagged &= ~short
    hits: list[list[Hit]] = [[] for _ in texts]
    folded: dict[int, tuple[str, frozenset[str]]] = {}

    def row_view(row: int) -> tuple[str, frozenset[str]]:
        """The row's folded words (space-padded) and its folded options, computed once per row."""
        if row not in folded:
            folded[row] = (f" {' '.join(words(texts[row]))} ", _row_options(texts[row], row, row_options))
        return folded[row]

    for row, unit, coverage in zip(
        counts.rows[flagged].tolist(), counts.units[flagged].tolist(), item_coverage[flagged].tolist(), strict=True
    ):
        if _options_disagree(row_view(row)[1], index.unit_options[unit]):
            continue
        hits[row].append(hit(row, unit, round(coverage * 100, 2)))
    for row, unit in zip(counts.rows[short].tolist(), counts.units[short].tolist(), strict=True):
        score = _short_unit_score(*row_view(row), unit, index)
        if score is not None:
            hits[row].append(hit(row, unit, score))
    return hits


def _row_options(text: str, row: int, row_options: list[frozenset[str]] | None) -> frozenset[str]:
    """A row's options: from its options column when it has any, else the lettered options in its text."""
    if row_options and row_options[row]:
        return row_options[row]
    return folded_options(enumerate(option_texts(text)))


def _options_disagree(row_options: frozenset[str], unit_options: frozenset[str]) -> bool:
    """Both sides list options and not one is shared: the row asks a different question with the same stem."""
    return len(row_options) >= 2 and len(unit_options) >= 2 and not row_options & unit_options


def _short_unit_score(row_words: str, options: frozenset[str], unit: int, index: CoverageIndex) -> float | None:
    """A short/generic question matches only as a whole, and with its options when the row carries options."""
    question = index.unit_questions[unit]
    if not question or f" {question} " not in row_words:
        return None
    config = index.config
    if options:
        unit_options = index.unit_options[unit]
        overlap = len(options & unit_options) / max(min(len(options), len(unit_options)), 1)
        return round(100 * overlap, 2) if overlap >= config.min_option_overlap else None
    extra_words = row_words.count(" ") - 1 - (question.count(" ") + 1)
    return 100.0 if extra_words <= config.short_row_slack else None


def _longest_run(covered: np.ndarray) -> tuple[int, int]:
    """[start, end) of the longest run of True in a boolean array (empty run when none)."""
    best, start = (0, 0), None
    for position, value in enumerate([*covered.tolist(), False]):
        if value and start is None:
            start = position
        elif not value and start is not None:
            if position - start > best[1] - best[0]:
                best = (start, position)
            start = None
    return best


def _covered_tokens(tokens: list[str], shared: np.ndarray, index: CoverageIndex) -> np.ndarray:
    """Which tokens lie in an n-gram whose key is in `shared`."""
    n = index.config.n
    keys = pack_ngrams(index.ids(tokens), n)
    covered = np.zeros(len(tokens), dtype=bool)
    for offset in np.flatnonzero(member(shared, keys)):
        covered[offset : offset + n] = True
    return covered


def _coverage_evidence(text: str, unit: int, score: float, index: CoverageIndex) -> Hit:
    unit_text = index.unit_texts[unit]
    row_tokens, unit_tokens = words(text), words(unit_text)
    shared = np.intersect1d(pack_ngrams(index.ids(row_tokens), index.config.n), index.unit_rare_keys(unit))
    row_run = _longest_run(_covered_tokens(row_tokens, shared, index))
    unit_run = _longest_run(_covered_tokens(unit_tokens, shared, index))
    row_spans, unit_spans = word_spans(text), word_spans(unit_text)
    row_span = (row_spans[row_run[0]][0], row_spans[row_run[1] - 1][1]) if row_run[1] > row_run[0] else None
    item_span = (unit_spans[unit_run[0]][0], unit_spans[unit_run[1] - 1][1]) if unit_run[1] > unit_run[0] else None
    evidence = text[row_span[0] : row_span[1]] if row_span else ""
    return Hit(unit, score, evidence, row_span, item_span)


def rewrite_hits(
    texts: list[str], index: CoverageIndex, config: RewriteConfig, row_options: list[frozenset[str]] | None = None
) -> list[list[Hit]]:
    """Benchmark items a row rewrites (see `RewriteConfig`). Score: the percentage of rarer words shared; evidence:
    the shared options."""
    counts = shared_counts(texts, index)
    overlap = np.minimum(counts.item_coverage(index), counts.row_coverage())
    hits: list[list[Hit]] = [[] for _ in texts]
    candidates = overlap >= min(config.min_word_overlap, config.min_word_overlap_one_option)
    options_of: dict[int, frozenset[str]] = {}
    for row, unit, words_shared in zip(
        counts.rows[candidates].tolist(), counts.units[candidates].tolist(), overlap[candidates].tolist(), strict=True
    ):
        if row not in options_of:
            options_of[row] = _row_options(texts[row], row, row_options)
        options = options_of[row]
        shared = options & index.unit_options[unit]
        many = len(shared) >= config.min_option_overlap * len(options)
        if len(options) >= 2 and shared and (many or words_shared >= config.min_word_overlap_one_option):
            hits[row].append(Hit(unit, round(100 * words_shared, 2), "; ".join(sorted(shared))))
    return hits
