"""Text normalisation shared by the detection stages, dedup and labels. Kept byte-for-byte faithful to the methods
they reproduce."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable


def openr1_normalise(text: str) -> str:
    """open-r1's `normalize_string`: lower-case, strip, collapse whitespace runs (Python `str.split()` rules)."""
    return " ".join(text.lower().strip().split())


def word_ngrams(text: str, n: int) -> list[str]:
    """open-r1's word n-grams of the normalised text, in text order (empty when it has fewer than n words)."""
    words = openr1_normalise(text).split()
    return [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]


_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_WORD = re.compile(r"[^\W_]+")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def fold(text: str) -> str:
    """Compatibility-decompose (NFKD: ligatures, full-width, composed accents), drop accents, case-fold.

    NFKD works character by character, so NFC, NFD and NFKC spellings of the same text fold alike.
    """
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text)).casefold()


def words(text: str) -> list[str]:
    """Word tokens of the folded text: runs of letters and digits. Punctuation, quotes of any shape, dashes and
    whitespace of any kind only separate words, so they cannot hide a copy."""
    return list(_words(text))


@functools.lru_cache(maxsize=8192)
def _words(text: str) -> tuple[str, ...]:
    """Several stages tokenise the same rows of a batch (and dedup the same questions): fold each text once."""
    if text.isascii():  # folding ASCII only lower-cases it (NFKD leaves it alone; it has no accents)
        return tuple(_WORD.findall(text.lower()))
    return tuple(_WORD.findall(fold(text)))


def word_spans(text: str) -> list[tuple[int, int]]:
    """Character spans in the original `text` of each token `words(text)` returns, in order (for evidence).

    Folding a character may change its length (e.g. "ß" -> "ss"), so tokens are found on the folded text and
    mapped back through a per-character offset table.
    """
    if text.isascii():  # folding ASCII only changes case: same positions
        return [match.span() for match in _WORD.finditer(text)]
    pieces: list[str] = []
    origin: list[int] = []
    position = 0
    for match in _NON_ASCII.finditer(text):  # ASCII runs fold by lower-casing; other characters one by one
        pieces.append(text[position : match.start()].lower())
        origin.extend(range(position, match.start()))
        piece = fold(match.group())
        pieces.append(piece)
        origin.extend([match.start()] * len(piece))
        position = match.end()
    pieces.append(text[position:].lower())
    origin.extend(range(position, len(text)))
    folded = "".join(pieces)
    return [(origin[m.start()], origin[m.end() - 1] + 1) for m in _WORD.finditer(folded)]


# "A. text" / "B) text" lines, or inline "(A) text (B) text" as in MedXpertQA's "Answer Choices:" block.
_OPTION_LINE = re.compile(r"^[ \t]*\(?([A-J])[.):][ \t]+(\S.*)$", re.MULTILINE)
_OPTION_INLINE = re.compile(r"\(([A-J])\)\s+(.+?)(?=\s+\([A-J]\)\s|\s*$)", re.DOTALL)


def option_texts(text: str) -> list[str]:
    """Lettered options carried inside a text (at least two, lettered from A), else an empty list."""
    for pattern in (_OPTION_LINE, _OPTION_INLINE):
        found = pattern.findall(text)
        if len(found) >= 2 and found[0][0] == "A":
            return [option for _, option in found]
    return []


def folded_options(options: Iterable[tuple[object, str]]) -> frozenset[str]:
    """Option texts compared without letters, case, accents or punctuation (shuffled options still match)."""
    return frozenset(folded for _, text in options if (folded := " ".join(words(text))))


_INLINE_CHOICES = re.compile(r"\s*Answer Choices:.*", re.DOTALL)


def question_stem(question: str) -> str:
    """The question without an inline "Answer Choices:" block (MedXpertQA): options are compared as options, so
    a row that merely lists the same drugs is not taken for the question."""
    return _INLINE_CHOICES.sub("", question) or question
