"""Throughput of `medrl decontaminate` on workload S as published in other shapes: the same 32,000 rows flat, as chat
messages, and as chats whose assistant turn holds a real reasoning trace, timed in one run.

    python bench/perf/shapes_speed.py [--rows 32000] [--preset medrl] [--repeat 3] [--markdown OUT.md]

Shapes (the checked field in brackets):
- flat: the workload's rows as they are [question].
- chat: system prompt, the row's text as the user turn, an assistant turn "The answer is \\boxed{X}." [messages].
- chat + reasoning: the same with the assistant turn a HuatuoGPT-o1 `Complex_CoT` trace (real text, 2-3 KB, several
  paragraphs) [messages]: every message and every paragraph of the traces is checked.

Each run is a child process (its peak RSS taken as bench/perf/run.py takes it); the shapes run in turn, `--repeat`
times, and the median is reported with its ratio to the flat run of the same round (the machine is shared and noisy:
quote ratios, not seconds). The pack and its index are built once and cached as run.py caches them.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from pathlib import Path

from common import CACHE, PACK_DIR, QUESTIONS_FILE, TRAINING_DIR, fmt_rows, iter_jsonl
from run import build_pack, render, run_child, warm_index_cache
from workloads import ensure_workload, load_training_questions

SYSTEM = "You are a medical expert. Think step by step, then give the letter of the answer in \\boxed{}."


def traces() -> list[str]:
    rows = json.loads((TRAINING_DIR / "huatuogpt_o1_demo.json").read_text(encoding="utf-8"))
    return [row["Complex_CoT"] for row in rows if row.get("Complex_CoT")]


def write_shapes(workload: Path, rows: int) -> dict[str, tuple[Path, str]]:
    """The workload in each shape (path, checked field), written once next to it."""
    chooser = random.Random(0)
    reasoning = traces()
    shapes = {
        "flat": (workload, "question"),
        "chat": (CACHE / f"shape-chat-{fmt_rows(rows)}.jsonl", "messages"),
        "chat + reasoning": (CACHE / f"shape-reasoning-{fmt_rows(rows)}.jsonl", "messages"),
    }
    if all(path.exists() and path.stat().st_mtime >= workload.stat().st_mtime for path, _ in shapes.values()):
        return shapes  # written from this workload (a regenerated workload is newer)
    with (
        shapes["chat"][0].open("w", encoding="utf-8") as chat,
        shapes["chat + reasoning"][0].open("w", encoding="utf-8") as long,
    ):
        for row in iter_jsonl(workload):
            answer = f"The answer is \\boxed{{{chooser.choice('ABCD')}}}."
            turns = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": row["question"]}]
            chat.write(json.dumps({"id": row["id"], "messages": [*turns, {"role": "assistant", "content": answer}]}))
            chat.write("\n")
            trace = f"{chooser.choice(reasoning)}\n\n{answer}"
            long.write(json.dumps({"id": row["id"], "messages": [*turns, {"role": "assistant", "content": trace}]}))
            long.write("\n")
    return shapes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=32_000)
    parser.add_argument("--preset", default="medrl")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--markdown", type=Path, help="also write the table as markdown to this file")
    args = parser.parse_args()
    (CACHE / "logs").mkdir(parents=True, exist_ok=True)
    questions = json.loads(QUESTIONS_FILE.read_text()) if PACK_DIR.exists() and QUESTIONS_FILE.exists() else None
    if questions is None:
        questions = build_pack()
    print(warm_index_cache([args.preset]), flush=True)
    workload = ensure_workload(args.rows, questions, load_training_questions())
    shapes = write_shapes(Path(workload["path"]), args.rows)
    runs: dict[str, list[dict]] = {name: [] for name in shapes}
    for round_number in range(args.repeat):
        for name, (path, field) in shapes.items():
            out = CACHE / "runs" / f"shape-{round_number}"
            command = ["medrl", "--preset", args.preset, "--workload", str(path), "--pack", str(PACK_DIR)]
            result = run_child([*command, "--out", str(out), "--field", field], CACHE / "logs" / "shape.log")
            runs[name].append(result)
            print(f"round {round_number + 1}: {name} {result['process_wall_seconds']:.1f} s", flush=True)
    flat = [run["process_wall_seconds"] for run in runs["flat"]]
    table = []
    for name, (path, field) in shapes.items():
        seconds = [run["process_wall_seconds"] for run in runs[name]]
        ratios = [mine / base for mine, base in zip(seconds, flat, strict=True)]
        removed = {run["removed_rows"] for run in runs[name]}
        megabytes = path.stat().st_size / 2**20
        table.append(
            [
                name,
                field,
                f"{megabytes:.0f}",
                f"{statistics.median(seconds):.1f}",
                f"{statistics.median(ratios):.2f}x",
                f"{args.rows / statistics.median(seconds):,.0f}",
                f"{max(run['memory']['peak_mb'] for run in runs[name]):,.0f}",
                ", ".join(f"{count:,}" for count in sorted(removed)),
            ]
        )
    headers = ["shape", "field", "MB", "median s", "vs flat", "rows/s", "peak MB", "removed"]
    title = f"{args.preset} on workload {fmt_rows(args.rows)} ({args.rows:,} rows), median of {args.repeat} rounds"
    print(f"\n{title}\n{render(headers, table, False)}")
    if args.markdown:
        args.markdown.write_text(f"{title}\n\n{render(headers, table, True)}\n", encoding="utf-8")


if __name__ == "__main__":
    main()
