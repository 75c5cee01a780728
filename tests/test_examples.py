"""Every example training file (README "Inputs": one per shape training data is published in) checked as a user
would: the planted benchmark copies, and only they, are removed, whatever the shape holds them in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import EXAMPLES, invoke

TRAINING = EXAMPLES / "training"


def source_of(row: dict) -> str:
    """Where a row says it came from, in each shape's own place for it."""
    return row.get("source") or row.get("data_source") or row.get("meta", {}).get("source", "")


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("demo_train.jsonl", ["question"]),
        ("demo_train.csv", ["question"]),
        ("demo_shards", ["question"]),
        ("demo_chat.jsonl", ["messages"]),
        ("demo_sharegpt.jsonl", ["conversations"]),
        ("demo_verl.jsonl", ["prompt"]),
        ("demo_verl.jsonl", ["extra_info.question"]),
        ("demo_reasoning.jsonl", ["question", "reasoning"]),
    ],
)
def test_each_example_shape_loses_exactly_its_planted_rows(
    name: str, fields: list[str], example_pack: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    arguments = [arg for field in fields for arg in ("--field", field)]
    done = invoke("decontaminate", TRAINING / name, "--pack", example_pack, "--out", out, *arguments, "-q")
    assert done.exit_code == 0, done.output
    removed_file = next(out.glob("removed.*"))
    clean_file = next(out.glob("clean.*"))
    if removed_file.suffix == ".jsonl":
        removed = [json.loads(line) for line in removed_file.read_text(encoding="utf-8").splitlines()]
        clean = [json.loads(line) for line in clean_file.read_text(encoding="utf-8").splitlines()]
    else:
        import pyarrow.csv as pv
        import pyarrow.parquet as pq

        read = pv.read_csv if removed_file.suffix == ".csv" else pq.read_table
        removed, clean = read(removed_file).to_pylist(), read(clean_file).to_pylist()
    planted = [row for row in removed + clean if source_of(row).startswith("planted")]
    assert planted and sorted(map(source_of, removed)) == sorted(map(source_of, planted))
    report = json.loads((out / "report.json").read_text())
    if name == "demo_reasoning.jsonl":  # the question is restated inside the reasoning, the row's own is clean
        assert report["by_field"] == {"reasoning": len(planted)}
