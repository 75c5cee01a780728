"""What each preset removes from workload S, per kind of row the workload generator made (see workloads.py).

    python bench/perf/by_kind.py [--preset NAME ...] [--rows N]

bench_copy and bench_mixed rows carry benchmark text (should be removed); short, train_edit and recombined rows are
training text (removing them is wrong, except where the training text itself reuses a benchmark case: MedQA dev and
HuatuoGPT-o1 rows that MedXpertQA rewrote, see bench/quality/paraphrase). Run after run.py has built the pack and
the workload (bench/perf/.cache).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

from common import CACHE, PACK_DIR, QUESTIONS_FILE, iter_jsonl
from workloads import CHUNK, KINDS, Generator, load_training_questions, workload_path

sys.path.append(str(Path(__file__).resolve().parents[1]))  # bench/embedding_model.py
from embedding_model import default_embedding_model, with_embedding_model


def generated(rows: int) -> tuple[list[str], list[str]]:
    """The workload's rows regenerated: (kind, text) per row, in order."""
    generator = Generator(json.loads(QUESTIONS_FILE.read_text()), load_training_questions())
    kinds: list[str] = []
    texts: list[str] = []
    for chunk in range((rows + CHUNK - 1) // CHUNK):
        chunk_kinds, chunk_texts = generator.chunk(chunk)
        kinds += chunk_kinds
        texts += chunk_texts
    return kinds[:rows], texts[:rows]


def removed_ids(name: str, workload: Path) -> set[int]:
    from medrl.config import preset
    from medrl.pipeline import decontaminate

    config = with_embedding_model(preset(name), default_embedding_model())
    with tempfile.TemporaryDirectory(dir=CACHE) as out:
        report = decontaminate(workload, PACK_DIR, Path(out) / "run", name, config=config)
        return {int(row["id"][1:]) for row in iter_jsonl(Path(report.outputs["removed"]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", action="append", help="repeatable; default: medrl, medrl-semantic")
    parser.add_argument("--rows", type=int, default=32_000)
    args = parser.parse_args()
    workload = workload_path(args.rows)
    if not workload.exists() or not PACK_DIR.exists():
        sys.exit(f"run `python bench/perf/run.py --workloads {args.rows}` first (it builds {workload} and the pack)")
    kinds, texts = generated(args.rows)
    if texts != [row["question"] for row in iter_jsonl(workload)]:
        sys.exit(f"{workload} is not the generator's stream any more: rebuild it with run.py")
    totals = Counter(kinds)
    presets = args.preset or ["medrl", "medrl-semantic"]
    removed = {name: Counter(kinds[i] for i in removed_ids(name, workload)) for name in presets}
    print(f"workload of {args.rows:,} rows: share of each kind removed")
    print("| kind | rows | " + " | ".join(presets) + " |")
    print("|---|---|" + "---|" * len(presets))
    for kind in KINDS:
        shares = " | ".join(f"{removed[name][kind] / totals[kind]:.1%} ({removed[name][kind]:,})" for name in presets)
        print(f"| {kind} | {totals[kind]:,} | {shares} |")


if __name__ == "__main__":
    main()
