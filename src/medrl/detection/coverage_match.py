"""The coverage rule: a text contains a benchmark question (verbatim, wrapped, edited or truncated) when it covers
most of the question's rare word n-grams; short or generic questions match only whole and with their options (see
`CoverageConfig`). The coverage stage runs it against the pack; dedup runs it between training rows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from medrl.detection.hits import Hit
from medrl.detection.options import options_disagree, row_options_of
from medrl.detection.rare_ngrams import CoverageIndex, member, pack_ngrams, shared_counts
from medrl.detection.text import question_stem, word_spans, words


def coverage_hits(
    texts: list[str],
    index: CoverageIndex,
    row_options: list[frozenset[str]] | None = None,
    evidence: bool = True,
    paragraphs: bool = False,
) -> list[list[Hit]]:
    """Units a row covers (see `CoverageConfig`), vectorised over the batch with numpy.

    `row_options` are each row's folded option texts when they live in another column; otherwise options written
    in the row's text are used. Score: the percentage of the unit's rare n-grams found in the row; evidence: the
    longest run of the row's text made of shared rare n-grams, with its character spans in both texts
    (`evidence=False` skips it, for callers that only need the decision). `paragraphs`: the texts are paragraphs of
    longer texts, whose truncated copies must also cover `min_paragraph_item_coverage` of the item.
    """
    config = index.config

    def hit(row: int, unit: int, score: float) -> Hit:
        return _coverage_evidence(texts[row], unit, score, index) if evidence else Hit(unit, score, "")

    # Options written inline ("Answer Choices: (A) ...") are compared as options, never as question text: a row
    # that keeps only a question's end would otherwise be mostly options and look unlike the question.
    counts = shared_counts([question_stem(text) for text in texts], index)
    item_coverage = counts.item_coverage(index)
    short = index.short[counts.units]
    flagged = (
        (item_coverage >= config.min_item_coverage)
        & (counts.shared >= np.minimum(config.min_item_shared, index.rare_total[counts.units]))
    ) | (
        (counts.row_coverage() >= config.min_row_coverage)
        & (counts.shared >= config.min_shared)
        & (item_coverage >= (config.min_paragraph_item_coverage if paragraphs else 0.0))
    )
    flagged &= ~short
    hits: list[list[Hit]] = [[] for _ in texts]
    row_words: dict[int, str] = {}
    row_folded_options: dict[int, frozenset[str]] = {}
    row_lines: dict[int, list[str]] = {}

    def words_of(row: int) -> str:
        """The row's folded stem words, space-padded, computed once per row and only for short units."""
        if row not in row_words:
            row_words[row] = f" {' '.join(words(question_stem(texts[row])))} "
        return row_words[row]

    def lines_of(row: int) -> list[str]:
        """The row's lines as folded, space-padded words (none for a one-line row), once per row, for short units."""
        if row not in row_lines:
            stem = question_stem(texts[row])
            lines = (f" {' '.join(found)} " for line in stem.split("\n") if (found := words(line)))
            row_lines[row] = list(lines) if "\n" in stem else []
        return row_lines[row]

    def options_of(row: int) -> frozenset[str]:
        if row not in row_folded_options:
            row_folded_options[row] = row_options_of(texts[row], row, row_options)
        return row_folded_options[row]

    for row, unit, coverage in zip(
        counts.rows[flagged].tolist(), counts.units[flagged].tolist(), item_coverage[flagged].tolist(), strict=True
    ):
        if options_disagree(options_of(row), index.unit_options[unit]):
            continue
        hits[row].append(hit(row, unit, round(coverage * 100, 2)))
    for row, unit in zip(counts.rows[short].tolist(), counts.units[short].tolist(), strict=True):
        score = _short_unit_score(words_of(row), options_of(row), unit, index, config.short_row_slack, lines_of(row))
        if score is not None:
            hits[row].append(hit(row, unit, score))
    # A tiny question standing alone on a line of a long text is more often a heading than a copy: whole rows only.
    for row, unit in _tiny_question_pairs(texts, index):
        score = _short_unit_score(words_of(row), options_of(row), unit, index, _TINY_SLACK)
        if score is not None:
            hits[row].append(hit(row, unit, score))
    return hits


