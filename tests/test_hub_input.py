"""A hub dataset as input (`hf://ORG/NAME[:CONFIG] --split`), read offline from a Hugging Face cache laid out as
`huggingface_hub` lays it out: the real `snapshot_download` resolves the commit from the cache's refs and serves the
split's data files, which medrl reads as shards. The command runs in a child process with the cache's environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from conftest import REPO

COMMIT = "0123456789abcdef0123456789abcdef01234567"
TRAIN = REPO / "examples" / "training" / "demo_chat.jsonl"


def hub_cache(root: Path) -> Path:
    """A cache holding `medrl-test/chat` at COMMIT: train in two Parquet shards, test in one (not to be read)."""
    repo = root / "datasets--medrl-test--chat"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    data = repo / "snapshots" / COMMIT / "data"
    data.mkdir(parents=True)
    rows = [json.loads(line) for line in TRAIN.read_text(encoding="utf-8").splitlines()]
    pq.write_table(pa.Table.from_pylist(rows[:100]), data / "train-00000-of-00002.parquet")
    pq.write_table(pa.Table.from_pylist(rows[100:]), data / "train-00001-of-00002.parquet")
    pq.write_table(pa.Table.from_pylist(rows[:5]), data / "test-00000-of-00001.parquet")
    return root


def medrl(*args: str | Path, cache: Path) -> subprocess.CompletedProcess:
    environment = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "medrl", *map(str, args)]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)


def test_a_hub_split_is_read_at_its_commit(tmp_path: Path, example_pack: Path) -> None:
    cache = hub_cache(tmp_path / "cache")
    out = tmp_path / "out"
    checks = ("--pack", example_pack, "--field", "messages", "-q")
    done = medrl("decontaminate", "hf://medrl-test/chat", "--split", "train", "--out", out, *checks, cache=cache)
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text())
    local = medrl("decontaminate", TRAIN, "--out", tmp_path / "local", *checks, cache=cache)
    assert local.returncode == 0, local.stderr
    expected = json.loads((tmp_path / "local" / "report.json").read_text())
    assert report["input"]["revision"] == COMMIT and report["input"]["split"] == "train"
    assert [Path(shard).name for shard in report["input"]["shards"]] == [
        "train-00000-of-00002.parquet",
        "train-00001-of-00002.parquet",
    ]
    assert (report["input_rows"], report["removed_rows"]) == (expected["input_rows"], expected["removed_rows"])
    assert report["removed_rows"] > 0


def test_hub_input_errors_are_one_line(tmp_path: Path, example_pack: Path) -> None:
    cache = hub_cache(tmp_path / "cache")
    common = ("--pack", example_pack, "--out", tmp_path / "o", "--field", "messages")
    for args, message in (
        (("hf://medrl-test/chat",), "name the split to read with --split"),
        (("hf://medrl-test/chat", "--split", "validation"), "has no data files for split 'validation'"),
        (("hf://medrl-test/absent", "--split", "train"), "cannot read medrl-test/absent from the Hugging Face hub"),
        (("hf://not-a-repo", "--split", "train"), "a hub input is hf://ORG/NAME"),
        ((str(TRAIN), "--split", "train"), "reads a split of a hub dataset"),
    ):
        done = medrl("decontaminate", *args, *common, cache=cache)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], done.stderr


def qa_hub_cache(root: Path) -> Path:
    """A cache holding `medrl-test/qa` at COMMIT: the demo build's training rows as two Parquet shards of train."""
    data = root / "datasets--medrl-test--qa" / "snapshots" / COMMIT / "data"
    data.mkdir(parents=True)
    (root / "datasets--medrl-test--qa" / "refs").mkdir()
    (root / "datasets--medrl-test--qa" / "refs" / "main").write_text(COMMIT)
    rows = [json.loads(line) for line in BUILD_TRAIN.read_text(encoding="utf-8").splitlines()]
    pq.write_table(pa.Table.from_pylist(rows[:150]), data / "train-00000-of-00002.parquet")
    pq.write_table(pa.Table.from_pylist(rows[150:]), data / "train-00001-of-00002.parquet")
    return root


BUILD_TRAIN = REPO / "examples" / "training" / "demo_train.jsonl"


def test_build_reads_a_hub_source(tmp_path: Path, example_pack: Path) -> None:
    """`build --source hf://... --source-split train` and a TOML `[[sources]]` table with `split` read the split at its
    commit and build what the local file builds."""
    cache = qa_hub_cache(tmp_path / "cache")
    common = ("--pack", example_pack, "--export", "parquet", "-q")
    hub = medrl(
        "build",
        "--source",
        "hf://medrl-test/qa",
        "--source-split",
        "train",
        "--out",
        tmp_path / "hub",
        *common,
        cache=cache,
    )
    assert hub.returncode == 0, hub.stderr
    local = medrl("build", "--source", BUILD_TRAIN, "--out", tmp_path / "local", *common, cache=cache)
    assert local.returncode == 0, local.stderr
    built = json.loads((tmp_path / "hub" / "build.json").read_text())
    expected = json.loads((tmp_path / "local" / "build.json").read_text())
    [source] = built["sources"]
    assert (source["revision"], source["split"], source["dataset_name"]) == (COMMIT, "train", "qa")
    assert [Path(shard).name for shard in source["shards"]] == [
        "train-00000-of-00002.parquet",
        "train-00001-of-00002.parquet",
    ]
    assert built["totals"] == expected["totals"] and built["totals"]["contaminated"] > 0

    config = tmp_path / "build.toml"
    config.write_text('[[sources]]\npath = "hf://medrl-test/qa"\nsplit = "train"\n', encoding="utf-8")
    from_toml = medrl("build", "--config", config, "--out", tmp_path / "toml", *common, cache=cache)
    assert from_toml.returncode == 0, from_toml.stderr
    assert json.loads((tmp_path / "toml" / "build.json").read_text())["totals"] == expected["totals"]


def test_build_hub_source_errors_are_one_line(tmp_path: Path, example_pack: Path) -> None:
    cache = qa_hub_cache(tmp_path / "cache")
    common = ("--pack", example_pack, "--out", tmp_path / "o")
    for args, message in (
        (("--source", "hf://medrl-test/qa"), "name the hub dataset's split to read with --source-split"),
        (("--source", "hf://medrl-test/qa", "--source-split", "dev"), "has no data files for split 'dev'"),
        (("--source", BUILD_TRAIN, "--source-split", "train"), "reads a split of a hub dataset --source"),
    ):
        done = medrl("build", *args, *common, cache=cache)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], done.stderr
