"""Text normalisation shared by the detectors. Kept byte-for-byte faithful to the methods they reproduce."""

from __future__ import annotations


def openr1_normalise(text: str) -> str:
    """open-r1's `normalize_string`: lower-case, strip, collapse whitespace runs (Python `str.split()` rules)."""
    return " ".join(text.lower().strip().split())


def word_ngrams(text: str, n: int) -> list[str]:
    """open-r1's word n-grams of the normalised text, in text order (empty when it has fewer than n words)."""
    words = openr1_normalise(text).split()
    return [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
