"""eval.json as a markdown table for a paper (eval.md) and a page that opens offline (eval.html): per benchmark, a
dot-and-interval chart of each group's accuracy (inline SVG, `medrl.reporting.svg`) and the same table.

The page references no URL, font or script; a Content-Security-Policy admits only its own style (by hash). Every
string from the data is escaped.
"""

from __future__ import annotations

import base64
import hashlib
import json
from html import escape
from pathlib import Path

from medrl.errors import MedrlError
from medrl.reporting.runs import Run
from medrl.reporting.svg import dot_intervals

EVAL_SUMMARY = "eval.json"

GROUPS = ("all", "clean", "contaminated", "certain", "review", "unrecorded")
GAPS = ("contaminated", "certain", "review")
COLORS = {
    "all": "#374151",
    "clean": "#16a34a",
    "contaminated": "#dc2626",
    "certain": "#b91c1c",
    "review": "#d97706",
    "unrecorded": "#6b7280",
}
_STYLE = (
    "body{font:14px system-ui,sans-serif;margin:2em;color:#111}table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #d1d5db;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}"
    ".chart text{font-size:12px}.chart .head{font-weight:600}.chart .tick,.chart .value{fill:#4b5563}"
    ".chart .grid{stroke:#e5e7eb}.note{color:#92400e}"
)


def _accuracy(group: dict) -> str:
    if not group["items"]:
        return "-"
    return f"{group['accuracy']:.1%} [{group['low']:.1%}, {group['high']:.1%}]"


def _gap(gaps: dict | str, key: str) -> str:
    if isinstance(gaps, str):
        return gaps
    found = gaps.get(key)
    if not found:
        return "-"
    points = [found[key] * 100 for key in ("gap", "low", "high")]
    return f"{points[0]:+.1f} [{points[1]:+.1f}, {points[2]:+.1f}] (p = {found['p_value']:.3g})"


def _table_rows(summary: dict) -> list[tuple[str, dict]]:
    return [*summary["benchmarks"].items(), ("overall", summary["overall"])]


def _cells(entry: dict) -> list[str]:
    groups = entry["groups"]
    return [
        f"{entry['scored']:,}",
        *(f"{_accuracy(groups[key])} (n={groups[key]['items']:,})" for key in ("all", "clean", "certain", "review")),
        _gap(entry["gaps"], "contaminated"),
    ]


HEADER = [
    "benchmark",
    "items",
    "all",
    "clean",
    "contaminated: certain",
    "contaminated: review only",
    "gap, points (contaminated - clean)",
]


def _notes(summary: dict) -> list[str]:
    stats = summary["statistics"]
    notes = [
        f"Accuracy with {stats['confidence']:.0%} percentile bootstrap intervals ({stats['resamples']:,} resamples of "
        f"items, seed {stats['seed']}); gap in percentage points with its bootstrap interval and two-sided "
        "permutation-test p-value. Contaminated: items the decontamination run found in the training data, by "
        "confidence class."
    ]
    for name, entry in _table_rows(summary):
        for key, group in entry["groups"].items():
            if group.get("warning") and group["items"]:
                notes.append(f"{name}, {key}: {group['warning']}")
    if summary["unmatched"]:
        notes.append(f"{len(summary['unmatched']):,} predictions matched no item (listed in eval.json)")
    return notes


def eval_markdown(summary: dict) -> str:
    """The table, ready to paste into a paper, with its notes."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for name, entry in _table_rows(summary):
        lines.append("| " + " | ".join([name, *_cells(entry)]) + " |")
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {note}" for note in _notes(summary)) + "\n"


def _chart(name: str, entry: dict) -> str:
    rows = [
        (f"{key} (n={group['items']:,})", group["accuracy"], group["low"], group["high"], COLORS[key])
        for key in GROUPS
        if (group := entry["groups"].get(key)) and group["items"]
    ]
    gap = _gap(entry["gaps"], "contaminated")
    return dot_intervals(f"{name}: gap {gap}" if not isinstance(entry["gaps"], str) else f"{name}: {gap}", rows)


def eval_section(summary: dict, heading: str = "h2") -> str:
    """What was evaluated, a chart per benchmark and pooled, the table and its notes: the body of eval.html and the
    section `medrl report RUN --eval EVAL_DIR` adds to the run's report.html (one renderer for both)."""
    source = summary["source"]
    what = source.get("model") or source.get("path", "")
    short = what if "model" in source else Path(what).name  # a predictions file by its name; the path follows
    table = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in [name, *_cells(entry)]) + "</tr>"
        for name, entry in _table_rows(summary)
    )
    charts = "".join(f"<div>{_chart(name, entry)}</div>" for name, entry in _table_rows(summary))
    notes = "".join(f'<li class="note">{escape(note)}</li>' for note in _notes(summary))
    return f"""<{heading}>Did contamination inflate the score? {escape(short)}</{heading}>
<p>{escape(what)} on the items of {escape(summary["input"])} (run {escape(summary["run"])}, preset
{escape(summary["preset"])}).</p>
<div class="charts">{charts}</div>
<table class="eval"><tr>{"".join(f"<th>{escape(cell)}</th>" for cell in HEADER)}</tr>{table}</table>
<ul>{notes}</ul>
"""


def eval_html(summary: dict) -> str:
    """The page of one evaluation: `eval_section` on its own, offline."""
    policy = "default-src 'none'; style-src " + _hash(_STYLE) + "; img-src 'none'; form-action 'none'"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{policy}">
<title>medrl eval: did contamination inflate the score?</title>
<style>{_STYLE}</style></head><body>
{eval_section(summary, "h1")}
</body></html>
"""


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def evaluation_section(run: Run, directory: Path) -> str:
    """The eval.json in `directory` (a `medrl eval --out`) rendered as a section of `run`'s report, checked to be an
    evaluation of `run` (same input, only benchmarks the run checked): a wrong or damaged one is one line, not a
    traceback or another run's chart."""
    path = directory / EVAL_SUMMARY if directory.is_dir() else directory
    fix = f"give --eval the --out of a `medrl eval {run.directory} ...`"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MedrlError(f"{path}: no such file; {fix}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MedrlError(f"{path}: not a readable eval.json ({error}); {fix}") from None
    if not isinstance(summary, dict) or "benchmarks" not in summary:
        raise MedrlError(f"{path}: not an eval.json medrl wrote; {fix}")
    checked = run.benchmark_items or {}
    benchmarks = summary["benchmarks"] if isinstance(summary["benchmarks"], dict) else {}
    if summary.get("input") != run.input_label or not set(benchmarks) <= set(checked):
        raise MedrlError(
            f"{path} evaluates run {summary.get('run')!r} (input {summary.get('input')!r}), not {run.directory}; {fix}"
        )
    try:
        return eval_section(summary)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        why = f"{type(error).__name__}: {error}"
        raise MedrlError(f"{path}: an eval.json this medrl cannot draw ({why}); {fix}") from None