# A question of fewer than n words ("Junctional epithelium") is taken as copied only when the row is little more
# than it: an instruction around it ("Question: ... Answer:"), not a sentence that happens to use the phrase. Rows
# longer than that are not searched for one.
_TINY_SLACK = 12
_TINY_ROW_WORDS = 60


def _tiny_question_pairs(texts: list[str], index: CoverageIndex) -> list[tuple[int, int]]:
    """(row, unit) for every question of fewer than n words that appears word for word in a short row."""
    tiny = index.tiny_questions
    if not tiny:
        return []
    pairs: list[tuple[int, int]] = []
    for row, text in enumerate(texts):
        tokens = words(question_stem(text))
        if len(tokens) > _TINY_ROW_WORDS:
            continue
        found = {
            unit
            for size in range(1, index.config.n)
            for start in range(len(tokens) - size + 1)
            for unit in tiny.get(" ".join(tokens[start : start + size]), ())
        }
        pairs.extend((row, unit) for unit in sorted(found))
    return pairs


def _short_unit_score(
    row_words: str, options: frozenset[str], unit: int, index: CoverageIndex, slack: int, lines: Sequence[str] = ()
) -> float | None:
    """A short/generic question matches only as a whole, and with its options when the row carries options; a row
    without options may hold at most `slack` words more than the question, or hold it on a line that is mostly the
    question (at most `slack`, and at most as many words as the question, more): a question pasted into a long
    document, a reasoning trace or a chat transcript. Within a running sentence the same words are not a copy."""
    question = index.unit_questions[unit]
    if not question or f" {question} " not in row_words:
        return None
    config = index.config
    if options:
        unit_options = index.unit_options[unit]
        overlap = len(options & unit_options) / max(min(len(options), len(unit_options)), 1)
        return round(100 * overlap, 2) if overlap >= config.min_option_overlap else None
    size = question.count(" ") + 1
    if row_words.count(" ") - 1 - size <= slack:
        return 100.0
    line_slack = min(slack, size)  # a line is mostly the question: a short one within a sentence is not a copy
    on_a_line = any(f" {question} " in line and line.count(" ") - 1 - size <= line_slack for line in lines)
    return 100.0 if on_a_line else None


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


def _covered_tokens(keys: np.ndarray, shared: np.ndarray, count: int, n: int) -> np.ndarray:
    """Which of a text's `count` tokens lie in an n-gram whose key is in `shared` (`keys`: the text's n-gram keys,
    in order: key k covers tokens k .. k + n - 1)."""
    starts = np.concatenate(([0], np.cumsum(member(shared, keys))))  # shared n-grams starting before each position
    position = np.arange(count)
    last, first = np.minimum(position + 1, len(keys)), np.clip(position - n + 1, 0, len(keys))
    return starts[last] - starts[first] > 0  # a shared n-gram starts in [position - n + 1, position]


def _coverage_evidence(text: str, unit: int, score: float, index: CoverageIndex) -> Hit:
    n, unit_text = index.config.n, index.unit_texts[unit]
    row_tokens, unit_tokens = words(text), words(unit_text)
    row_keys, unit_keys = pack_ngrams(index.ids(row_tokens), n), pack_ngrams(index.ids(unit_tokens), n)
    shared = np.intersect1d(row_keys, index.rare_keys(unit_keys))
    row_run = _longest_run(_covered_tokens(row_keys, shared, len(row_tokens), n))
    unit_run = _longest_run(_covered_tokens(unit_keys, shared, len(unit_tokens), n))
    row_spans, unit_spans = word_spans(text), word_spans(unit_text)
    row_span = (row_spans[row_run[0]][0], row_spans[row_run[1] - 1][1]) if row_run[1] > row_run[0] else None
    item_span = (unit_spans[unit_run[0]][0], unit_spans[unit_run[1] - 1][1]) if unit_run[1] > unit_run[0] else None
    evidence = text[row_span[0] : row_span[1]] if row_span else ""
    return Hit(unit, score, evidence, row_span, item_span)
