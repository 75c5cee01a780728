"""Rebuild the example data in this directory from the real shared files (deterministic; run from the repo root).

    python examples/make_examples.py ../shared/data

Benchmarks: the first rows of each benchmark whose licence allows redistribution (licences in licenses/).
Training: MedQA (USMLE) dev rows plus a few benchmark questions planted on purpose, verbatim or lightly edited,
so the demo shows both detection stages at work. Planted rows say so in their `source` column.
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARK_ROWS = 200
TRAINING_ROWS = 150
# Benchmarks shipped as samples, with the licence file that covers each.
SAMPLED = {
    "medqa": ("test.jsonl", "MedQA.LICENSE"),
    "medqa_5options": ("test.jsonl", "MedQA.LICENSE"),
    "medmcqa": ("validation.jsonl", "MedMCQA.LICENSE.md"),
    "mmlu_medical": ("test.jsonl", "MMLU.LICENSE"),
    "mmlu_pro_health": ("test.jsonl", "MMLU-Pro.LICENSE"),
    "medxpertqa": ("test.jsonl", "MedXpertQA.LICENSE"),
}
EXTRA_LICENSES = ("PubMedQA.LICENSE", "medagents-benchmark.LICENSE", "aistairc-medLLM_QA_benchmark.LICENSE")


def jsonl_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_bytes().split(b"\n") if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def chat_row(row: dict) -> dict:
    """A training row as a chat, as SFT/RL sets on the hub hold them: system, user (question and options), the
    assistant's answer; the source kept in a nested `meta` object (`--field meta.source`)."""
    prompt = row["question"] + "\n" + "\n".join(row["options"])
    return {
        "messages": [
            {"role": "system", "content": "You are a medical expert. Answer with the letter of the best option."},
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": f"The answer is {row['answer']}."},
        ],
        "meta": {"source": row["source"]},
    }


def main(shared: Path) -> None:
    benchmarks, out = shared / "benchmarks", HERE / "benchmarks"
    shutil.rmtree(out, ignore_errors=True)
    for name, (file, _) in SAMPLED.items():
        write_jsonl(out / name / file, jsonl_rows(benchmarks / name / file)[:BENCHMARK_ROWS])
    labelled = json.loads((benchmarks / "pubmedqa" / "ori_pqal.json").read_text(encoding="utf-8"))
    test_ids = list(json.loads((benchmarks / "pubmedqa" / "test_ground_truth.json").read_text(encoding="utf-8")))
    test_ids = test_ids[: BENCHMARK_ROWS // 2]
    (out / "pubmedqa").mkdir(parents=True)
    (out / "pubmedqa" / "ori_pqal.json").write_text(
        json.dumps({pmid: labelled[pmid] for pmid in test_ids}, indent=1, ensure_ascii=False), encoding="utf-8"
    )
    ground_truth = json.loads((benchmarks / "pubmedqa" / "test_ground_truth.json").read_text(encoding="utf-8"))
    (out / "pubmedqa" / "test_ground_truth.json").write_text(
        json.dumps({pmid: ground_truth[pmid] for pmid in test_ids}, indent=1), encoding="utf-8"
    )

    dev = json.loads((shared / "training" / "medqa_dev.json").read_text(encoding="utf-8"))[:TRAINING_ROWS]
    rows = [{"source": "medqa_dev", **row} for row in dev]
    medmcqa = jsonl_rows(benchmarks / "medmcqa" / "validation.jsonl")
    medqa = jsonl_rows(benchmarks / "medqa" / "test.jsonl")
    for row in medmcqa[10:13]:  # short MedMCQA questions verbatim: caught by fuzzy, often invisible to 8-grams
        rows.append(
            {
                "source": "planted: medmcqa validation verbatim",
                "question": row["problem_text"],
                "options": row["choices"],
                "answer": row["choices"]["abcd".index(row["answer"][0])],
            }
        )
    for row in medqa[20:23]:  # MedQA test vignettes with the age changed: caught by 8-grams
        question = row["question"].replace("year-old", "year old", 1)
        rows.append(
            {
                "source": "planted: medqa test, age edited",
                "question": question,
                "options": [f"{k}. {v}" for k, v in row["options"].items()],
                "answer": row["answer"],
            }
        )
    training = HERE / "training"
    training.mkdir(exist_ok=True)
    with (training / "demo_train.jsonl").open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    # The same rows as chat conversations (`--field messages`), the question and options in the user's turn.
    with (training / "demo_chat.jsonl").open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(chat_row(row), ensure_ascii=False) + "\n")

    licenses = HERE / "licenses"
    shutil.rmtree(licenses, ignore_errors=True)
    licenses.mkdir()
    for name in sorted({licence for _, licence in SAMPLED.values()} | set(EXTRA_LICENSES)):
        shutil.copy(shared / "licenses" / name, licenses / name)
    with (HERE / "SOURCES.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "rows", "taken from (see ../shared/data/README.md for upstream repos)"])
        for name, (file, _) in SAMPLED.items():
            writer.writerow([f"benchmarks/{name}/{file}", BENCHMARK_ROWS, f"benchmarks/{name}/{file}, first rows"])
        writer.writerow(["benchmarks/pubmedqa/", len(test_ids), "benchmarks/pubmedqa/, first test ids"])
        writer.writerow(["training/demo_train.jsonl", len(rows), "training/medqa_dev.json first rows + planted"])
        writer.writerow(["training/demo_chat.jsonl", len(rows), "training/demo_train.jsonl as chat messages"])


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data"))
