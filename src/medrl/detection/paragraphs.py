"""Paragraphs of long texts, checked on their own as well as within the whole text.

The stages that weigh a match against the row's length (coverage's share of the row, rewrite's share of rarer words,
the semantic stage's embedding of the whole row) find a benchmark question in a row that is mostly that question,
but not a cut or reworded copy restated inside a 2,000-word reasoning trace or document: there the same words are a
small part of the row. Checked as a row of its own, the paragraph holding the copy is judged as a flat row is.

Only paragraphs of at least `MIN_PARAGRAPH_WORDS` words are checked: shorter ones (a heading, "Let me think.") are
what the coverage stage's line rule is for, and a short row is judged leniently (an instruction around a short
question), which a short paragraph of a trace does not deserve. A paragraph without options of its own is given those
of the paragraph after it when that one lists them ("Question ...\n\nA. ...\nB. ..."), so a stem that needs its
options to agree (a generic question) is not judged without them; never the whole text's, which in a reasoning trace
are whatever its sentences happen to letter ("adenine (A), thymine (T)").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from medrl.detection.text import folded_options, option_texts, words

# Paragraphs are separated by a blank line (whitespace only between two line breaks).
_BREAK = re.compile(r"\n[ \t\r\f\v\u00a0]*\n\s*")
MIN_PARAGRAPH_WORDS = 15
# A checked column: every row's text, or some rows' texts by their offset in the batch.
Texts = Sequence[str] | Mapping[int, str]


@dataclass(frozen=True)
class Paragraphs:
    """A batch's paragraphs as extra checked columns: per column (named `LABEL¶k` for the k-th paragraph of the texts
    of LABEL) the rows that have such a paragraph with its text, and for each column its label and the paragraph's
    first character in the row's text (per row), so that evidence is named and placed as the whole text's, and the
    paragraph after it (per row; none for the last)."""

    texts: dict[str, dict[int, str]]
    parent: dict[str, str]
    start: dict[str, dict[int, int]]
    following: dict[str, dict[int, str]]

    def options(self, column: str, row_count: int) -> list[frozenset[str]]:
        """Per row the options a paragraph of `column` is judged with: its own, else the next paragraph's."""
        found = [frozenset[str]()] * row_count
        following = self.following[column]
        for row, paragraph in self.texts[column].items():
            found[row] = folded_options(enumerate(option_texts(paragraph) or option_texts(following.get(row, ""))))
        return found


def split_paragraphs(texts: Mapping[str, Texts]) -> Paragraphs:
    """The paragraphs (of `MIN_PARAGRAPH_WORDS` words or more) of every text that has at least two."""
    found: dict[str, dict[int, str]] = {}
    parent: dict[str, str] = {}
    start: dict[str, dict[int, int]] = {}
    following: dict[str, dict[int, str]] = {}
    for label, column in texts.items():
        for row, text in column.items() if isinstance(column, Mapping) else enumerate(column):
            if "\n" not in text or _BREAK.search(text) is None:
                continue
            spans = _spans(text)
            if len(spans) < 2:
                continue
            for k, (begin, end) in enumerate(spans):
                paragraph = text[begin:end]
                if len(words(paragraph)) < MIN_PARAGRAPH_WORDS:
                    continue
                name = f"{label}¶{k}"
                if name not in found:
                    found[name], start[name], following[name], parent[name] = {}, {}, {}, label
                found[name][row] = paragraph
                start[name][row] = begin
                if k + 1 < len(spans):
                    following[name][row] = text[slice(*spans[k + 1])]
    return Paragraphs(found, parent, start, following)


def _spans(text: str) -> list[tuple[int, int]]:
    """[start, end) of each paragraph of `text` (its blank-line separated parts, blanks around them left out)."""
    spans = []
    begin = 0
    for gap in [*_BREAK.finditer(text), None]:
        end = gap.start() if gap is not None else len(text)
        stripped = text[begin:end]
        if stripped.strip():
            lead = len(stripped) - len(stripped.lstrip())
            spans.append((begin + lead, begin + len(stripped.rstrip())))
        if gap is not None:
            begin = gap.end()
    return spans
