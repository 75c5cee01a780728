"""The reference implementations medrl is compared with, written as their sources write them.

(a) open-r1 `scripts/decontaminate.py` (huggingface/open-r1): `normalize_string`, `word_ngrams`,
    `build_ngram_lookup` (dict n-gram -> set of doc ids over the benchmark questions), and per row
    `any(set(ngram in ngram_lookup for ngram in ngrams))` over `build_ngram_single(row)`. Plain Python, one process
    (open-r1 wraps the per-row function in `datasets.map(num_proc=8)`; see README).
(b) OpenThoughts `open_thoughts/decontaminate.py` + `deduplicate.fuzz_string_pair` (open-thoughts/open-thoughts):
    per row `rapidfuzz.process.extract(row, eval_strings, scorer=fuzz.ratio, score_cutoff=80, limit=None)` in a
    `multiprocessing.Pool(cpu_count)` with `imap(..., chunksize=100)`; contaminated if any result.
(c) Exhaustive `rapidfuzz.process.cdist(rows, questions, scorer=fuzz.ratio, score_cutoff=80, workers=-1)` in row
    chunks; contaminated if any score in the row is non-zero (cdist zeroes scores below the cutoff).

As in the II-Medical-RL pipeline, the fuzzy stage (b)/(c) only examines rows the 8-gram stage (a) kept.
"""

from __future__ import annotations

import collections
import multiprocessing as mp
from functools import partial

import numpy as np
from rapidfuzz import fuzz, process

NGRAM_SIZE = 8
THRESHOLD = 80.0
CDIST_CHUNK = 512  # rows per cdist call: 512 x 12,305 float32 scores = 25 MB


# ---- (a) open-r1 ----------------------------------------------------------------------------------------------
def normalize_string(text: str) -> str:
    """Basic string normalization."""
    # Convert to lowercase and normalize whitespace
    text = text.lower().strip()
    # Replace multiple spaces with single space
    text = " ".join(text.split())
    return text


def word_ngrams(text: str, n: int) -> list:
    """Generate word-level n-grams from text."""
    words = text.split()
    return [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]


def build_ngram_lookup(documents: list[str], ngram_size: int = 8) -> dict[str, set[int]]:
    """Build ngram lookup for documents."""
    lookup = collections.defaultdict(set)
    for doc_id, document in enumerate(documents):
        normalized_text = normalize_string(document)
        ngrams = word_ngrams(normalized_text, ngram_size)
        for ngram in ngrams:
            lookup[ngram].add(doc_id)
    return lookup


def build_ngram_single(document: str, ngram_size: int = 8) -> set[str]:
    normalized_text = normalize_string(document)
    ngrams = word_ngrams(normalized_text, ngram_size)
    return set(ngrams)


def openr1_contaminated(rows: list[str], ngram_lookup: dict[str, set[int]]) -> list[bool]:
    flags = []
    for row in rows:
        ngrams = build_ngram_single(row, ngram_size=NGRAM_SIZE)
        flags.append(any(set(ngram in ngram_lookup for ngram in ngrams)))
    return flags


# ---- (b) OpenThoughts -------------------------------------------------------------------------------------------
def fuzz_string_pair(str1: str, values2: list[str], similarity_threshold: float) -> list[tuple]:
    matches_with_scores = process.extract(
        str1, values2, scorer=fuzz.ratio, score_cutoff=similarity_threshold, limit=None
    )
    return [(str1, match_tuple[0], match_tuple[1]) for match_tuple in matches_with_scores]


def openthoughts_contaminated(rows: list[str], questions: list[str], processes: int) -> list[bool]:
    process_pair = partial(fuzz_string_pair, values2=questions, similarity_threshold=THRESHOLD)
    with mp.get_context("fork").Pool(processes) as pool:
        matches = list(pool.imap(process_pair, rows, chunksize=100))
    return [any(score >= THRESHOLD for _, _, score in match_list) for match_list in matches]


# ---- (c) exhaustive cdist ---------------------------------------------------------------------------------------
def cdist_contaminated(rows: list[str], questions: list[str]) -> list[bool]:
    flags: list[bool] = []
    for start in range(0, len(rows), CDIST_CHUNK):
        scores = process.cdist(
            rows[start : start + CDIST_CHUNK], questions, scorer=fuzz.ratio, score_cutoff=THRESHOLD, workers=-1
        )
        flags.extend(np.any(scores > 0, axis=1).tolist())
    return flags
