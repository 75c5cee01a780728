"""A question split across two checked fields: is it found when each field is checked on its own, and when a row's
fields are also matched joined? And do real rows whose two fields are unrelated stay clean when joined?

    python bench/quality/split_fields.py [--items 200] [--seed 25] [--pack PACK]

Rows have a `question` and a `context` field (both checked) and an `options` column. Positives: benchmark questions
(`--items`, drawn round-robin over every benchmark of the pack, seeded) cut at a random word boundary between 25% and
75% of their words, the first part in `question`, the rest in `context`; once with the item's options in `options`
and once without options; and the issue's case, 40 short MedMCQA questions (at most 12 words) cut in half, without
options. A positive counts as found when the item itself (or one with the same question) is among the row's matches.
Negatives: real training rows with an unrelated second field, as a run with two checked fields sees them:
HuatuoGPT-o1 demo questions with their reasoning (`Complex_CoT`) or their answer (`Response`), MedQA dev questions
with their answer text, and two different training questions (of any of the three files) in the two fields. Rows
adjudicated reuse or uncertain in `adjudication.csv` are left out (they are contaminated on their own). No threshold
was chosen looking at these rows.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import tempfile
import time
from pathlib import Path

from common import ADJUDICATION, DEFAULT_DATA, DEFAULT_PACK, ensure_pack, markdown_table, stem

import medrl
from medrl.benchmarks.loaders import BenchmarkItem
from medrl.benchmarks.pack import load_pack

FIELDS = ("question", "context")
SHORT_WORDS = 12


def split(question: str, chooser: random.Random, low: float = 0.25, high: float = 0.75) -> tuple[str, str]:
    """The question cut at a word boundary between `low` and `high` of its words (at least one word each side)."""
    words = question.split(" ")
    first = max(1, round(len(words) * low))
    last = max(first, min(len(words) - 1, round(len(words) * high)))
    at = chooser.randint(first, last)
    return " ".join(words[:at]), " ".join(words[at:])


def positives(items: list[BenchmarkItem], count: int, chooser: random.Random) -> list[dict]:
    by_benchmark: dict[str, list[BenchmarkItem]] = {}
    for item in items:
        if len(stem(item.question).split()) >= 2:
            by_benchmark.setdefault(item.benchmark, []).append(item)
    names = sorted(by_benchmark)
    drawn = [chooser.sample(by_benchmark[name], count // len(names) + 1) for name in names]
    picked = [drawn[n % len(names)][n // len(names)] for n in range(count)]
    rows = []
    for item in picked:
        question, context = split(stem(item.question), chooser)
        target = {"benchmark": item.benchmark, "item_id": item.item_id}
        options = [f"{letter}. {text}" for letter, text in item.options]
        rows.append({"kind": "split question, options", "question": question, "context": context, "options": options})
        rows[-1]["target"] = target
        rows.append({"kind": "split question, no options", "question": question, "context": context, "options": []})
        rows[-1]["target"] = target
    short = [item for item in by_benchmark["medmcqa"] if len(item.question.split()) <= SHORT_WORDS]
    for item in chooser.sample(short, 40):
        words = item.question.split(" ")
        half = len(words) // 2
        rows.append(
            {
                "kind": "short MedMCQA cut in half (issue 25)",
                "question": " ".join(words[:half]),
                "context": " ".join(words[half:]),
                "options": [],
                "target": {"benchmark": item.benchmark, "item_id": item.item_id},
            }
        )
    return rows


def _excluded() -> set[tuple[str, int]]:
    """Training rows adjudicated reuse or uncertain: contaminated (or maybe) on their own, so no negatives."""
    with ADJUDICATION.open(encoding="utf-8") as handle:
        return {
            (line["training_file"], int(line["row"]))
            for line in csv.DictReader(handle)
            if line["decision"] in ("reuse", "uncertain_excluded")
        }


def _options(value: object) -> list[str]:
    """A training row's options as "A. text" strings (HuatuoGPT-o1 keeps a dict)."""
    if isinstance(value, dict):
        return [f"{letter}. {text}" for letter, text in value.items()]
    return list(value) if isinstance(value, list) else []


