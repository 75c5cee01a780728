"""The `medrl` CLI end to end on the shipped examples (the README's main job)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import REPO, invoke

EXAMPLES = REPO / "examples"


def test_import_list_and_decontaminate_the_examples(tmp_path: Path) -> None:
    pack, out = tmp_path / "pack", tmp_path / "out"
    result = invoke("benchmarks", "import", EXAMPLES / "benchmarks", "--pack", pack, "--allow-partial")
    assert result.exit_code == 0, result.output
    assert "imported medqa: 200 rows" in result.output

    result = invoke("benchmarks", "list", "--pack", pack, "--json")
    assert result.exit_code == 0, result.output
    listed = {row["name"]: row for row in json.loads(result.output)}
    assert listed["pubmedqa"]["rows"] == 100 and listed["medmcqa"]["splits"] == ["validation"]

    result = invoke("decontaminate", EXAMPLES / "training" / "demo_train.jsonl", "--pack", pack, "--out", out)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    clean = [json.loads(line) for line in (out / "clean.jsonl").read_text().splitlines()]
    removed = [json.loads(line) for line in (out / "removed.jsonl").read_text().splitlines()]
    assert report["input_rows"] == len(clean) + len(removed) == 156
    assert (report["kept_rows"], report["removed_rows"]) == (len(clean), len(removed))
    # Every planted benchmark question is caught, each naming the item it came from.
    planted = [row for row in removed if row["source"].startswith("planted")]
    assert len(planted) == 6 and not [row for row in clean if row["source"].startswith("planted")]
    assert {row["contamination"][0]["benchmark"] for row in planted} == {"medmcqa", "medqa"}
    assert report["config"]["preset"] == "medrl"  # the default
    # The benchmark-side view names the planted items.
    assert report["benchmark_items"]["medqa"]["found"] == {"20": 1, "21": 1, "22": 1}
    assert report["benchmark_items"]["medqa"]["items_found"] == 3 and report["benchmark_items"]["medqa"]["items"] == 200
    assert report["benchmark_items"]["medmcqa"]["items_found"] == 3
    # The seed method also removes clean MedQA dev rows that merely share stock phrases with benchmark questions.
    seed_out = tmp_path / "seed"
    result = invoke(
        "decontaminate",
        EXAMPLES / "training" / "demo_train.jsonl",
        "--pack",
        pack,
        "--out",
        seed_out,
        "--preset",
        "ii-medical-rl",
    )
    assert result.exit_code == 0, result.output
    seed = json.loads((seed_out / "report.json").read_text())
    assert seed["removed_rows"] > report["removed_rows"] + 50
    assert report["pack"]["manifest_sha256"] and report["input"]["sha256"]
    assert set(report["seconds"]) >= {"index", "coverage", "rewrite", "read", "write", "total"}


def test_errors_are_one_line_messages_with_exit_code_2(tmp_path: Path) -> None:
    result = invoke("decontaminate", tmp_path / "missing.jsonl", "--pack", tmp_path, "--out", tmp_path / "o")
    assert result.exit_code == 2
    assert "error:" in result.output and "missing.jsonl: no such file" in result.output

    (tmp_path / "train.jsonl").write_text('{"question": "x"}\n')
    result = invoke(
        "decontaminate", tmp_path / "train.jsonl", "--pack", tmp_path, "--out", tmp_path / "o", "--preset", "nope"
    )
    assert result.exit_code == 2 and "unknown preset 'nope'" in result.output

    result = invoke("benchmarks", "list", "--pack", tmp_path)
    assert result.exit_code == 2 and "not a benchmark pack" in result.output


def test_process_engine_gives_the_same_outputs_as_in_process(tmp_path: Path) -> None:
    """Batches spread over worker processes come back in order: byte-identical outputs, same counts."""
    pack = tmp_path / "pack"
    assert invoke("benchmarks", "import", EXAMPLES / "benchmarks", "--pack", pack, "--allow-partial").exit_code == 0
    train = EXAMPLES / "training" / "demo_train.jsonl"
    outputs = {}
    for processes in ("1", "2"):
        out = tmp_path / f"out{processes}"
        result = invoke(
            "decontaminate",
            train,
            "--pack",
            pack,
            "--out",
            out,
            "--batch-size",
            "16",
            "--processes",
            processes,
            "--options-field",
            "options",
        )
        assert result.exit_code == 0, result.output
        outputs[processes] = [(out / name).read_bytes() for name in ("clean.jsonl", "removed.jsonl")]
    assert outputs["1"] == outputs["2"]
