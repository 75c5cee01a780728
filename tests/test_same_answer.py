"""Same data, same answer (issue 25): a training file gives the same decisions and the same evidence whatever format
it is stored in, its options a native list or dict, JSON text in a CSV or Parquet string column, or lines."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import medrl
from conftest import TRAINING, TRAINING_FILES
from medrl.benchmarks.loaders import read_options
from medrl.io.formats import open_source, output_name
from medrl.io.readers import csv_batches


def training_rows(name: str) -> list[dict]:
    path = TRAINING / name
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    return json.loads(path.read_text(encoding="utf-8"))


def as_text(rows: list[dict], columns: tuple[str, ...] | None = None) -> list[dict]:
    """The rows with lists and dicts (of `columns`, default all) written as JSON text, as exporters write them."""
    return [
        {
            key: json.dumps(value) if isinstance(value, list | dict) and (columns is None or key in columns) else value
            for key, value in row.items()
        }
        for row in rows
    ]


def write(rows: list[dict], layout: str, folder: Path) -> Path:
    """`rows` stored in one of the layouts people hold training data in."""
    if layout == "json":
        (path := folder / "train.json").write_text(json.dumps(rows), encoding="utf-8")
    elif layout == "jsonl":
        (path := folder / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    elif layout == "csv":
        import csv

        path = folder / "train.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(dict.fromkeys(key for row in rows for key in row)))
            writer.writeheader()
            writer.writerows(as_text(rows))
    elif layout == "parquet":
        pq.write_table(pa.Table.from_pylist(rows), path := folder / "train.parquet")
    elif layout == "parquet-text":
        pq.write_table(pa.Table.from_pylist(as_text(rows, ("options",))), path := folder / "text.parquet")
    else:
        datasets.Dataset.from_list(rows).save_to_disk(str(path := folder / "train.hf"))
    return path


MATCH_KEYS = (
    "benchmark",
    "split",
    "item_id",
    "method",
    "score",
    "evidence",
    "field",
    "row_span",
    "item_span",
    "confidence",
)


def decisions(out: Path, fmt: str) -> dict[int, list[tuple]]:
    """Per removed row (by input position), its matches: item, method, score, evidence, field and spans."""
    found = {}
    for batch in open_source(out / output_name("removed", fmt)).batches(4096):
        for row in batch.to_pylist():
            matches = json.loads(row["contamination"]) if fmt == "csv" else row["contamination"]
            key = matches[0]["input_row"]
            found[key] = [tuple(match[name] for name in MATCH_KEYS) for match in matches]
    return found


LAYOUTS = {"json": "json", "jsonl": "jsonl", "csv": "csv", "parquet": "parquet", "parquet-text": "parquet", "hf": "hf"}


@pytest.mark.slow
@pytest.mark.parametrize("name", TRAINING_FILES)
def test_every_format_gives_the_same_decisions_and_evidence(full_pack_dir: Path, tmp_path: Path, name: str) -> None:
    rows = training_rows(name)
    seen: dict[str, dict[int, list[tuple]]] = {}
    for layout, fmt in LAYOUTS.items():
        folder = tmp_path / layout
        folder.mkdir()
        report = medrl.decontaminate(write(rows, layout, folder), full_pack_dir, folder / "out")
        assert report.input_rows == len(rows)
        assert report.options["field"] == "options" and "unreadable" not in report.options["read_as"]
        assert not report.notes
        seen[layout] = decisions(folder / "out", fmt)
        evidence = MATCH_KEYS.index("evidence")
        assert all(match[evidence] for found in seen[layout].values() for match in found), "a match without evidence"
    # PubMedQA's train pool holds no test item: there every format must keep every row.
    assert bool(seen["json"]) != name.startswith("pubmedqa"), f"{name}: {len(seen['json'])} rows removed"
    for layout, found in seen.items():
        assert found == seen["json"], f"{name} as {layout} decides differently from JSON"


def test_csv_json_text_options_read_as_the_native_ones(tmp_path: Path) -> None:
    """The CSV cell holds what `json.dumps` wrote; the reader gives it back as text and the options are the same."""
    rows = training_rows("medqa_dev.json")[:3] + training_rows("huatuogpt_o1_demo.json")[:3]
    path = write([{"options": row["options"]} for row in rows], "csv", tmp_path)
    cells = [row["options"] for batch in csv_batches(path, 100) for row in batch.rows]
    for row, cell in zip(rows, cells, strict=True):
        assert isinstance(cell, str)
        native, layout = read_options(row["options"])
        assert read_options(cell) == (native, "json-text")
        assert layout == ("list" if isinstance(row["options"], list) else "dict")


@pytest.mark.parametrize(
    ("value", "layout"),
    [
        (["A. x", "B. y"], "list"),
        ({"A": "x", "B": "y"}, "dict"),
        ('["A. x", "B. y"]', "json-text"),
        (' {"A": "x", "B": "y"}\n', "json-text"),
        ("A. x\nB. y", "lines"),
        ("x\ny", "lines"),
        ("x\r\ny\r\n", "lines"),
    ],
)
def test_every_options_layout_gives_the_same_options(value: object, layout: str) -> None:
    options, found = read_options(value)
    assert found == layout
    assert [(letter, text.strip()) for letter, text in options] == [("A", "x"), ("B", "y")]


@pytest.mark.parametrize(
    ("value", "layout"),
    [
        (None, "empty"),
        ("", "empty"),
        ("  \n ", "empty"),
        ([], "empty"),
        ("[]", "empty"),
        ("['A. x', 'B. y']", "unreadable"),  # Python's repr, not JSON: never evaluated
        ("[A] x", "unreadable"),
        ("Aspirin", "unreadable"),
        ('"A. x"', "unreadable"),
    ],
)
def test_options_that_give_nothing_say_so(value: object, layout: str) -> None:
    assert read_options(value) == ((), layout)


def test_unreadable_options_cells_are_noted(full_pack_dir: Path, tmp_path: Path) -> None:
    rows = training_rows("medqa_dev.json")[:2]
    rows = [{"question": row["question"], "options": repr(row["options"])} for row in rows]
    report = medrl.decontaminate(write(rows, "csv", tmp_path), full_pack_dir, tmp_path / "out")
    assert report.options["read_as"] == {"unreadable": 2}
    assert len(report.notes) == 1 and "2 rows' options column 'options' gave no options" in report.notes[0]
    assert "line 2" in report.notes[0]
