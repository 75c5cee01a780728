"""Format tests: every reader returns rows unchanged, every writer round-trips atomically, and
`medrl.decontaminate` splits a training file of each format into clean + removed rows with evidence."""

from __future__ import annotations

import csv
import json
import os
import stat
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import medrl
from medrl.cli import app
from medrl.errors import MedrlError
from medrl.io.formats import FORMATS, open_source, open_writer, output_name
from medrl.io.readers import RowBatch
from medrl.pipeline import MATCH_TYPE

datasets.disable_progress_bars()

BATCH_SIZES = (1, 2, 3, 1000)

# Seven rows with one consistent type per column (so Arrow formats hold them too), nulls and Unicode included.
ROWS = [
    {
        "question": f'Question {i}: line\u2028sep, para\u2029sep, NEL\x85, "quotes", commas, new\nline, é 漢字 🙂',
        "n": i * 7 - 10,
        "score": None if i % 3 == 0 else i / 4,
        "flag": i % 2 == 0,
        "note": None if i % 2 else f"note {i}",
        "tags": [f"t{j}" for j in range(i % 3)],
        "meta": {"k": i, "v": None if i == 4 else f"v{i}"},
    }
    for i in range(7)
]
# CSV cells are text: the same rows as strings (nested values JSON-encoded, None as "").
CSV_ROWS = [
    {name: "" if value is None else value if isinstance(value, str) else json.dumps(value) for name, value in r.items()}
    for r in ROWS
]

EVIDENCE = [
    [
        {
            "benchmark": "mybench",
            "split": "test",
            "item_id": f"b{i}",
            "method": "ngram",
            "score": float(i),
            "evidence": f"shared words {i}",
            "field": "question",
            "row_span": [i, i + 12],
            "item_span": None,
            "confidence": "certain",
            "input_row": i,
        }
    ]
    for i in range(len(ROWS))
]

SUFFIX = {"jsonl": ".jsonl", "json": ".json", "csv": ".csv", "parquet": ".parquet", "hf": ""}


def write_input(fmt: str, path: Path, rows: list[dict], schema: pa.Schema | None = None) -> Path:
    """Write `rows` as a training file of format `fmt` the way other tools would (not with medrl's writers)."""
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    elif fmt == "json":
        path.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    elif fmt == "csv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    elif fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, row_group_size=2)
    else:
        table = pa.Table.from_pylist(rows, schema=schema)
        datasets.Dataset(table).save_to_disk(str(path), num_shards=2 if len(rows) >= 2 else 1)
    return path


def input_rows(fmt: str) -> list[dict]:
    return CSV_ROWS if fmt == "csv" else ROWS


def make_input(fmt: str, directory: Path, rows: list[dict] | None = None, schema: pa.Schema | None = None) -> Path:
    return write_input(fmt, directory / f"train{SUFFIX[fmt]}", rows or input_rows(fmt), schema)


def read_back(path: Path, batch_size: int = 1000) -> list[dict]:
    return [row for batch in open_source(path).batches(batch_size) for row in batch.to_pylist()]


