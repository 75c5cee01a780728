"""`medrl review`: the report's side-by-side evidence in the terminal (rich), filtered and limited.

Highlights as in the HTML report: the match's recorded evidence span in yellow, word 3-grams both texts share in
blue, and the item's options the row repeats.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from medrl.reporting.runs import RemovedRow, Run

_WORD = re.compile(r"\w+")
EVIDENCE_STYLE, SHARED_STYLE = "black on yellow", "black on light_sky_blue1"


def _trigrams(text: str) -> tuple[list[re.Match], set[tuple[str, ...]]]:
    words = list(_WORD.finditer(text))
    folded = [word.group().lower() for word in words]
    return words, {tuple(folded[i : i + 3]) for i in range(len(folded) - 2)}


def highlighted(text: str, other: str, span: list[int] | None) -> Text:
    """`text` with the word 3-grams it shares with `other` and the evidence `span` ([start, end)) styled."""
    shown = Text(text)
    words, _ = _trigrams(text)
    _, theirs = _trigrams(other)
    runs: list[list[int]] = []  # overlapping shared 3-grams merged into runs
    for i in range(len(words) - 2):
        if tuple(word.group().lower() for word in words[i : i + 3]) in theirs:
            if runs and runs[-1][1] >= words[i].start():
                runs[-1][1] = words[i + 2].end()
            else:
                runs.append([words[i].start(), words[i + 2].end()])
    for start, end in runs:
        shown.stylize(SHARED_STYLE, start, end)
    if span:
        shown.stylize(EVIDENCE_STYLE, max(span[0], 0), min(span[1], len(text)))
    return shown


def fits(match: dict, benchmark: str | None, method: str | None) -> bool:
    return (benchmark is None or match["benchmark"] == benchmark) and (method is None or match["method"] == method)


def selected(run: Run, benchmark: str | None, method: str | None) -> Iterator[tuple[RemovedRow, list[dict]]]:
    """Removed rows with at least one match of the benchmark and method asked for, with those matches."""
    for row in run.removed_rows():
        matches = [match for match in row.matches if fits(match, benchmark, method)]
        if matches:
            yield row, matches


def match_label(match: dict) -> str:
    """`medqa test #12 · coverage 87.5 · certain` (the confidence class when the run recorded one)."""
    label = f"{match['benchmark']} {match['split']} #{match['item_id']} · {match['method']} {match['score']:g}"
    return label + (f" · {match['confidence']}" if match.get("confidence") else "")


def evidence_panel(row: RemovedRow, match: dict) -> Panel:
    """The removed row beside the matched item (question and options)."""
    row_text = row.text(match["field"])
    question = match.get("item_question")
    table = Table.grid(expand=True, padding=(0, 2))
    table.add_column(ratio=1)
    table.add_column(ratio=1)
    if question is None:
        item_side: Text | Group = Text("(the item's text is not in these outputs: written by an older medrl)", "dim")
    else:
        options = Text()
        for option in match.get("item_options") or []:
            shared = option["text"] and option["text"].lower() in row_text.lower()
            options.append(f"\n{option['letter']}. ", "bold")
            options.append(option["text"], SHARED_STYLE if shared else "")
        item_side = Group(highlighted(question, row_text, match.get("item_span")), options)
    table.add_row(Text(f"training row, field {match['field']}", "dim"), Text("benchmark item", "dim"))
    table.add_row(highlighted(row_text, question or "", match.get("row_span")), item_side)
    position = "position not recorded" if row.position is None else f"input row {row.position}"
    evidence = Text(f"evidence: {match['evidence']}", "dim")
    return Panel(Group(table, evidence), title=Text(f"{position} · {match_label(match)}"), title_align="left")


def review(run: Run, console: Console, benchmark: str | None, method: str | None, limit: int) -> tuple[int, int]:
    """Print up to `limit` removed rows (each matching match as a panel); (rows shown, rows that fit)."""
    shown = total = 0
    for row, matches in selected(run, benchmark, method):
        total += 1
        if shown < limit:
            for match in matches:
                console.print(evidence_panel(row, match))
            shown += 1
    return shown, total
