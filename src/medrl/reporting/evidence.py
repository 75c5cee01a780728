"""Evidence a person can read without the pack.

Each match written with a removed row carries the row's 0-based input position (`input_row`) and names its item by
(benchmark, split, item_id); the output set holds each named item's question and options once, in
`matched_items.jsonl`, which the report, `review` and `compare` resolve. Once, not per match: the seed method's
stock-phrase matches name up to ten long USMLE items per row, and repeating their text in every match made
`removed.jsonl` ten times larger on the demo data.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from medrl.benchmarks.loaders import BenchmarkItem
from medrl.detection.decide import Match
from medrl.io.writers import dumps, write_text_atomic

MATCHED_ITEMS = "matched_items.jsonl"
ItemKey = tuple[str, str, str]  # (benchmark, split, item_id)


def item_key(match: dict) -> ItemKey:
    return (match["benchmark"], match["split"], match["item_id"])


class MatchedItems:
    """The evidence of removed rows, collecting the items it names for `matched_items.jsonl`."""

    def __init__(self, items: Sequence[BenchmarkItem]) -> None:
        self.order = {(item.benchmark, item.split, item.item_id): index for index, item in enumerate(items)}
        self.items = items
        self.named: set[int] = set()

    def evidence(self, matches: Sequence[Match], input_row: int) -> list[dict]:
        """The evidence column of one removed row: each match's fields and the row's input position."""
        found = []
        for match in matches:
            self.named.add(self.order[(match.benchmark, match.split, match.item_id)])
            found.append(match.to_dict() | {"input_row": input_row})
        return found

    def write(self, path: Path) -> None:
        """Every named item (question and options, no answer), in pack order, one JSON object per line."""
        rows = []
        for index in sorted(self.named):
            item = self.items[index]
            options = [{"letter": letter, "text": text} for letter, text in item.options]
            row = {"benchmark": item.benchmark, "split": item.split, "item_id": item.item_id}
            rows.append(dumps(row | {"question": item.question, "options": options}) + "\n")
        write_text_atomic(path, "".join(rows))
