"""Read training files of any supported format as a stream of row batches, keeping every column unchanged.

JSON-like formats (jsonl, json, csv) give rows as dicts; Arrow formats (parquet, a Hugging Face `save_to_disk`
directory) give `pyarrow.RecordBatch`es so types survive untouched. JSONL is split on "\n" only: real question
texts contain U+2028/U+2029/U+0085, which `str.splitlines()` would wrongly treat as line breaks.

Each format's reading functions are named in its entry of the format registry (`medrl.io.formats`), which also
picks a path's format and opens sources.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from medrl.errors import MedrlError

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


# Bytes read from the start of a text file to estimate its rows (progress display only).
_SAMPLE_BYTES = 2**20


def _sampled_estimate(path: Path, count: Callable[[bytes, bool], int], exact: bool) -> tuple[int, bool]:
    """(rows, exact) of a text file from its first `_SAMPLE_BYTES`: `count(sample, whole)` rows are in the sample;
    scaled by the file's size unless the sample is the whole file (then the count is exact if `exact`)."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        sample = handle.read(_SAMPLE_BYTES)
    whole = len(sample) == size
    rows = count(sample, whole)
    if whole:
        return rows, exact
    return max(round(rows * size / len(sample)), rows), False


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


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """JSON objects with a key twice are ambiguous (parsers keep one silently): refused, naming the key."""
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return value


def _parse_json(data: bytes | str, path: Path, where: str, fix: str) -> object:
    try:
        return json.loads(data, object_pairs_hook=_unique_keys)
    except _DuplicateKey as error:
        raise MedrlError(f"{path}{where}: an object has the key {str(error)!r} twice; keep one of them") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
        raise MedrlError(f"{path}{where}: not valid JSON ({reason}); {fix}") from None


def _jsonl_rows(path: Path) -> Iterator[tuple[dict, str]]:
    with path.open("rb") as handle:  # binary iteration splits on b"\n" only
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"line {line_number}"
            fix = "fix or delete that line (one JSON object per line, UTF-8)"
            value = _parse_json(line, path, f", {where}", fix)
            yield _object_or_fail(value, path, where), where


def jsonl_batches(path: Path, batch_size: int) -> Iterator[RowBatch]:
    yield from _batched(_jsonl_rows(path), batch_size)


def _jsonl_sample_rows(sample: bytes, whole: bool) -> int:
    lines = sample.split(b"\n")
    return sum(1 for line in (lines if whole else lines[:-1]) if line.strip())


def jsonl_estimate(path: Path) -> tuple[int, bool]:
    return _sampled_estimate(path, _jsonl_sample_rows, exact=True)


def json_batches(path: Path, batch_size: int) -> Iterator[RowBatch]:
    value = _parse_json(path.read_bytes(), path, "", "fix the file (a JSON list of objects, UTF-8)")
    if not isinstance(value, list):
        raise MedrlError(
            f"{path}: expected a JSON list of row objects, found a {type(value).__name__}; "
            "use .jsonl for one object per line"
        )
    locations = [f"item {index}" for index in range(len(value))]
    rows = [_object_or_fail(row, path, where) for row, where in zip(value, locations, strict=True)]
    yield from _chunks(rows, locations, batch_size)


def json_estimate(path: Path) -> tuple[int, bool]:
    # A JSON list of objects: object boundaries between rows.
    return _sampled_estimate(path, lambda sample, whole: sample.count(b"},") + 1, exact=False)


_DELIMITERS = ",;\t|"


def _csv_records(path: Path) -> Iterator[tuple[list[str], int]]:
    """The CSV's records (the header first), each with the physical line it starts on. The delimiter is read from
    the header line: a comma unless the header has none and another of `;`, tab, `|` (spreadsheet exports in many
    locales use `;`)."""
    try:
        with path.open(newline="", encoding=_CSV_ENCODING) as handle:
            first = handle.readline()
            counts = {delimiter: first.count(delimiter) for delimiter in _DELIMITERS}
            delimiter = "," if counts[","] else max(_DELIMITERS, key=lambda d: (counts[d], d == ","))
            handle.seek(0)
            reader = csv.reader(handle, delimiter=delimiter)
            consumed = 0  # physical lines read so far; a record (maybe multi-line) starts after them
            for record in reader:
                yield record, consumed + 1
                consumed = reader.line_num
    except UnicodeDecodeError as error:
        raise MedrlError(
            f"{path}: not UTF-8 text (byte {error.object[error.start]:#04x} at byte {error.start}); re-save it as "
            "UTF-8, e.g. `iconv -f latin1 -t utf-8 IN > OUT`"
        ) from None
    except csv.Error as error:
        raise MedrlError(f"{path}: not readable as CSV ({error}); check its quoting") from None