def leftovers(directory: Path) -> list[str]:
    """Temporary files a writer may leave behind (all start with ".")."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


# ----------------------------------------------------------------------------------------------- readers


@pytest.mark.parametrize("batch_size", BATCH_SIZES)
@pytest.mark.parametrize("fmt", FORMATS)
def test_reader_returns_all_rows_in_order_unchanged(tmp_path: Path, fmt: str, batch_size: int) -> None:
    path = make_input(fmt, tmp_path)
    source = open_source(path)
    assert source.format == fmt
    batches = list(source.batches(batch_size))
    expected = input_rows(fmt)
    assert [row for batch in batches for row in batch.to_pylist()] == expected
    assert [batch.start for batch in batches] == list(range(0, len(expected), batch_size))
    assert [len(batch) for batch in batches[:-1]] == [batch_size] * (len(batches) - 1)
    assert sum(len(batch) for batch in batches) == len(expected)
    if fmt in ("parquet", "hf"):
        assert all(isinstance(batch.rows, pa.RecordBatch) for batch in batches)
    if fmt in ("csv", "parquet", "hf"):
        assert source.column_names() == list(expected[0])


def test_hf_directory_needs_state_json_and_rejects_dataset_dict(tmp_path: Path) -> None:
    datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS[:2])}).save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(MedrlError, match="DatasetDict"):
        open_source(tmp_path / "dd")
    assert read_back(tmp_path / "dd" / "train") == ROWS[:2]
    (tmp_path / "plain").mkdir()
    with pytest.raises(MedrlError, match=r"state\.json"):
        open_source(tmp_path / "plain")


def test_jsonl_splits_on_newline_only_and_skips_blank_lines(tmp_path: Path) -> None:
    texts = ["a\u2028b", "c\u2029d", "e\x85f", "g\x0bh\x0ci\x1cj\x1dk\x1el", "m\rn"]
    lines = [json.dumps({"text": text, "i": i}, ensure_ascii=False) for i, text in enumerate(texts)]
    assert all("\n" not in line for line in lines) and "\u2028" in lines[0]  # raw separators, not escapes
    path = tmp_path / "train.jsonl"
    # line 1, blank 2, line 3, whitespace-only 4, lines 5-7 (one with CRLF), blank 8 at the end
    content = f"{lines[0]}\n\n{lines[1]}\n  \t \n{lines[2]}\r\n{lines[3]}\n{lines[4]}\n\n"
    path.write_bytes(content.encode("utf-8"))
    for batch_size in BATCH_SIZES:
        batches = list(open_source(path).batches(batch_size))
        rows = [row for batch in batches for row in batch.to_pylist()]
        assert rows == [{"text": text, "i": i} for i, text in enumerate(texts)]
        where = [batch.where(offset) for batch in batches for offset in range(len(batch))]
        assert where == ["line 1", "line 3", "line 5", "line 6", "line 7"]
        assert [batch.start for batch in batches] == list(range(0, len(texts), batch_size))


def test_jsonl_invalid_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "ok"}\n\n{"question": "broken\n{"question": "after"}\n', encoding="utf-8")
    with pytest.raises(MedrlError) as error:
        list(open_source(path).batches(1000))
    assert str(path) in str(error.value)
    assert "line 3" in str(error.value)


@pytest.mark.parametrize("value", ["[1, 2]", '"text"', "42", "null"])
def test_jsonl_non_object_line_errors(tmp_path: Path, value: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(f'{{"question": "ok"}}\n{value}\n', encoding="utf-8")
    with pytest.raises(MedrlError, match=r"line 2: expected a JSON object") as error:
        list(open_source(path).batches(1))
    assert str(path) in str(error.value)


def test_json_must_be_a_list_of_objects(tmp_path: Path) -> None:
    path = tmp_path / "train.json"
    path.write_text('{"question": "a dict, not a list"}', encoding="utf-8")
    with pytest.raises(MedrlError, match="JSON list"):
        list(open_source(path).batches(10))
    path.write_text('[{"question": "ok"}, "not an object"]', encoding="utf-8")
    with pytest.raises(MedrlError, match="item 1"):
        list(open_source(path).batches(10))


def test_csv_multiline_quoted_fields(tmp_path: Path) -> None:
    rows = [
        {"question": "first line\nsecond line, with a comma", "answer": 'she said "yes"'},
        {"question": "plain", "answer": "a,b,c"},
        {"question": "crlf\r\ninside and\u2028separator", "answer": ""},
        {"question": "last", "answer": "x\n\ny"},
    ]
    path = write_input("csv", tmp_path / "train.csv", rows)
    for batch_size in BATCH_SIZES:
        batches = list(open_source(path).batches(batch_size))
        assert [row for batch in batches for row in batch.to_pylist()] == rows
        # A record's location is the physical line it starts on (header is line 1).
        where = [batch.where(offset) for batch in batches for offset in range(len(batch))]
        assert where == ["line 2", "line 4", "line 5", "line 7"]


@pytest.mark.parametrize(("bad_row", "fields"), [("too,many,fields", 3), ('"multi\nline",many,fields', 3), ("one", 1)])
def test_csv_wrong_field_count_names_the_line(tmp_path: Path, bad_row: str, fields: int) -> None:
    path = tmp_path / "train.csv"
    path.write_text(f'question,answer\n"spans\ntwo lines",A\n{bad_row}\nok,B\n', encoding="utf-8", newline="")
    with pytest.raises(MedrlError) as error:
        list(open_source(path).batches(1000))
    message = str(error.value)
    assert str(path) in message
    assert f"line 4: {fields} fields but the header has 2" in message


def test_csv_utf8_byte_order_mark_is_not_part_of_the_header(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffquestion,answer\nWhat?,A\n".encode())
    source = open_source(path)
    assert source.column_names() == ["question", "answer"]
    assert read_back(path) == [{"question": "What?", "answer": "A"}]


# ----------------------------------------------------------------------------------------------- writers


def _write_selected(source_path: Path, out: Path, fmt: str, pick: list[int], with_evidence: bool) -> list[dict]:
    """Write the rows at global indices `pick` (plus evidence) from `source_path` to `out`; return what to expect."""
    source = open_source(source_path)
    writer = open_writer(
        out,
        fmt,
        source.arrow_schema(),
        source.column_names(),
        "contamination" if with_evidence else None,
        MATCH_TYPE if with_evidence else None,
    )
    expected = []
    for batch in source.batches(2):
        rows = batch.to_pylist()
        local = [i for i in range(len(batch)) if batch.start + i in pick]
        extra = [EVIDENCE[batch.start + i] for i in local] if with_evidence else None
        writer.write(batch, local, extra)
        for i in local:
            row = dict(rows[i])
            if with_evidence:
                row["contamination"] = EVIDENCE[batch.start + i]
            expected.append(row)
    writer.commit()
    assert writer.rows_written == len(pick)
    return expected


@pytest.mark.parametrize("with_evidence", [False, True])
@pytest.mark.parametrize("fmt", FORMATS)
def test_writer_round_trips_selected_rows(tmp_path: Path, fmt: str, with_evidence: bool) -> None:
    source_path = make_input(fmt, tmp_path)
    out = tmp_path / "out" / output_name("removed", fmt)
    out.parent.mkdir()
    expected = _write_selected(source_path, out, fmt, [0, 2, 3, 6], with_evidence)
    got = read_back(out)
    if fmt == "csv" and with_evidence:  # CSV cells are text: the evidence is JSON
        got = [{**row, "contamination": json.loads(row["contamination"])} for row in got]
    assert got == expected
    assert leftovers(out.parent) == []
    if fmt == "hf":
        assert datasets.load_from_disk(str(out)).to_list() == expected


TYPED_SCHEMA = pa.schema(
    [
        pa.field("id", pa.int32(), nullable=False),
        ("question", pa.string()),
        ("small", pa.int8()),
        ("ratio", pa.float32()),
        ("codes", pa.list_(pa.int16())),
        ("nested", pa.list_(pa.struct([("name", pa.string()), ("values", pa.list_(pa.int64()))]))),
        ("when", pa.timestamp("ms")),
        ("blob", pa.binary()),
    ]
)
TYPED_ROWS = [
    {
        "id": i,
        "question": f"typed question {i}",
        "small": None if i == 1 else i - 3,
        "ratio": i / 2,
        "codes": [i, -i],
        "nested": [{"name": f"n{i}", "values": list(range(i))}],
        "when": None,
        "blob": bytes([i, 0, 255]),
    }
    for i in range(5)
]


@pytest.mark.parametrize("fmt", ["parquet", "hf"])
def test_arrow_output_keeps_the_exact_input_schema(tmp_path: Path, fmt: str) -> None:
    source_path = make_input(fmt, tmp_path, TYPED_ROWS, TYPED_SCHEMA)
    (tmp_path / "out").mkdir()
    clean, removed = tmp_path / "out" / f"clean{SUFFIX[fmt]}", tmp_path / "out" / f"removed{SUFFIX[fmt]}"
    expected_clean = _write_selected(source_path, clean, fmt, [0, 1, 4], with_evidence=False)
    expected_removed = _write_selected(source_path, removed, fmt, [2, 3], with_evidence=True)
    input_schema = open_source(source_path).arrow_schema().remove_metadata()
    assert input_schema.types == TYPED_SCHEMA.types
    if fmt == "parquet":  # (save_to_disk itself drops the non-null flag)
        assert input_schema == TYPED_SCHEMA
    assert open_source(clean).arrow_schema().remove_metadata() == input_schema
    with_evidence = input_schema.append(pa.field("contamination", MATCH_TYPE))
    assert open_source(removed).arrow_schema().remove_metadata() == with_evidence
    assert read_back(clean) == expected_clean
    assert read_back(removed) == expected_removed
    if fmt == "parquet":
        assert pq.read_table(removed).schema.remove_metadata() == with_evidence
    else:
        assert datasets.load_from_disk(str(removed)).column_names == [*TYPED_SCHEMA.names, "contamination"]
        assert datasets.load_from_disk(str(clean)).num_rows == 3


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_outputs_are_valid_files(tmp_path: Path, fmt: str) -> None:
    source_path = make_input(fmt, tmp_path)
    source = open_source(source_path)
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / output_name("removed", fmt)
    writer = open_writer(out, fmt, source.arrow_schema(), source.column_names(), "contamination", MATCH_TYPE)
    for batch in source.batches(3):
        writer.write(batch, [], [])
    writer.commit()
    assert writer.rows_written == 0
    assert read_back(out) == []
    columns = [*input_rows(fmt)[0], "contamination"]
    if fmt == "jsonl":
        assert out.read_bytes() == b""
    elif fmt == "json":
        assert json.loads(out.read_text(encoding="utf-8")) == []
    elif fmt == "csv":
        assert out.read_text(encoding="utf-8").splitlines() == [",".join(columns)]
    elif fmt == "parquet":
        table = pq.read_table(out)
        assert table.num_rows == 0
        assert table.schema.remove_metadata() == source.arrow_schema().remove_metadata().append(
            pa.field("contamination", MATCH_TYPE)
        )
    else:
        loaded = datasets.load_from_disk(str(out))
        assert loaded.num_rows == 0
        assert loaded.column_names == columns
    assert leftovers(out.parent) == []


def test_empty_csv_without_known_columns_is_an_empty_file(tmp_path: Path) -> None:
    writer = open_writer(tmp_path / "clean.csv", "csv", None, None)
    writer.commit()
    assert (tmp_path / "clean.csv").read_bytes() == b""


def _old_target(path: Path, fmt: str) -> bytes:
    """Create a previous output at `path`; return a fingerprint to compare with later."""
    if fmt == "hf":
        path.mkdir()
        (path / "old-marker.txt").write_text("old run", encoding="utf-8")
    else:
        path.write_text("old run\n", encoding="utf-8")
    return _fingerprint(path)


def _fingerprint(path: Path) -> bytes:
    if path.is_dir():
        return b"|".join(p.name.encode() + b"=" + p.read_bytes() for p in sorted(path.iterdir()))
    return path.read_bytes()


def _writer_with_rows(source_path: Path, out: Path, fmt: str):
    source = open_source(source_path)
    writer = open_writer(out, fmt, source.arrow_schema(), source.column_names())
    for batch in source.batches(3):
        writer.write(batch, list(range(len(batch))))
    return writer


@pytest.mark.parametrize("fmt", FORMATS)
def test_abort_leaves_no_output_and_no_temporary_files(tmp_path: Path, fmt: str) -> None:
    source_path = make_input(fmt, tmp_path)
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / output_name("clean", fmt)
    writer = _writer_with_rows(source_path, out, fmt)
    assert len(leftovers(out.parent)) == 1  # the work happens in one hidden temporary sibling
    assert not out.exists()
    writer.abort()
    assert list(out.parent.iterdir()) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_abort_keeps_a_previous_output_and_commit_replaces_it(tmp_path: Path, fmt: str) -> None:
    source_path = make_input(fmt, tmp_path)
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / output_name("clean", fmt)
    before = _old_target(out, fmt)
    _writer_with_rows(source_path, out, fmt).abort()
    assert _fingerprint(out) == before
    assert leftovers(out.parent) == []
    _writer_with_rows(source_path, out, fmt).commit()
    assert read_back(out) == input_rows(fmt)
    assert leftovers(out.parent) == []
    assert [p.name for p in out.parent.iterdir()] == [out.name]
    if fmt == "hf":
        assert not (out / "old-marker.txt").exists()


@pytest.mark.parametrize("fmt", FORMATS)
def test_outputs_get_normal_permissions(tmp_path: Path, fmt: str) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    source_path = make_input(fmt, tmp_path)
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / output_name("clean", fmt)
    _writer_with_rows(source_path, out, fmt).commit()
    files = sorted(out.iterdir()) if fmt == "hf" else [out]
    for file in files:
        assert stat.S_IMODE(file.stat().st_mode) == 0o666 & ~umask  # 0o644 under umask 022, not mkstemp's 0o600
    if fmt == "hf":
        assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask
    if umask == 0o022:
        assert stat.S_IMODE(files[0].stat().st_mode) == 0o644


@pytest.mark.parametrize("fmt", ["parquet", "hf"])
def test_abort_never_raises_and_cleans_up_when_rows_cannot_be_typed(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / output_name("clean", fmt)
    writer = open_writer(out, fmt, None, None)
    writer.write(RowBatch(0, [{"x": 1}, {"x": "text"}]), [0, 1])  # JSON rows mixing types in one column
    with pytest.raises(MedrlError, match="mixes value types"):
        writer.commit()
    writer.abort()
    assert list(tmp_path.iterdir()) == []
    # A failed run aborts every writer, also ones that were never closed: abort must not raise either.
    other = open_writer(out, fmt, None, None)
    other.write(RowBatch(0, [{"x": 1}, {"x": "text"}]), [0, 1])
    other.abort()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["parquet", "hf"])
def test_json_rows_to_arrow_keep_columns_that_only_later_rows_have(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / output_name("clean", fmt)
    writer = open_writer(out, fmt, None, None)
    writer.write(RowBatch(0, [{"a": 1}, {"a": 2, "b": "late"}]), [0, 1])
    writer.write(RowBatch(2, [{"c": [1.5]}]), [0])
    writer.commit()
    assert read_back(out) == [
        {"a": 1, "b": None, "c": None},
        {"a": 2, "b": "late", "c": None},
        {"a": None, "b": None, "c": [1.5]},
    ]


def test_csv_output_refuses_rows_with_columns_missing_from_the_header(tmp_path: Path) -> None:
    writer = open_writer(tmp_path / "clean.csv", "csv", None, None)
    with pytest.raises(MedrlError, match=r"columns \['b'\]"):
        writer.write(RowBatch(0, [{"a": 1}, {"a": 2, "b": 3}]), [0, 1])
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_csv_outputs_end_records_with_lf(tmp_path: Path, example_pack: Path) -> None:
    """The csv module writes "\r\n" unless told; an LF input gave CRLF outputs."""
    source = tmp_path / "t.csv"
    source.write_text('question,note\nWhich vitamin deficiency causes scurvy?,a\nAnother one?,"two\nlines"\n')
    medrl.decontaminate(source, example_pack, tmp_path / "out")
    for name in ("clean.csv", "removed.csv"):
        assert b"\r" not in (tmp_path / "out" / name).read_bytes()
    assert (tmp_path / "out" / "clean.csv").read_text() == source.read_text()


def test_formula_cells_are_written_verbatim_with_a_warning_or_defused_with_csv_safe(
    tmp_path: Path, example_pack: Path
) -> None:
    """Training data is kept as it is; a spreadsheet would run =, +, -, @ cells (not plain numbers such as -5)."""
    source = tmp_path / "t.csv"
    source.write_text('question,note\nWhich vitamin?,-5\nAnother one?,"=HYPERLINK(""http://x"")"\n@SUM(A1),+1\n')
    command = ["decontaminate", str(source), "--pack", str(example_pack)]
    cells = [["Which vitamin?", "-5"], ["Another one?", '=HYPERLINK("http://x")'], ["@SUM(A1)", "+1"]]

    def clean(out: str) -> list[list[str]]:
        with (tmp_path / out / "clean.csv").open(newline="", encoding="utf-8") as handle:
            return list(csv.reader(handle))[1:]

    result = CliRunner().invoke(app, [*command, "--out", str(tmp_path / "plain")])
    warning = "2 CSV cells start with =, +, - or @ (first: line 3, column 'note')"
    assert result.exit_code == 0 and f"note: {warning}: a spreadsheet" in result.output, result.output
    assert clean("plain") == cells
    assert json.loads((tmp_path / "plain" / "report.json").read_text())["notes"][0].startswith(warning)

    result = CliRunner().invoke(app, [*command, "--out", str(tmp_path / "safe"), "--csv-safe"])
    assert result.exit_code == 0 and f"note: {warning}; --csv-safe wrote them after a '" in result.output
    assert clean("safe") == [cells[0], [cells[1][0], "'" + cells[1][1]], ["'" + cells[2][0], "+1"]]

    result = CliRunner().invoke(app, [*command, "--out", str(tmp_path / "jsonl"), "--csv-safe", "--format", "jsonl"])
    assert result.exit_code == 0 and "CSV cells" not in result.output  # only CSV outputs are opened in spreadsheets
    assert [list(json.loads(line).values()) for line in (tmp_path / "jsonl" / "clean.jsonl").open()] == cells


@pytest.mark.parametrize("fmt", ["csv", "parquet", "hf"])
def test_writer_refuses_an_existing_evidence_column_without_leaving_files(tmp_path: Path, fmt: str) -> None:
    rows = [{**row, "contamination": "x"} for row in input_rows(fmt)]
    source = open_source(make_input(fmt, tmp_path, rows))
    (tmp_path / "out").mkdir()
    with pytest.raises(MedrlError, match="already has a column named 'contamination'"):
        open_writer(
            tmp_path / "out" / output_name("removed", fmt),
            fmt,
            source.arrow_schema(),
            source.column_names(),
            "contamination",
            MATCH_TYPE,
        )
    assert list((tmp_path / "out").iterdir()) == []


json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
    st.sampled_from(["a\u2028b", "\u2029", "x\x85y", "line\nbreak", "\r\n", "", " ", "\x00"]),
)
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)
json_rows = st.lists(st.dictionaries(st.text(max_size=8), json_values, max_size=4), max_size=12)


@settings(max_examples=60, deadline=None)
@given(rows=json_rows, write_size=st.integers(1, 5), read_size=st.integers(1, 15))
def test_jsonl_write_then_read_is_identity(
    tmp_path_factory: pytest.TempPathFactory, rows: list[dict], write_size: int, read_size: int
) -> None:
    path = tmp_path_factory.mktemp("prop") / "rows.jsonl"
    writer = open_writer(path, "jsonl", None, None)
    for start in range(0, len(rows), write_size):
        chunk = rows[start : start + write_size]
        writer.write(RowBatch(start, chunk), list(range(len(chunk))))
    writer.commit()
    assert writer.rows_written == len(rows)
    assert path.read_bytes().count(b"\n") == len(rows)
    batches = list(open_source(path).batches(read_size))
    assert [row for batch in batches for row in batch.to_pylist()] == rows
    assert [batch.start for batch in batches] == list(range(0, len(rows), read_size))


# ------------------------------------------------------------------------------------------- end to end

BENCHMARK_QUESTIONS = [
    "A 45-year-old man presents with crushing chest pain radiating to the left arm and diaphoresis. "
    "What is the most likely diagnosis?",
    "Which enzyme deficiency causes classic phenylketonuria in newborn infants screened at birth?",
    "A child with recurrent sinopulmonary infections has absent tonsils; which immunodeficiency is suspected?",
]
VERBATIM = BENCHMARK_QUESTIONS[0]
# Exactly 8 consecutive words of benchmark item b1 ("which ... newborn"), otherwise different text.
EIGHT_GRAM = "Patients say which enzyme deficiency causes classic phenylketonuria in newborn children, really, truly?"
# Only 7 consecutive shared words: no 8-gram, and too different for the fuzzy stage.
SEVEN_GRAM = "Tell me which enzyme deficiency causes classic phenylketonuria in elderly adults on long-term dialysis?"
UNRELATED = "What is the capital of France, and why is the city famous for its museums of art?"

TRAIN_QUESTIONS = [VERBATIM, UNRELATED, EIGHT_GRAM, SEVEN_GRAM]
REMOVED_AT = {0: "b0", 2: "b1"}  # training row -> benchmark item it copies


@pytest.fixture(scope="module")
def pack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("benchmarks")
    (root / "src" / "mybench").mkdir(parents=True)
    items = [
        {"id": f"b{i}", "question": q, "options": {"A": "yes", "B": "no"}, "answer": "A"}
        for i, q in enumerate(BENCHMARK_QUESTIONS)
    ]
    write_input("jsonl", root / "src" / "mybench" / "test.jsonl", items)
    entries = medrl.import_benchmarks(root / "src", root / "pack")
    assert [(entry.name, entry.splits, entry.rows) for entry in entries] == [("mybench", ("test",), 3)]
    return root / "pack"


def training_rows(fmt: str) -> tuple[list[dict], pa.Schema | None]:
    """Training rows with extra columns of assorted types (text only for CSV) and, for Arrow formats, a schema."""
    rows = [
        {
            "id": i,
            "question": question,
            "weight": None if i == 1 else i + 0.25,
            "accepted": i % 2 == 0,
            "source": None if i == 3 else f"src\u2028{i}",
            "codes": [i, i * 10],
            "meta": {"origin": f"o{i}", "rank": i},
        }
        for i, question in enumerate(TRAIN_QUESTIONS)
    ]
    if fmt == "csv":
        return [{**CSV_ROWS[i], "question": q, "id": str(i)} for i, q in enumerate(TRAIN_QUESTIONS)], None
    if fmt in ("parquet", "hf"):
        schema = pa.schema(
            [
                ("id", pa.int32()),
                ("question", pa.string()),
                ("weight", pa.float32()),
                ("accepted", pa.bool_()),
                ("source", pa.string()),
                ("codes", pa.list_(pa.int64())),
                ("meta", pa.struct([("origin", pa.string()), ("rank", pa.int16())])),
            ]
        )
        return rows, schema
    return rows, None


def contamination_of(row: dict, fmt: str) -> list[dict]:
    value = row["contamination"]
    return json.loads(value) if fmt == "csv" else value


@pytest.mark.parametrize("batch_size", [1, 3, 2048])
@pytest.mark.parametrize("fmt", FORMATS)
def test_decontaminate_each_format(tmp_path: Path, pack_dir: Path, fmt: str, batch_size: int) -> None:
    rows, schema = training_rows(fmt)
    train = make_input(fmt, tmp_path, rows, schema)
    expected_rows = read_back(train)  # what the reader gives: the rows as stored in this format
    out = tmp_path / "out"
    config = medrl.preset("ii-medical-rl").replace(batch_size=batch_size)
    report = medrl.decontaminate(train, pack_dir, out, config=config, fields=["question"])

    clean_path, removed_path = out / output_name("clean", fmt), out / output_name("removed", fmt)
    clean, removed = read_back(clean_path), read_back(removed_path)
    assert len(clean) + len(removed) == len(rows)
    # Kept rows are unchanged and in input order; removed rows too, plus the evidence column.
    assert clean == [row for i, row in enumerate(expected_rows) if i not in REMOVED_AT]
    assert [{k: v for k, v in row.items() if k != "contamination"} for row in removed] == [
        expected_rows[i] for i in sorted(REMOVED_AT)
    ]
    assert [list(row) for row in removed] == [[*expected_rows[0], "contamination"]] * len(removed)
    for row, (i, item_id) in zip(removed, sorted(REMOVED_AT.items()), strict=True):
        matches = contamination_of(row, fmt)
        assert matches, f"row {i} has no evidence"
        assert {(m["benchmark"], m["split"], m["item_id"], m["field"]) for m in matches} == {
            ("mybench", "test", item_id, "question")
        }
        assert matches[0]["method"] == "ngram"
        assert {match["input_row"] for match in matches} == {i}  # the row's 0-based input position
    eight_gram_match = contamination_of(removed[1], fmt)[0]
    assert eight_gram_match["evidence"] == "which enzyme deficiency causes classic phenylketonuria in newborn"

    if fmt in ("parquet", "hf"):
        input_schema = open_source(train).arrow_schema().remove_metadata()
        assert open_source(clean_path).arrow_schema().remove_metadata() == input_schema
        assert open_source(removed_path).arrow_schema().remove_metadata() == input_schema.append(
            pa.field("contamination", MATCH_TYPE)
        )
    if fmt == "hf":
        assert datasets.load_from_disk(str(clean_path)).to_list() == clean
        assert datasets.load_from_disk(str(removed_path)).to_list() == removed

    on_disk = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(report.to_dict()))
    assert on_disk["input_rows"] == len(rows)
    assert on_disk["kept_rows"] == len(clean) == 2
    assert on_disk["removed_rows"] == len(removed) == 2
    assert on_disk["by_benchmark"] == {"mybench": 2}
    assert on_disk["by_method"] == {"ngram": 2}
    assert on_disk["input"]["format"] == on_disk["outputs"]["format"] == fmt
    assert on_disk["outputs"]["clean"] == str(clean_path)
    assert on_disk["outputs"]["removed"] == str(removed_path)
    assert on_disk["config"]["fields"] == ["question"]
    assert leftovers(out) == []
    written = [clean_path.name, removed_path.name, "report.json", "report.html", "matched_items.jsonl"]
    assert sorted(p.name for p in out.iterdir()) == sorted(written)
    # The matched items' text, once each, so the evidence reads without the pack.
    matched = [json.loads(line) for line in (out / "matched_items.jsonl").read_text().splitlines()]
    assert [item["item_id"] for item in matched] == sorted(set(REMOVED_AT.values()))
    assert all(item["question"] and item["benchmark"] == "mybench" for item in matched)


@pytest.mark.parametrize(("input_format", "output_format"), [("jsonl", "parquet"), ("parquet", "jsonl")])
def test_decontaminate_converts_between_formats(
    tmp_path: Path, pack_dir: Path, input_format: str, output_format: str
) -> None:
    rows, schema = training_rows(input_format)
    train = make_input(input_format, tmp_path, rows, schema)
    report = medrl.decontaminate(
        train, pack_dir, tmp_path / "out", "ii-medical-rl", fields=["question"], output_format=output_format
    )
    clean = read_back(tmp_path / "out" / output_name("clean", output_format))
    removed = read_back(tmp_path / "out" / output_name("removed", output_format))
    assert clean == [row for i, row in enumerate(read_back(train)) if i not in REMOVED_AT]
    assert [row["id"] for row in removed] == sorted(REMOVED_AT)
    assert (report.kept_rows, report.removed_rows) == (2, 2)


@pytest.mark.parametrize("fmt", FORMATS)
def test_decontaminate_missing_field_names_available_columns(tmp_path: Path, pack_dir: Path, fmt: str) -> None:
    rows, schema = training_rows(fmt)
    train = make_input(fmt, tmp_path, rows, schema)
    out = tmp_path / "out"
    with pytest.raises(MedrlError) as error:
        medrl.decontaminate(train, pack_dir, out, fields=["prompt"])
    message = str(error.value)
    assert "'prompt'" in message
    assert "available columns: " + ", ".join(rows[0]) in message
    assert str(train) in message
    assert not out.exists()  # no partial outputs
    assert not list(tmp_path.glob(".out.*"))  # no staging directory left behind


@pytest.mark.parametrize("fmt", FORMATS)
def test_decontaminate_refuses_an_existing_contamination_column(tmp_path: Path, pack_dir: Path, fmt: str) -> None:
    rows, schema = training_rows(fmt)
    rows = [{**row, "contamination": f"old {i}"} for i, row in enumerate(rows)]
    if schema is not None:
        schema = schema.append(pa.field("contamination", pa.string()))
    train = make_input(fmt, tmp_path, rows, schema)
    out = tmp_path / "out"
    with pytest.raises(MedrlError, match="already has a column named 'contamination'; rename it first"):
        medrl.decontaminate(train, pack_dir, out, fields=["question"])
    assert not out.exists() and not list(tmp_path.glob(".out.*"))
