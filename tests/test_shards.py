"""Sharded inputs: a directory of same-format files, or a glob pattern, is one input read in name order; the outputs
are one set of files, and the report names the shards and hashes them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import medrl
from conftest import REPO, invoke
from medrl.errors import MedrlError

TRAIN = REPO / "examples" / "training" / "demo_train.jsonl"


def demo_lines() -> list[str]:
    return TRAIN.read_text(encoding="utf-8").splitlines()


def report_of(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def test_a_directory_of_jsonl_shards_reads_as_the_whole_file(tmp_path: Path, example_pack: Path) -> None:
    lines = demo_lines()
    shards = tmp_path / "shards"
    shards.mkdir()
    for number, start in enumerate(range(0, len(lines), 50)):
        (shards / f"train-{number:05d}.jsonl").write_text("\n".join(lines[start : start + 50]) + "\n", encoding="utf-8")
    (shards / "README.txt").write_text("not a shard")
    whole = medrl.decontaminate(TRAIN, example_pack, tmp_path / "whole")
    sharded = medrl.decontaminate(shards, example_pack, tmp_path / "sharded")
    assert (sharded.input_rows, sharded.removed_rows, sharded.by_method) == (
        whole.input_rows,
        whole.removed_rows,
        whole.by_method,
    )
    for name in ("clean.jsonl", "removed.jsonl"):  # one output file, rows in input order, evidence alike
        assert (tmp_path / "sharded" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    report = report_of(tmp_path / "sharded")
    assert [Path(shard).name for shard in report["input"]["shards"]] == [f"train-{n:05d}.jsonl" for n in range(4)]
    expected = hashlib.sha256()
    for shard in sorted(shards.glob("*.jsonl")):  # each shard by name and content: any edit changes it
        expected.update(f"{shard.name}\0{hashlib.sha256(shard.read_bytes()).hexdigest()}\n".encode())
    assert report["input"]["sha256"] == expected.hexdigest()


def test_a_glob_of_parquet_shards(tmp_path: Path, example_pack: Path) -> None:
    rows = [json.loads(line) for line in demo_lines()]
    for number, start in enumerate(range(0, len(rows), 40)):
        pq.write_table(pa.Table.from_pylist(rows[start : start + 40]), tmp_path / f"part-{number}.parquet")
    result = invoke("decontaminate", tmp_path / "part-*.parquet", "--pack", example_pack, "--out", tmp_path / "o", "-q")
    assert result.exit_code == 0, result.output
    report = report_of(tmp_path / "o")
    assert report["input_rows"] == len(rows) and report["input"]["format"] == "parquet"
    clean = pq.read_table(tmp_path / "o" / "clean.parquet")
    removed = pq.read_table(tmp_path / "o" / "removed.parquet")
    assert clean.num_rows + removed.num_rows == len(rows)


def test_bad_shards_are_one_clear_line(tmp_path: Path, example_pack: Path) -> None:
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "a.jsonl").write_text(demo_lines()[0] + "\n", encoding="utf-8")
    pq.write_table(pa.Table.from_pylist([json.loads(demo_lines()[1])]), mixed / "b.parquet")
    with pytest.raises(MedrlError, match="shards are of several formats"):
        medrl.decontaminate(mixed, example_pack, tmp_path / "o")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MedrlError, match="no shards"):
        medrl.decontaminate(empty, example_pack, tmp_path / "o")
    with pytest.raises(MedrlError, match="no shards"):
        medrl.decontaminate(tmp_path / "nothing-*.jsonl", example_pack, tmp_path / "o")
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    pq.write_table(pa.table({"question": ["a"]}), schemas / "1.parquet")
    pq.write_table(pa.table({"question": ["a"], "extra": [1]}), schemas / "2.parquet")
    with pytest.raises(MedrlError, match="shards of one input must share their schema"):
        medrl.decontaminate(schemas, example_pack, tmp_path / "o")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "1.jsonl").write_text(demo_lines()[0] + "\n", encoding="utf-8")
    (broken / "2.jsonl").write_text(demo_lines()[1] + "\n{not json\n", encoding="utf-8")
    result = invoke("decontaminate", broken, "--pack", example_pack, "--out", tmp_path / "o", "-q")
    assert result.exit_code == 2 and "2.jsonl" in result.output and "line 2" in result.output, result.output
    assert not (tmp_path / "o").exists()


def test_build_reads_a_directory_of_shards(tmp_path: Path, example_pack: Path) -> None:
    lines = demo_lines()
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "a.jsonl").write_text("\n".join(lines[:80]) + "\n", encoding="utf-8")
    (shards / "b.jsonl").write_text("\n".join(lines[80:]) + "\n", encoding="utf-8")
    totals = {}
    for name, source in (("file", TRAIN), ("shards", shards)):
        result = invoke("build", "--source", source, "--pack", example_pack, "--out", tmp_path / f"rl-{name}", "-q")
        assert result.exit_code == 0, result.output
        totals[name] = json.loads((tmp_path / f"rl-{name}" / "build.json").read_text())["totals"]
    assert totals["shards"] == totals["file"] and totals["file"]["contaminated"] > 0