def negatives(data: Path, chooser: random.Random, count: int) -> list[dict]:
    training = data / "training"
    excluded = _excluded()
    huatuo = json.loads((training / "huatuogpt_o1_demo.json").read_text(encoding="utf-8"))
    medqa = json.loads((training / "medqa_dev.json").read_text(encoding="utf-8"))
    lines = (training / "pubmedqa_trainpool.jsonl").read_text(encoding="utf-8").split("\n")
    pubmedqa = [json.loads(line) for line in lines if line.strip()]
    clean = {
        name: [(row, value) for row, value in enumerate(rows) if (name, row) not in excluded]
        for name, rows in (("huatuogpt_o1_demo.json", huatuo), ("medqa_dev.json", medqa), ("pubmedqa", pubmedqa))
    }
    rows = []
    for second in ("Complex_CoT", "Response"):
        for _, row in clean["huatuogpt_o1_demo.json"]:
            kind = f"HuatuoGPT-o1 question + {second}"
            rows.append({"kind": kind, "question": row["question"], "context": row[second]})
            rows[-1]["options"] = _options(row["options"])
    for _, row in chooser.sample(clean["medqa_dev.json"], count):
        answer = {"kind": "MedQA dev question + its answer", "question": row["question"], "context": row["answer"]}
        rows.append(answer | {"options": _options(row["options"])})
    questions = [row for rows_of in clean.values() for _, row in rows_of]
    for _ in range(count):
        first, other = chooser.sample(questions, 2)
        pair = {"kind": "two unrelated training questions", "question": first["question"]}
        rows.append(pair | {"context": other["question"], "options": _options(first["options"])})
    return rows


def flagged_items(out: Path) -> dict[int, list[dict]]:
    found = {}
    for line in (out / "removed.jsonl").read_text(encoding="utf-8").splitlines():
        matches = json.loads(line)["contamination"]
        found[matches[0]["input_row"]] = matches
    return found


def misplaced(rows: list[dict], found: dict[int, list[dict]]) -> int:
    """Matches whose span does not quote the named field's own text (there must be none)."""
    bad = 0
    for position, matches in found.items():
        for match in matches:
            span = match["row_span"]
            if span is not None and rows[position][match["field"]][span[0] : span[1]] != match["evidence"]:
                bad += 1
    return bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--pack", type=Path, default=DEFAULT_PACK)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--seed", type=int, default=25)
    args = parser.parse_args()
    chooser = random.Random(args.seed)
    pack = load_pack(ensure_pack(args.data, args.pack))
    same_question = {}  # (benchmark, item_id) -> the question, so an item with the same question counts as a hit
    for item in pack.items:
        same_question[(item.benchmark, item.item_id)] = item.question
    rows = positives(list(pack.items), args.items, chooser) + negatives(args.data, chooser, args.items)
    kinds = list(dict.fromkeys(row["kind"] for row in rows))
    results: dict[str, dict[int, list[dict]]] = {}
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "split.jsonl"
        written = [{key: row[key] for key in ("question", "context", "options")} for row in rows]
        source.write_text("".join(json.dumps(row) + "\n" for row in written), encoding="utf-8")
        megabytes = source.stat().st_size / 1e6
        for mode, join in (("fields separate", False), ("fields joined", True)):
            config = medrl.preset("medrl").replace(fields=FIELDS, join_fields=join)
            medrl.decontaminate(source, args.pack, Path(scratch) / "warm", config=config)  # index cached
            started = time.perf_counter()
            medrl.decontaminate(source, args.pack, Path(scratch) / mode, config=config)
            seconds[mode] = time.perf_counter() - started
            results[mode] = flagged_items(Path(scratch) / mode)
            if join:
                print(f"joined matches whose span does not quote its field: {misplaced(written, results[mode])}")
    lines = []
    for kind in kinds:
        members = [position for position, row in enumerate(rows) if row["kind"] == kind]
        positive = rows[members[0]].get("target") is not None
        cells = []
        for found in results.values():
            if positive:
                hits = 0
                for position in members:
                    target = rows[position]["target"]
                    question = same_question[(target["benchmark"], target["item_id"])]
                    named = {same_question[(m["benchmark"], m["item_id"])] for m in found.get(position, [])}
                    hits += question in named
            else:
                hits = sum(1 for position in members if position in found)
            cells.append(f"{hits / len(members):.1%} ({hits})")
        lines.append([kind, "recall" if positive else "FPR", str(len(members)), *cells])
    lines.append(["seconds (s per MB)", "", "", *(f"{s:.1f} ({s / megabytes:.2f})" for s in seconds.values())])
    print(f"{len(rows)} rows, seed {args.seed}")
    print(markdown_table(["kind", "label", "n", *results], lines))


if __name__ == "__main__":
    main()
