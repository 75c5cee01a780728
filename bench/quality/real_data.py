"""Precision and recall of real reuse on the real training files: every row the default preset removes from
`medqa_dev.json` and `huatuogpt_o1_demo.json` is looked up in adjudication.csv (each was read side by side with its
benchmark item), and every adjudicated reuse row is looked up in the removals.

    python bench/quality/real_data.py [--data ../shared/data] [--list]

A removal is correct when its row is adjudicated `reuse` and its evidence names the adjudicated item (or an item with
the same question: MedBullets op4/op5, MedQA 4/5 options). Rows adjudicated `uncertain_excluded` count on neither
side. A removed row that was never read is printed as UNREAD: read it and add it to adjudication.csv. Each file is
run twice, with its options column found by name (the default) and named explicitly, and the counts must agree.
Figures are printed per half of the rows (tune / held-out, by a stable hash of "training/FILE:ROW", the paraphrase
set's halves): rules are chosen looking at the tune half's removals only, so the held-out half's precision is the
figure not used to pick them (from issue 21 on; earlier rules saw every row).
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from pathlib import Path

from common import ADJUDICATION, DEFAULT_DATA, DEFAULT_PACK, row_half

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
    halves = ("tune", "held-out", "all")
    totals = {
        which: {"removed": 0, "correct": 0, "wrong": 0, "uncertain": 0, "unread": 0, "reuse": 0, "found": 0}
        for which in halves
    }
    print(f"preset {DEFAULT_PRESET}; adjudication: {ADJUDICATION.name}")
    columns = ["file", "options", "half", "removed", "reuse removed (right item)", "not reuse removed", "uncertain"]
    columns += ["unread", "reuse rows", "reuse found", "precision", "recall"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    with tempfile.TemporaryDirectory() as out:
        for name in FILES:
            source = args.data / "training" / name
            rows = json.loads(source.read_text(encoding="utf-8"))
            row_of = {json.dumps(row, sort_keys=True): index for index, row in enumerate(rows)}
            reuse = {row for (file, row), line in decisions.items() if file == name and line["decision"] == "reuse"}
            half_of = [row_half(f"training/{name}:{row}") for row in range(len(rows))]
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
                for which in halves if options == "auto" else ("all",):
                    member = {row for row, half in enumerate(half_of) if which in ("all", half)}
                    kept = {
                        verdict: [row for row in found_rows if row in member] for verdict, found_rows in counts.items()
                    }
                    half_reuse = reuse & member
                    found = [row for row in half_reuse if row in kept["correct"]]
                    judged = len(kept["correct"]) + len(kept["wrong"])
                    precision = len(kept["correct"]) / judged if judged else 1.0
                    recall = len(found) / len(half_reuse) if half_reuse else 1.0
                    removed_here = len(member & removed.keys())
                    print(
                        f"| {name} | {options} | {which} | {removed_here} | {len(kept['correct'])} | "
                        f"{len(kept['wrong'])} | {len(kept['uncertain'])} | {len(kept['unread'])} | "
                        f"{len(half_reuse)} | {len(found)} | {precision:.1%} | {recall:.1%} |"
                    )
                    if options == "auto":
                        total = totals[which]
                        total["removed"] += removed_here
                        for verdict in ("correct", "wrong", "uncertain", "unread"):
                            total[verdict] += len(kept[verdict])
                        total["reuse"] += len(half_reuse)
                        total["found"] += len(found)
                for verdict in ("wrong", "unread"):
                    if counts[verdict]:
                        print(f"  {verdict}: rows {counts[verdict]}")
                missed = sorted(row for row in reuse if row not in counts["correct"])
                if options == "auto" and missed:
                    print(f"  reuse not found: rows {missed}")
                counts_seen.append({key: len(value) for key, value in counts.items()})
            if counts_seen[0] != counts_seen[1]:
                print(f"  DIFFERENT counts with and without --options-field: {counts_seen}")
    for which in halves:
        total = totals[which]
        judged = total["correct"] + total["wrong"]
        print(
            f"both files, {which}: {total['removed']} removed, {total['correct']} real reuse with the right item, "
            f"{total['wrong']} not reuse, {total['uncertain']} uncertain, {total['unread']} unread; precision "
            f"{total['correct'] / max(judged, 1):.1%}, recall {total['found']}/{total['reuse']} = "
            f"{total['found'] / max(total['reuse'], 1):.1%}"
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
