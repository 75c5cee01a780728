"""Read training files of any supported format as a stream of row batches, keeping every column unchanged.

JSON-like formats (jsonl, json, csv) give rows as dicts; Arrow formats (parquet, a Hugging Face `save_to_disk`
directory) give `pyarrow.RecordBatch`es so types survive untouched. JSONL is split on "\n" only: real question
texts contain U+2028/U+2029/U+0085, which `str.splitlines()` would wrongly treat as line breaks.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from medrl.errors import MedrlError

FORMATS = ("jsonl", "json", "csv", "parquet", "hf")
_SUFFIX_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
# "utf-8-sig" also reads plain UTF-8; it drops the byte-order mark spreadsheet exports put before the header.
_CSV_ENCODING = "utf-8-sig"


@dataclass
class RowBatch:
    """Consecutive input rows: `rows` is a list of dicts or a RecordBatch; `start` is the first row's index."""

    start: int
    rows: list[dict] | pa.RecordBatch
    # Human location of each row for error messages ("line 12"); None means "row <index>".
    locations: list[str] | None = None

    def __len__(self) -> int:
        return len(self.rows) if isinstance(self.rows, list) else self.rows.num_rows

    def where(self, offset: int) -> str:
        return self.locations[offset] if self.locations else f"row {self.start + offset}"

    def column(self, name: str) -> list:
        if isinstance(self.rows, list):
            return [row.get(name, MISSING) for row in self.rows]
        return self.rows.column(name).to_pylist()

    def to_pylist(self) -> list[dict]:
        return self.rows if isinstance(self.rows, list) else self.rows.to_pylist()


class Missing:
    """Stands for a column absent from a JSON row (distinct from null)."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING = Missing()


def detect_format(path: Path) -> str:
    """The format implied by a path: its suffix, or `hf` for a `save_to_disk` directory."""
    if path.is_dir():
        if (path / "state.json").exists():
            return "hf"
        if (path / "dataset_dict.json").exists():
            raise MedrlError(f"{path} is a DatasetDict; point at one split directory inside it, e.g. {path}/train")
        raise MedrlError(f"{path} is a directory but not a Hugging Face save_to_disk dataset (no state.json)")
    fmt = _SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise MedrlError(
            f"{path}: cannot tell the format from the suffix {path.suffix!r}; use one of "
            f"{', '.join(_SUFFIX_FORMATS)} or pass --format ({'|'.join(FORMATS)})"
        )
    return fmt


@dataclass(frozen=True)
class TrainingSource:
    """A training file (or HF directory) to stream; `format` is one of FORMATS."""

    path: Path
    format: str

    def batches(self, batch_size: int) -> Iterator[RowBatch]:
        reader = {
            "jsonl": _jsonl_batches,
            "json": _json_batches,
            "csv": _csv_batches,
            "parquet": _parquet_batches,
            "hf": _hf_batches,
        }[self.format]
        yield from reader(self.path, batch_size)

    def column_names(self) -> list[str] | None:
        """Column names known before reading rows (CSV header, Arrow schema); None for JSON formats."""
        if self.format == "csv":
            with self.path.open(newline="", encoding=_CSV_ENCODING) as handle:
                return next(csv.reader(handle), [])
        schema = self.arrow_schema()
        return schema.names if schema is not None else None

    def arrow_schema(self) -> pa.Schema | None:
        """The input's Arrow schema for Arrow formats (kept for the outputs), else None."""
        if self.format == "parquet":
            return pq.read_schema(self.path)
        if self.format == "hf":
            files = _hf_data_files(self.path)
            with pa.memory_map(str(files[0])) as source:
                return ipc.open_stream(source).schema
        return None


def open_source(path: str | Path, fmt: str | None = None) -> TrainingSource:
    path = Path(path)
    if not path.exists():
        raise MedrlError(f"{path}: no such file or directory")
    if fmt is not None and fmt not in FORMATS:
        raise MedrlError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return TrainingSource(path, fmt or detect_format(path))


def _chunks(rows: list[dict], locations: list[str], batch_size: int) -> Iterator[RowBatch]:
    for start in range(0, len(rows), batch_size):
        yield RowBatch(start, rows[start : start + batch_size], locations[start : start + batch_size])


def _object_or_fail(value: object, path: Path, where: str) -> dict:
    if not isinstance(value, dict):
        raise MedrlError(f"{path}, {where}: expected a JSON object per row, found {type(value).__name__}")
    return value


