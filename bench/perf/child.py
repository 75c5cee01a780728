"""One measured run, in its own process so run.py can take its peak RSS. Writes a JSON result file.

child.py medrl --preset NAME --workload W.jsonl --pack DIR --out DIR [--field F ...] --result R.json
child.py reference --method a|ab|ac --workload W.jsonl --rows N --reference-sample N --result R.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from common import iter_jsonl, read_questions, sample_order, sample_sizes


def run_medrl(args: argparse.Namespace) -> dict:
    import medrl
    from medrl.config import preset
    from medrl.pipeline import decontaminate

    sys.path.append(str(Path(__file__).resolve().parents[1]))  # bench/embedding_model.py
    from embedding_model import default_embedding_model, with_embedding_model

    config = with_embedding_model(preset(args.preset), default_embedding_model())
    if args.field:
        config = config.replace(fields=tuple(args.field))
    started = time.perf_counter()
    report = decontaminate(args.workload, args.pack, args.out, args.preset, config=config)
    wall = time.perf_counter() - started
    return {
        "kind": "medrl",
        "preset": args.preset,
        "wall_seconds": wall,
        "seconds": dict(report.seconds),
        "input_rows": report.input_rows,
        "removed_rows": report.removed_rows,
        "by_method": dict(report.by_method),
        "outputs": dict(report.outputs),
        "config": report.config,
        "medrl_file": medrl.__file__,
        "medrl_version": getattr(medrl, "__version__", "?"),
    }


def run_reference(args: argparse.Namespace) -> dict:
    import references

    sizes = sample_sizes(args.rows, args.reference_sample)
    order = sample_order(args.rows)[: sizes["a"]]
    position = {int(row): rank for rank, row in enumerate(order)}
    texts: list[str] = [""] * len(order)
    ids: list[str] = [""] * len(order)
    seconds: dict[str, float] = {}

    # read: parse every row of the file (as a real run must), keep the sampled rows' texts
    started = time.perf_counter()
    count = 0
    for row_number, row in enumerate(iter_jsonl(Path(args.workload))):
        rank = position.get(row_number)
        if rank is not None:
            texts[rank], ids[rank] = row["question"] or "", row["id"]
        count += 1
    seconds["read"] = time.perf_counter() - started
    if count != args.rows:
        raise SystemExit(f"{args.workload}: {count} rows, expected {args.rows}")

    # index: the benchmark questions and open-r1's n-gram lookup over them
    started = time.perf_counter()
    questions = read_questions()
    lookup = references.build_ngram_lookup(questions, ngram_size=references.NGRAM_SIZE)
    seconds["index"] = time.perf_counter() - started

    started = time.perf_counter()
    ngram_flags = references.openr1_contaminated(texts, lookup)
    seconds["ngram"] = time.perf_counter() - started
    basis = {"ngram": len(texts)}

    flags = ngram_flags
    if args.method in ("ab", "ac"):
        sample = sizes["b"] if args.method == "ab" else sizes["c"]
        kept = [rank for rank in range(sample) if not ngram_flags[rank]]
        started = time.perf_counter()
        if args.method == "ab":
            fuzzy = references.openthoughts_contaminated([texts[r] for r in kept], questions, args.processes)
        else:
            fuzzy = references.cdist_contaminated([texts[r] for r in kept], questions)
        seconds["fuzzy"] = time.perf_counter() - started
        basis["fuzzy"] = sample
        flags = list(ngram_flags[:sample])
        for rank, flagged in zip(kept, fuzzy, strict=True):
            flags[rank] = flags[rank] or flagged
    decided = len(flags)
    return {
        "kind": "reference",
        "method": args.method,
        "seconds": seconds,
        "basis": basis,
        "decided_ids": ids[:decided],
        "flagged_ids": [ids[r] for r in range(decided) if flags[r]],
        "questions": len(questions),
        "processes": args.processes,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    medrl_parser = sub.add_parser("medrl")
    medrl_parser.add_argument("--preset", required=True)
    medrl_parser.add_argument("--workload", required=True)
    medrl_parser.add_argument("--pack", required=True)
    medrl_parser.add_argument("--out", required=True)
    medrl_parser.add_argument("--field", action="append", help="checked field (repeatable); default: the preset's")
    medrl_parser.add_argument("--result", required=True)
    ref_parser = sub.add_parser("reference")
    ref_parser.add_argument("--method", choices=("a", "ab", "ac"), required=True)
    ref_parser.add_argument("--workload", required=True)
    ref_parser.add_argument("--rows", type=int, required=True)
    ref_parser.add_argument("--reference-sample", type=int, required=True)
    ref_parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    ref_parser.add_argument("--result", required=True)
    args = parser.parse_args()
    result = run_medrl(args) if args.mode == "medrl" else run_reference(args)
    Path(args.result).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
