"""A row's checked texts matched as one text as well as each on its own.

A benchmark question split across two checked fields (half in `question`, half in `context`) is in neither field
whole: each half covers too few of the item's rare n-grams, and a short question matches only whole. Checked as one
text (the row's texts in field order, one line each), the question is whole again. Matches on the joined text are
placed back into the fields: a match's span is cut at the fields' boundaries, so each piece names its field and its
span points into that field's own text (with the evidence of that piece); a match without a span (a rewrite's shared
options and numbers) names every field of the joined text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from medrl.detection.decide import Match

# The joined text's label among a batch's checked texts; matches never keep it (they are placed into the fields).
JOINED = "\x00joined"
# Between two fields' texts: a line break, so n-grams run across it (a question cut mid-sentence is whole again)
# while each field stays a line of its own (the coverage rule's lines) and no paragraph break is made.
SEPARATOR = "\n"
# (label, start, end) of one field's text in a row's joined text.
Part = tuple[str, int, int]


@dataclass(frozen=True)
class JoinedTexts:
    """Per row with two or more non-empty checked texts: their joined text, and where each text lies in it."""

    texts: dict[int, str]
    parts: dict[int, tuple[Part, ...]]

    @classmethod
    def of(cls, texts: Mapping[str, Sequence[str] | Mapping[int, str]], row_count: int) -> JoinedTexts:
        pieces: list[list[tuple[str, str]]] = [[] for _ in range(row_count)]
        for label, column in texts.items():
            for row, text in column.items() if isinstance(column, Mapping) else enumerate(column):
                if text.strip():
                    pieces[row].append((label, text))
        joined, parts = {}, {}
        for row, row_pieces in enumerate(pieces):
            if len(row_pieces) < 2:
                continue
            placed, start = [], 0
            for label, text in row_pieces:
                placed.append((label, start, start + len(text)))
                start += len(text) + len(SEPARATOR)
            joined[row] = SEPARATOR.join(text for _, text in row_pieces)
            parts[row] = tuple(placed)
        return cls(joined, parts)

    def place(self, row: int, match: Match) -> list[Match]:
        """A match on the row's joined text as matches on its fields (see the module's docstring)."""
        parts = self.parts[row]
        if match.row_span is None:
            return [dataclasses.replace(match, field=label) for label, _, _ in parts]
        text, (begin, end) = self.texts[row], match.row_span
        quoted = match.evidence == text[begin:end]  # the evidence is the span's text: each piece quotes its own
        placed = []
        for label, start, stop in parts:
            low, high = max(begin, start), min(end, stop)
            if low < high:
                evidence = text[low:high] if quoted else match.evidence
                placed.append(
                    dataclasses.replace(match, field=label, row_span=(low - start, high - start), evidence=evidence)
                )
        return placed

    def placed(
        self, found: list[list[tuple[int, Match]]], fields: list[dict[str, None]]
    ) -> tuple[list[list[tuple[int, Match]]], list[dict[str, None]]]:
        """Each row's matches and matched labels with the joined text's placed into its fields. A joined match of an
        item that a field matched on its own by the same method adds nothing and is dropped."""
        found, fields = list(found), list(fields)
        for row, matches in enumerate(found):
            if JOINED not in fields[row]:
                continue
            alone = {(item, match.method) for item, match in matches if match.field != JOINED}
            kept: list[tuple[int, Match]] = []
            labels: dict[str, None] = {label: None for label in fields[row] if label != JOINED}
            for item, match in matches:
                if match.field != JOINED:
                    kept.append((item, match))
                    continue
                pieces = self.place(row, match)
                labels.update(dict.fromkeys(piece.field for piece in pieces))
                if (item, match.method) not in alone:
                    kept.extend((item, piece) for piece in pieces)
            found[row], fields[row] = kept, labels
        return found, fields