def csv_header(path: Path) -> list[str]:
    return next(_csv_records(path), ([], 0))[0]


def _csv_rows(path: Path) -> Iterator[tuple[dict, str]]:
    records = _csv_records(path)
    header, _ = next(records, (None, 0))
    if header is None:
        return
    if len(set(header)) != len(header):
        raise MedrlError(f"{path}, line 1: duplicate column names in the header {header}")
    for values, line in records:
        where = f"line {line}"
        if not values:
            continue
        if len(values) != len(header):
            raise MedrlError(
                f"{path}, {where}: {len(values)} fields but the header has {len(header)}; "
                "quote fields that contain the delimiter or newlines"
            )
        yield dict(zip(header, values, strict=True)), where


def csv_batches(path: Path, batch_size: int) -> Iterator[RowBatch]:
    yield from _batched(_csv_rows(path), batch_size)


def csv_estimate(path: Path) -> tuple[int, bool]:
    # Records are mostly one line; quoted newlines make this high.
    return _sampled_estimate(path, lambda sample, whole: max(sample.count(b"\n") - 1, 0), exact=False)


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


def _checked(batches: Iterator[pa.RecordBatch], path: Path, fix: str) -> Iterator[pa.RecordBatch]:
    """Arrow batches, a damaged file's error (mid-way too) turned into one line naming the file and the fix."""
    try:
        yield from batches
    except (pa.ArrowException, OSError) as error:
        raise MedrlError(f"{path}: cannot read the data ({error}); {fix}") from None


_PARQUET_FIX = "check that the Parquet file is complete (re-export it)"


def _open_parquet(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as error:
        raise MedrlError(f"{path}: not a readable Parquet file ({error}); {_PARQUET_FIX}") from None


def parquet_batches(path: Path, batch_size: int) -> Iterator[RowBatch]:
    parquet = _open_parquet(path)
    yield from _arrow_batches(_checked(parquet.iter_batches(batch_size=batch_size), path, _PARQUET_FIX), batch_size)


def parquet_schema(path: Path) -> pa.Schema:
    return _open_parquet(path).schema_arrow


def parquet_estimate(path: Path) -> tuple[int, bool]:
    return _open_parquet(path).metadata.num_rows, True


def _hf_data_files(path: Path) -> list[Path]:
    where = f"{path}/state.json"
    try:
        state = json.loads((path / "state.json").read_text(encoding="utf-8"))
        files = [path / entry["filename"] for entry in state["_data_files"]]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise MedrlError(f"{where}: not a Hugging Face save_to_disk state file ({error})") from None
    if not files:
        raise MedrlError(f"{where} lists no data files; re-save the dataset with save_to_disk")
    for file in files:
        if Path(file.name) != Path(file.relative_to(path)) or not file.is_file():
            raise MedrlError(f"{where} lists the data file {file.name!r}, which is missing; re-save the dataset")
    return files


_HF_FIX = "re-save the dataset with `datasets.Dataset.save_to_disk`"


def hf_schema(path: Path) -> pa.Schema:
    file = _hf_data_files(path)[0]
    try:
        with pa.memory_map(str(file)) as source:
            return ipc.open_stream(source).schema
    except (pa.ArrowException, OSError) as error:
        raise MedrlError(f"{file}: not a readable Arrow stream file ({error}); {_HF_FIX}") from None


def _hf_stream(path: Path) -> Iterator[pa.RecordBatch]:
    for file in _hf_data_files(path):
        with pa.memory_map(str(file)) as source:
            yield from ipc.open_stream(source)


def hf_batches(path: Path, batch_size: int) -> Iterator[RowBatch]:
    yield from _arrow_batches(_checked(_hf_stream(path), path, _HF_FIX), batch_size)


def hf_estimate(path: Path) -> tuple[int, bool]:
    return sum(batch.num_rows for batch in _checked(_hf_stream(path), path, _HF_FIX)), True
