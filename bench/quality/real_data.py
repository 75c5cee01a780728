"""Precision and recall of real reuse on the real training files: every row the default preset removes from
`medqa_dev.json` and `huatuogpt_o1_demo.json` is looked up in adjudication.csv (each was read side by side with its
benchmark item), and every adjudicated reuse row is looked up in the removals.

    python bench/quality/real_data.py [--data ../shared/data] [--list]

A removal is correct when its row is adjudicated `reuse` and its evidence names the adjudicated item (or an item with
the same question: MedBullets op4/op5, MedQA 4/5 options). Rows adjudicated `uncertain_excluded` count on neither
side. A removed row that was never read is printed as UNREAD: read it and add it to adjudication.csv. Each file is
run twice, with its options column found by name (the default) and named explicitly, and the counts must agree.
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from pathlib import Path

from common import ADJUDICATION, DEFAULT_DATA, DEFAULT_PACK

from medrl.benchmarks.pack import import_benchmarks, load_pack
from medrl.config import DEFAULT_PRESET, preset
from medrl.pipeline import decontaminate

FILES = ("medqa_dev.json", "huatuogpt_o1_demo.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--list", action="store_true", help="list every removal with its adjudication")
    args = parser.parse_args()
    if not (DEFAULT_PACK / "manifest.json").exists():
        import_benchmarks(args.data / "benchmarks", DEFAULT_PACK)
    questions = {(item.benchmark, item.item_id): item.question for item in load_pack(DEFAULT_PACK).items}
    decisions = {
        (line["training_file"], int(line["row"])): line for line in csv.DictReader(ADJUDICATION.open(encoding="utf-8"))
    }
    totals = {"removed": 0, "correct": 0, "wrong": 0, "uncertain": 0, "unread": 0, "reuse": 0, "found": 0}
    print(f"preset {DEFAULT_PRESET}; adjudication: {ADJUDICATION.name}")
    columns = ["file", "options", "removed", "reuse removed (right item)", "not reuse removed", "uncertain"]
    columns += ["unread", "reuse rows", "reuse found", "precision", "recall"]
    print("| " + " | ".join(columns) + " |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as out:
        for name in FILES:
            source = args.data / "training" / name
            rows = json.loads(source.read_text(encoding="utf-8"))
            row_of = {json.dumps(row, sort_keys=True): index for index, row in enumerate(rows)}
            reuse = {row for (file, row), line in decisions.items() if file == name and line["decision"] == "reuse"}
            counts_seen = []
            for options in ("auto", "options"):
                target = Path(out) / f"{name}-{options}"
                config = preset(DEFAULT_PRESET).replace(options_field=options, max_matches_per_row=0)
                decontaminate(source, DEFAULT_PACK, target, config=config)
                removed = {}
                for row in json.loads((target / "removed.json").read_text(encoding="utf-8")):
                    evidence = row.pop("contamination")
                    removed[row_of[json.dumps(row, sort_keys=True)]] = evidence
                counts = {"correct": [], "wrong": [], "uncertain": [], "unread": []}
                for row, evidence in sorted(removed.items()):
                    line = decisions.get((name, row))
                    if line is None:
                        verdict = "unread"
                    elif line["decision"] == "uncertain_excluded":
                        verdict = "uncertain"
                    elif line["decision"] == "reuse" and _names(evidence, line, questions):
                        verdict = "correct"
                    else:
                        verdict = "wrong"
                    counts[verdict].append(row)
                    if args.list and options == "auto":
                        first = evidence[0]
                        print(
                            f"  {name} row {row}: {verdict} ({first['method']} {first['benchmark']} {first['item_id']})"
                        )
                found = [row for row in reuse if row in counts["correct"]]
                judged = len(counts["correct"]) + len(counts["wrong"])
                precision = len(counts["correct"]) / judged if judged else 1.0
                recall = len(found) / len(reuse) if reuse else 1.0
                print(
                    f"| {name} | {options} | {len(removed)} | {len(counts['correct'])} | {len(counts['wrong'])} | "
                    f"{len(counts['uncertain'])} | {len(counts['unread'])} | {len(reuse)} | {len(found)} | "
                    f"{precision:.1%} | {recall:.1%} |"
                )
                for verdict in ("wrong", "unread"):
                    if counts[verdict]:
                        print(f"  {verdict}: rows {counts[verdict]}")
                if options == "auto":
                    missed = sorted(reuse - set(found))
                    if missed:
                        print(f"  reuse not found: rows {missed}")
                    totals["removed"] += len(removed)
                    totals["correct"] += len(counts["correct"])
                    totals["wrong"] += len(counts["wrong"])
                    totals["uncertain"] += len(counts["uncertain"])
                    totals["unread"] += len(counts["unread"])
                    totals["reuse"] += len(reuse)
                    totals["found"] += len(found)
                counts_seen.append({key: len(value) for key, value in counts.items()})
            if counts_seen[0] != counts_seen[1]:
                print(f"  DIFFERENT counts with and without --options-field: {counts_seen}")
    judged = totals["correct"] + totals["wrong"]
    print(
        f"both files: {totals['removed']} removed, {totals['correct']} real reuse with the right item, "
        f"{totals['wrong']} not reuse, {totals['uncertain']} uncertain, {totals['unread']} unread; "
        f"precision {totals['correct'] / max(judged, 1):.1%}, recall {totals['found']}/{totals['reuse']} = "
        f"{totals['found'] / max(totals['reuse'], 1):.1%}"
    )


def _names(evidence: list[dict], line: dict, questions: dict) -> bool:
    """The evidence names the adjudicated item, or an item with the same question text."""
    target = questions.get((line["benchmark"], line["item_id"]))
    return any(
        (match["benchmark"], match["item_id"]) == (line["benchmark"], line["item_id"])
        or questions.get((match["benchmark"], match["item_id"])) == target
        for match in evidence
    )


if __name__ == "__main__":
    main()
