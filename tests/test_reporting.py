"""Seeing what was removed and why, on the real shared data: evidence readable without the pack, `review`,
`compare`, clean benchmark subsets, `medrl report` and progress output. The page itself is opened in a real
browser by tests/test_report_browser.py."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.console import Console
from typer.testing import CliRunner

import medrl
from conftest import REPO, TRAINING
from medrl.benchmarks.pack import ITEM_SCHEMA, load_pack
from medrl.cli import app
from medrl.io.formats import estimate_rows, open_source
from medrl.progress import TerminalProgress

EXAMPLES = REPO / "examples"
DEMO = EXAMPLES / "training" / "demo_train.jsonl"
MEDQA_DEV = TRAINING / "medqa_dev.json"
runner = CliRunner()


def invoke(*args: str | Path, columns: int = 400):
    return runner.invoke(app, [str(arg) for arg in args], env={"COLUMNS": str(columns)})


@pytest.fixture(scope="module")
def runs(full_pack_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The real MedQA dev file against the full pack: the seed method (A) and the default preset (B)."""
    root = tmp_path_factory.mktemp("runs")
    seed, default = root / "seed", root / "default"
    medrl.decontaminate(MEDQA_DEV, full_pack_dir, seed, "ii-medical-rl")
    config = medrl.preset("medrl").replace(options_field="options", run_all_stages=True)
    medrl.decontaminate(MEDQA_DEV, full_pack_dir, default, config=config)
    return {"seed": seed, "default": default}


def removed_rows(out: Path) -> list[dict]:
    return json.loads((out / "removed.json").read_text(encoding="utf-8"))


def test_removed_rows_carry_their_position_and_the_items_text(runs: dict[str, Path], full_pack) -> None:
    """Each match names the row's 0-based input position; matched_items.jsonl has each named item's text."""
    rows = json.loads(MEDQA_DEV.read_text(encoding="utf-8"))
    questions = {(item.benchmark, item.split, item.item_id): item for item in full_pack.items}
    for out in runs.values():
        matched = {}
        for line in (out / "matched_items.jsonl").read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            matched[(item["benchmark"], item["split"], item["item_id"])] = item
        named = set()
        for row in removed_rows(out):
            positions = {match["input_row"] for match in row["contamination"]}
            assert len(positions) == 1
            assert rows[positions.pop()] == {key: value for key, value in row.items() if key != "contamination"}
            named |= {(m["benchmark"], m["split"], m["item_id"]) for m in row["contamination"]}
        assert set(matched) == named  # every named item once, no other
        for key, item in matched.items():
            pack_item = questions[key]
            assert item["question"] == pack_item.question
            assert [(o["letter"], o["text"]) for o in item["options"]] == list(pack_item.options)
            assert "answer" not in item  # evidence, not an answer key


def test_review_shows_rows_beside_their_items(runs: dict[str, Path]) -> None:
    default = runs["default"]
    removed = removed_rows(default)
    expected = [row for row in removed if any(m["benchmark"] == "medxpertqa" for m in row["contamination"])]
    assert expected, "the default preset finds MedQA dev cases reused in MedXpertQA"
    result = invoke("review", default, "--benchmark", "medxpertqa", "--limit", "2")
    assert result.exit_code == 0, result.output
    assert f"2 of {len(expected)} removed rows matching the filters" in result.output
    items = {
        (item["benchmark"], item["item_id"]): item
        for item in map(json.loads, (default / "matched_items.jsonl").read_text().splitlines())
    }
    for row in expected[:2]:
        match = next(m for m in row["contamination"] if m["benchmark"] == "medxpertqa")
        assert f"input row {match['input_row']} · medxpertqa test #{match['item_id']} · {match['method']}" in (
            result.output
        )
        # Both sides are shown: the first words of the training row and of the benchmark item.
        assert " ".join(row["question"].split()[:4]) in result.output
        assert " ".join(items[("medxpertqa", match["item_id"])]["question"].split()[:4]) in result.output
    third = next(m for m in expected[2]["contamination"] if m["benchmark"] == "medxpertqa")
    assert f"input row {third['input_row']} ·" not in result.output  # --limit 2

    result = invoke("review", default, "--method", "rewrite", "--limit", "1000")
    rewrite_rows = [row for row in removed if any(m["method"] == "rewrite" for m in row["contamination"])]
    assert result.exit_code == 0 and f"{len(rewrite_rows)} of {len(rewrite_rows)} removed rows" in result.output
    assert "· coverage" not in result.output


