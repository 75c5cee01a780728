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

import pyarrow as pa
import pyarrow.parquet as pq

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


def sharegpt_row(row: dict) -> dict:
    """The chat as ShareGPT holds it (`conversations: [{from, value}]`, human/gpt), the source at the top level."""
    turns = chat_row(row)["messages"]
    speaker = {"system": "system", "user": "human", "assistant": "gpt"}
    return {
        "conversations": [{"from": speaker[t["role"]], "value": t["content"]} for t in turns],
        "source": row["source"],
    }


def verl_row(row: dict, index: int) -> dict:
    """A row as verl's RL parquet files hold it: the prompt as chat messages, the question nested in `extra_info`
    (`--field prompt` or `--field extra_info.question`)."""
    letter = "ABCDEFGHIJ"[[option.split(". ", 1)[-1] for option in options_list(row)].index(row["answer"])]
    return {
        "data_source": row["source"],
        "prompt": [{"role": "user", "content": row["question"] + "\n" + "\n".join(options_list(row))}],
        "ability": "medical",
        "reward_model": {"style": "rule", "ground_truth": letter},
        "extra_info": {"index": index, "question": row["question"]},
    }


def options_list(row: dict) -> list[str]:
    """The row's options as "A. text" lines, whichever way it stores them (a list of lines or a letter dict)."""
    options = row["options"]
    if isinstance(options, dict):
        return [f"{letter.upper()}. {text}" for letter, text in options.items()]
    return list(options)


def reasoning_row(row: dict, restated: str | None) -> dict:
    """A row with a reasoning trace (`--field question --field reasoning`). The traces are written here, not taken
    from a model: a short argument for the answer, and for planted rows a paragraph restating a benchmark question,
    as traces copied from a teacher model do."""
    steps = [
        "Let me work through the findings one at a time before looking at the options.",
        f"The presentation fits {row['answer']} best; the other options each leave a key finding unexplained.",
    ]
    if restated is not None:
        steps.insert(1, f"This is the classic case:\n\n{restated}")
    return {**row, "reasoning": "\n\n".join(steps)}


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
    # ... and in the other shapes training data is published in (README "Inputs").
    write_jsonl(training / "demo_sharegpt.jsonl", [sharegpt_row(row) for row in rows])
    write_jsonl(training / "demo_verl.jsonl", [verl_row(row, index) for index, row in enumerate(rows)])
    restated = {40 + k: row["question"] for k, row in enumerate(medqa[30:33])}  # three traces restate a MedQA item
    write_jsonl(
        training / "demo_reasoning.jsonl",
        [
            reasoning_row(
                {**row, "source": "planted: medqa test in reasoning"} if n in restated else row, restated.get(n)
            )
            for n, row in enumerate(rows[:TRAINING_ROWS])
        ],
    )
    with (training / "demo_train.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["source", "question", "options", "answer"])
        for row in rows:  # options as JSON-array text, as pandas and most exporters write a list into CSV
            writer.writerow([row["source"], row["question"], json.dumps(options_list(row)), row["answer"]])
    shards = training / "demo_shards"
    shutil.rmtree(shards, ignore_errors=True)
    shards.mkdir()
    table = [{**row, "options": options_list(row)} for row in rows]
    for number, part in enumerate((table[:100], table[100:])):
        pq.write_table(pa.Table.from_pylist(part), shards / f"train-{number:05d}-of-00002.parquet")

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
        writer.writerow(["training/demo_sharegpt.jsonl", len(rows), "training/demo_train.jsonl as ShareGPT chats"])
        writer.writerow(["training/demo_verl.jsonl", len(rows), "training/demo_train.jsonl in verl's row layout"])
        writer.writerow(
            ["training/demo_reasoning.jsonl", TRAINING_ROWS, "medqa_dev rows + written traces, 3 restating MedQA test"]
        )
        writer.writerow(["training/demo_train.csv", len(rows), "training/demo_train.jsonl as CSV"])
        writer.writerow(["training/demo_shards/", len(rows), "training/demo_train.jsonl as two Parquet shards"])


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data"))
