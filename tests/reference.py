"""The straightforward, exhaustive definition of the ii-medical-rl method: every row against every item.

Written independently of medrl's detectors (open-r1's and OpenThoughts' code paths, re-stated), so tests can
assert medrl's decisions and matched items equal it exactly.
"""

from __future__ import annotations

import numpy as np
from rapidfuzz import fuzz, process


def openr1_ngrams(text: str, n: int = 8) -> set[str]:
    """open-r1 scripts/decontaminate.py: normalize_string then word_ngrams, as a set."""
    text = " ".join(text.lower().strip().split())
    words = text.split()
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def ngram_matches(rows: list[str], questions: list[str], n: int = 8) -> list[set[int]]:
    """Per row, the indices of benchmark questions sharing at least one word n-gram with it."""
    question_ngrams = [openr1_ngrams(question, n) for question in questions]
    matches = []
    for row in rows:
        row_ngrams = openr1_ngrams(row, n)
        matches.append({i for i, grams in enumerate(question_ngrams) if not row_ngrams.isdisjoint(grams)})
    return matches


def fuzzy_matches_scalar(rows: list[str], questions: list[str], threshold: float = 80.0) -> list[set[int]]:
    """Per row, benchmark questions with fuzz.ratio(row, question) >= threshold, one scalar call per pair."""
    return [{i for i, question in enumerate(questions) if fuzz.ratio(row, question) >= threshold} for row in rows]


def fuzzy_matches_matrix(rows: list[str], questions: list[str], threshold: float = 80.0) -> list[set[int]]:
    """The same as fuzzy_matches_scalar, via the full float64 score matrix (no cutoff): fast enough for real data."""
    matches: list[set[int]] = []
    for start in range(0, len(rows), 256):
        scores = process.cdist(rows[start : start + 256], questions, scorer=fuzz.ratio, dtype=np.float64, workers=-1)
        matches.extend(set(np.flatnonzero(row >= threshold).tolist()) for row in scores)
    return matches