def test_review_highlights_the_evidence_and_shared_words() -> None:
    from medrl.reporting.review import EVIDENCE_STYLE, SHARED_STYLE, highlighted

    text = highlighted("The boy has a very high fever today.", "a child has a very high fever now", [8, 12])
    spans = {(span.start, span.end, str(span.style)) for span in text.spans}
    assert (8, 12, EVIDENCE_STYLE) in spans
    assert (8, 29, SHARED_STYLE) in spans  # "has a very high fever": shared word 3-grams, one run
    plain = Console(width=80, record=True)
    plain.print(highlighted("[bold]x[/bold] <script>", "", None))
    assert "[bold]x[/bold] <script>" in plain.export_text()  # dataset text is never markup


def test_compare_seed_method_against_the_default(runs: dict[str, Path]) -> None:
    seed, default = runs["seed"], runs["default"]
    result = invoke("compare", seed, default, "--json")
    assert result.exit_code == 0, result.output
    compared = json.loads(result.output)
    seed_rows = {row["contamination"][0]["input_row"]: row for row in removed_rows(seed)}
    default_rows = {row["contamination"][0]["input_row"]: row for row in removed_rows(default)}
    only_seed, only_default = set(seed_rows) - set(default_rows), set(default_rows) - set(seed_rows)
    assert [row["input_row"] for row in compared["only_a"]["removed"]] == sorted(only_seed)
    assert [row["input_row"] for row in compared["only_b"]["removed"]] == sorted(only_default)
    assert compared["both"]["rows"] == len(set(seed_rows) & set(default_rows))
    assert compared["only_a"]["rows"] > 900  # the stock-phrase removals README's table describes
    assert (compared["a"]["preset"], compared["b"]["preset"]) == ("ii-medical-rl", "medrl")
    for row in compared["only_a"]["removed"]:
        assert row["b"] == {"outcome": "kept", "matches": []}
        assert row["a"]["outcome"] == "removed"
        reasons = seed_rows[row["input_row"]]["contamination"]
        assert [reason["item_id"] for reason in row["a"]["matches"]] == [m["item_id"] for m in reasons]
        assert row["text"] == seed_rows[row["input_row"]]["question"]
    counts = {"by_method": {}, "by_benchmark": {}}
    for position in only_seed:
        for key, field in (("by_method", "method"), ("by_benchmark", "benchmark")):
            for name in {match[field] for match in seed_rows[position]["contamination"]}:
                counts[key][name] = counts[key].get(name, 0) + 1
    assert compared["only_a"]["by_method"] == counts["by_method"]
    assert compared["only_a"]["by_benchmark"] == counts["by_benchmark"]

    table = invoke("compare", seed, default, "--limit", "3")
    assert table.exit_code == 0, table.output
    assert re.search(rf"only by this run\s+│\s+{compared['only_a']['rows']:,}\s+│", table.output), table.output
    first = compared["only_b"]["removed"][0]
    assert str(first["input_row"]) in table.output and "kept" in table.output


def test_compare_refuses_runs_of_different_inputs(runs: dict[str, Path], tmp_path: Path, full_pack_dir: Path) -> None:
    other = tmp_path / "other"
    medrl.decontaminate(DEMO, full_pack_dir, other)
    result = invoke("compare", runs["default"], other)
    assert result.exit_code == 2 and "read different inputs" in result.output


