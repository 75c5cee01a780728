"""`medrl compare`: which rows one run removed and the other did not, with each side's reason, counted per
benchmark and method. Runs are compared row by row by input position, so both must have read the same input
(their recorded sha256 must agree); e.g. the `ii-medical-rl` preset against the default on the same file."""

from __future__ import annotations

import json
from collections import Counter

from medrl.errors import MedrlError
from medrl.reporting.runs import Run

# Where a build puts rows it did not keep for other reasons than contamination (their `row_id` is the position);
# the pass-rate side files exist only when the build ran the filter.
_BUILD_OUTCOMES = {
    "rejected": "rejected.jsonl",
    "duplicate": "duplicates.jsonl",
    "too_easy": "too_easy.jsonl",
    "too_hard": "too_hard.jsonl",
}


def _reason(match: dict) -> dict:
    """A match as a reason: which item, by which method, how strongly, the evidence and the confidence class."""
    keys = ("benchmark", "split", "item_id", "method", "score", "confidence", "evidence", "item_question")
    return {key: match.get(key) for key in keys}


def _removed(run: Run) -> dict[int, tuple[str, list[dict]]]:
    """Input position -> (the row's checked text, its matches)."""
    found = {}
    for row in run.removed_rows():
        if row.position is None:
            raise MedrlError(
                f"{run.directory}: the removed rows carry no input position (written by an older medrl); re-run the "
                "job to compare it"
            )
        text = next(iter(row.texts.values()), "")
        found[row.position] = (text, row.matches)
    return found


def _other_outcomes(run: Run) -> dict[int, str]:
    """A build's rows that left for another reason than contamination: position -> rejected / duplicate / too_easy /
    too_hard."""
    if run.kind != "build":
        return {}
    found = {}
    for outcome, name in _BUILD_OUTCOMES.items():
        path = run.directory / name
        if path.is_file():
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    if line.strip():
                        found[json.loads(line)["row_id"]] = outcome
    return found


def _side(run: Run) -> dict:
    return {"directory": str(run.directory), "kind": run.kind, "preset": run.preset, "removed": run.counts()["removed"]}


def _counts(rows: list[dict], side: str) -> dict[str, dict[str, int]]:
    by_benchmark: Counter = Counter()
    by_method: Counter = Counter()
    for row in rows:
        reasons = row[side]["matches"]
        by_benchmark.update({reason["benchmark"] for reason in reasons})
        by_method.update({reason["method"] for reason in reasons})
    return {"by_benchmark": dict(sorted(by_benchmark.items())), "by_method": dict(sorted(by_method.items()))}


def compare_runs(a: Run, b: Run) -> dict:
    """Rows removed only by A, only by B (each with both sides' reasons) and by both, counted per benchmark and
    method. The side that kept a row says `kept` (or, for a build, `rejected` / `duplicate`)."""
    if a.input_sha256 != b.input_sha256:
        raise MedrlError(
            f"{a.directory} and {b.directory} read different inputs ({a.input_label} vs {b.input_label}, sha256 "
            "differs); compare runs of the same file"
        )
    removed = {"a": _removed(a), "b": _removed(b)}
    others = {"a": _other_outcomes(a), "b": _other_outcomes(b)}

    def reason(side: str, position: int) -> dict:
        if position in removed[side]:
            return {"outcome": "removed", "matches": [_reason(match) for match in removed[side][position][1]]}
        return {"outcome": others[side].get(position, "kept"), "matches": []}

    result: dict = {"a": _side(a), "b": _side(b)}
    for only, other in (("a", "b"), ("b", "a")):
        positions = sorted(set(removed[only]) - set(removed[other]))
        rows = [
            {"input_row": position, "text": removed[only][position][0]}
            | {"a": reason("a", position), "b": reason("b", position)}
            for position in positions
        ]
        result[f"only_{only}"] = {"rows": len(rows), **_counts(rows, only), "removed": rows}
    both = sorted(set(removed["a"]) & set(removed["b"]))
    result["both"] = {"rows": len(both)}
    return result