def _batched(located_rows: Iterator[tuple[dict, str]], batch_size: int) -> Iterator[RowBatch]:
    """Group (row, location) pairs into consecutive RowBatches of `batch_size` rows."""
    rows: list[dict] = []
    locations: list[str] = []
    start = 0
    for row, where in located_rows:
        rows.append(row)
        locations.append(where)
        if len(rows) == batch_size:
            yield RowBatch(start, rows, locations)
            start += len(rows)
            rows, locations = [], []
    if rows:
        yield RowBatch(start, rows, locations)


def _jsonl_rows(path: Path) -> Iterator[tuple[dict, str]]:
    with path.open("rb") as handle:  # binary iteration splits on b"\n" only
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"line {line_number}"
            try:
                value = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise MedrlError(
                    f"{path}, {where}: not valid JSON ({error}); fix or delete that line (one JSON object per line)"
                ) from None
            yield _object_or_fail(value, path, where), where


def _jsonl_batches(path: Path, batch_size: int) -> Iterator[RowBatch]:
    yield from _batched(_jsonl_rows(path), batch_size)


def _json_batches(path: Path, batch_size: int) -> Iterator[RowBatch]:
    try:
        value = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise MedrlError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(value, list):
        raise MedrlError(
            f"{path}: expected a JSON list of row objects, found a {type(value).__name__}; "
            "use .jsonl for one object per line"
        )
    locations = [f"item {index}" for index in range(len(value))]
    rows = [_object_or_fail(row, path, where) for row, where in zip(value, locations, strict=True)]
    yield from _chunks(rows, locations, batch_size)


def _csv_rows(path: Path) -> Iterator[tuple[dict, str]]:
    with path.open(newline="", encoding=_CSV_ENCODING) as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return
        if len(set(header)) != len(header):
            raise MedrlError(f"{path}, line 1: duplicate column names in the header {header}")
        consumed = reader.line_num  # physical lines read so far; a record (maybe multi-line) starts after them
        for values in reader:
            where = f"line {consumed + 1}"
            consumed = reader.line_num
            if not values:
                continue
            if len(values) != len(header):
                raise MedrlError(
                    f"{path}, {where}: {len(values)} fields but the header has {len(header)}; "
                    "quote fields that contain commas or newlines"
                )
            yield dict(zip(header, values, strict=True)), where


def _csv_batches(path: Path, batch_size: int) -> Iterator[RowBatch]:
    yield from _batched(_csv_rows(path), batch_size)


def _arrow_batches(batches: Iterator[pa.RecordBatch], batch_size: int) -> Iterator[RowBatch]:
    """Re-chunk Arrow batches to exactly `batch_size` rows (the last may be shorter)."""
    start = 0
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    for batch in batches:
        pending.append(batch)
        pending_rows += batch.num_rows
        while pending_rows >= batch_size:
            table = pa.Table.from_batches(pending)
            head = table.slice(0, batch_size).combine_chunks().to_batches()
            yield RowBatch(start, head[0] if head else pa.RecordBatch.from_pylist([], schema=table.schema))
            start += batch_size
            rest = table.slice(batch_size)
            pending = rest.to_batches()
            pending_rows = rest.num_rows
    if pending_rows:
        table = pa.Table.from_batches(pending).combine_chunks()
        yield RowBatch(start, table.to_batches()[0])


def _parquet_batches(path: Path, batch_size: int) -> Iterator[RowBatch]:
    try:
        parquet = pq.ParquetFile(path)
    except pa.ArrowException as error:
        raise MedrlError(f"{path}: not a readable Parquet file ({error})") from None
    yield from _arrow_batches(parquet.iter_batches(batch_size=batch_size), batch_size)


def _hf_data_files(path: Path) -> list[Path]:
    try:
        state = json.loads((path / "state.json").read_text(encoding="utf-8"))
        files = [path / entry["filename"] for entry in state["_data_files"]]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise MedrlError(f"{path}/state.json: not a Hugging Face save_to_disk state file ({error})") from None
    if not files:
        raise MedrlError(f"{path}/state.json lists no data files")
    return files


def _hf_batches(path: Path, batch_size: int) -> Iterator[RowBatch]:
    def stream() -> Iterator[pa.RecordBatch]:
        for file in _hf_data_files(path):
            with pa.memory_map(str(file)) as source:
                yield from ipc.open_stream(source)

    yield from _arrow_batches(stream(), batch_size)