def test_clean_subsets_hold_the_items_not_found(runs: dict[str, Path], full_pack_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "subsets"
    result = invoke("benchmarks", "clean-subset", runs["default"], "--pack", full_pack_dir, "--out", out)
    assert result.exit_code == 0, result.output
    report = json.loads((runs["default"] / "report.json").read_text())
    pack = load_pack(full_pack_dir)
    summary = json.loads((out / "subsets.json").read_text())
    assert summary["run_all_stages"] is True and summary["pack_manifest_sha256"] == pack.manifest_sha256
    for name, side in report["benchmark_items"].items():
        lines = (out / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        clean = [json.loads(line) for line in lines]
        assert len(clean) == side["items"] - side["items_found"] == summary["benchmarks"][name]["clean"]
        assert not {item["item_id"] for item in clean} & set(side["found"])
        expected = [item for item in pack.items if item.benchmark == name and item.item_id not in side["found"]]
        assert [item["question"] for item in clean] == [item.question for item in expected]
        assert pa.Table.from_pylist(clean, schema=ITEM_SCHEMA).num_rows == len(clean)  # the pack's item schema
        assert all(list(item) == ITEM_SCHEMA.names for item in clean)
    assert report["benchmark_items"]["medxpertqa"]["items_found"] > 0
    assert f"medxpertqa: {summary['benchmarks']['medxpertqa']['clean']} of 2450 items clean" in result.output


def test_clean_subset_refuses_another_pack(runs: dict[str, Path], full_pack_dir: Path, tmp_path: Path) -> None:
    """The subsets are only right against the benchmark versions the run checked."""
    pack = tmp_path / "pack"
    medrl.import_benchmarks(EXAMPLES / "benchmarks", pack, allow_partial=True)
    result = invoke("benchmarks", "clean-subset", runs["default"], "--pack", pack, "--out", tmp_path / "s")
    assert result.exit_code == 2 and "the run checked benchmark 'hle_biomed', which the pack" in result.output
    shutil.copytree(full_pack_dir, tmp_path / "changed")
    medrl.import_benchmarks(EXAMPLES / "benchmarks", tmp_path / "changed", allow_partial=True)  # medqa: a sample now
    result = invoke(
        "benchmarks", "clean-subset", runs["default"], "--pack", tmp_path / "changed", "--out", tmp_path / "s"
    )
    assert result.exit_code == 2 and "is not the version the run checked" in result.output
    assert not (tmp_path / "s").exists()


def test_report_command_re_renders_the_same_page(runs: dict[str, Path]) -> None:
    page = runs["default"] / "report.html"
    before = page.read_bytes()
    page.unlink()
    result = invoke("report", runs["default"])
    assert result.exit_code == 0 and "report.html" in result.output
    assert page.read_bytes() == before  # deterministic: the same outputs give the same page


def test_the_page_references_nothing_and_embeds_no_raw_data(tmp_path: Path, full_pack_dir: Path) -> None:
    """No URL, no external resource; hostile strings in the data and in the input's path never appear raw."""
    train = tmp_path / "<img src=x onerror=alert(1)>.jsonl"
    planted = next(json.loads(line) for line in DEMO.read_text().splitlines() if "planted" in line)
    train.write_text(json.dumps({"question": planted["question"] + " <script>alert(1)</script>"}) + "\n")
    out = tmp_path / "out"
    medrl.decontaminate(train, full_pack_dir, out)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<script>alert" not in page and "<img" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;.jsonl" in page  # the input's path, escaped
    assert not re.search(
        r"(https?|ftp|file|data):|\bsrc=|\bhref=|url\(|@import|<link|<iframe|<img",
        page.replace(html.escape(str(train)), ""),
    )
    assert "Content-Security-Policy" in page and "connect-src 'none'" in page


def test_build_writes_the_report_and_readable_evidence(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    medrl.import_benchmarks(EXAMPLES / "benchmarks", pack, allow_partial=True)
    result = invoke("build", "--config", EXAMPLES / "build.toml", "--pack", pack, "--out", tmp_path / "rl")
    assert result.exit_code == 0, result.output
    out = tmp_path / "rl"
    summary = json.loads((out / "build.json").read_text())
    contaminated = [json.loads(line) for line in (out / "contaminated.jsonl").read_text().splitlines()]
    assert contaminated and all(m["input_row"] == row["row_id"] for row in contaminated for m in row["contamination"])
    assert summary["decontamination"]["benchmark_items"]["medqa"]["items_found"] > 0
    page = (out / "report.html").read_text()
    assert f"{len(contaminated)} removed rows" in page and "rejected" in page and "duplicates" in page
    review = invoke("review", out)
    assert review.exit_code == 0 and f"{len(contaminated)} of {len(contaminated)} removed rows" in review.output


# --- progress --------------------------------------------------------------------------------------------------


def run_medrl(*args: str | Path) -> subprocess.CompletedProcess:
    """`medrl` in a subprocess with pipes, so neither stdout nor stderr is a terminal (as under nohup or CI)."""
    command = [sys.executable, "-m", "medrl", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)


def test_progress_is_logged_when_not_a_terminal_and_quiet_silences_it(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    medrl.import_benchmarks(EXAMPLES / "benchmarks", pack, allow_partial=True)
    done = run_medrl("decontaminate", DEMO, "--pack", pack, "--out", tmp_path / "out")
    lines = done.stderr.splitlines()
    assert any(line.startswith("medrl: index: done in") for line in lines)
    assert any(re.fullmatch(r"medrl: read, detect, write: 156 rows in [\d.]+ s \([\d,]+ rows/s\)", x) for x in lines)
    assert lines[-1].startswith("156 rows: kept 150, removed 6")  # the final one-line summary
    assert "\x1b[" not in done.stderr  # no live bar or colour codes in a log

    done = run_medrl("build", "--config", EXAMPLES / "build.toml", "--pack", pack, "--out", tmp_path / "rl")
    for step in ("index", "read", "deduplicate", "decontaminate", "write", "report.html"):
        assert re.search(rf"^medrl: {step}: (done in|[\d,]+ rows in)", done.stderr, re.M), done.stderr

    quiet = run_medrl("decontaminate", DEMO, "--pack", pack, "--out", tmp_path / "out", "--quiet")
    assert quiet.stderr == "" and quiet.stdout == ""
    quiet = run_medrl("build", "--config", EXAMPLES / "build.toml", "--pack", pack, "--out", tmp_path / "rl", "-q")
    assert quiet.stderr == "" and quiet.stdout == ""


def test_progress_logs_rows_rate_and_eta_every_interval() -> None:
    console = Console(record=True, width=200, force_terminal=False)
    progress = TerminalProgress(console, live=False, interval=0.05)
    with progress.stage("detect", 1000, estimated=True) as stage:
        for _ in range(8):
            stage.advance(50)
            time.sleep(0.03)
    with progress.stage("index"):
        time.sleep(0.12)
    lines = console.export_text().splitlines()
    periodic = [
        line
        for line in lines
        if re.fullmatch(
            r"medrl: detect: [\d,]+ of ~1,000 rows, [\d,]+ rows/s \(\d+%\), "
            r"ETA [\d.]+ s",
            line,
        )
    ]
    assert periodic, lines
    assert re.fullmatch(r"medrl: detect: 400 rows in [\d.]+ s \([\d,]+ rows/s\)", lines[len(periodic)])
    assert any(re.fullmatch(r"medrl: index: [\d.]+ s elapsed", line) for line in lines)
    assert re.fullmatch(r"medrl: index: done in [\d.]+ s", lines[-1])


def test_a_short_estimate_grows_with_the_rows() -> None:
    progress = TerminalProgress(Console(record=True), live=False, interval=60)
    with progress.stage("read", 10, estimated=True) as stage:
        stage.advance(25)
        assert "25 of ~25 rows" in progress.status()


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet", "hf"])
def test_row_estimates(tmp_path: Path, fmt: str) -> None:
    """Arrow formats know their rows; text formats are counted in a small file, estimated from a sample in a big one."""
    rows = [{"question": f"Question number {i} about {'x' * (i % 50)}?", "n": i} for i in range(30_000)]
    table = pa.Table.from_pylist(rows)
    path = tmp_path / f"train.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    elif fmt == "json":
        path.write_text(json.dumps(rows))
    elif fmt == "csv":
        path.write_text("question,n\n" + "".join(f"{row['question']},{row['n']}\n" for row in rows))
    elif fmt == "parquet":
        pq.write_table(table, path)
    else:
        import datasets

        datasets.Dataset(table).save_to_disk(str(path))
    count, exact = estimate_rows(open_source(path, fmt))
    if fmt in ("parquet", "hf"):
        assert (count, exact) == (30_000, True)
    else:
        assert not exact and abs(count - 30_000) / 30_000 < 0.05, count
    small = tmp_path / "small.jsonl"
    small.write_text("".join(json.dumps(row) + "\n" for row in rows[:7]) + "\n")
    assert estimate_rows(open_source(small)) == (7, True)
