"""Write row batches in any supported format, atomically: a run that fails leaves no half-written output.

Each writer writes into a temporary sibling and only `commit()` renames it into place; `abort()` deletes it.
Removed rows get one extra column (the evidence) appended after the input's own columns. Each format's writer class
is named in its entry of the format registry (`medrl.io.formats`), whose `open_writer` opens one.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from medrl.errors import MedrlError
from medrl.io.readers import RowBatch


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates 0600 files; outputs get the usual permissions instead.
_FILE_MODE = 0o666 & ~_current_umask()
_DIR_MODE = 0o777 & ~_current_umask()


def _temp_sibling(path: Path) -> Path:
    """An empty temporary file next to `path` (same filesystem, so the final rename is atomic)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, _FILE_MODE)
    return Path(tmp)


def _json_default(value: object) -> object:
    """JSON for Arrow values json cannot encode (dates, decimals, bytes): their text form."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _finite(value: object) -> object:
    """`value` with NaN and infinities (not JSON) replaced by null, at any depth."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def dumps(value: object, indent: int | None = None) -> str:
    """Valid JSON that is also valid UTF-8, whatever the row holds: NaN and infinities (which JSON lacks) become
    null, and text with a lone surrogate (valid in a JSON string escape, not in UTF-8) is written with escapes,
    which read back as the same string."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=_json_default, allow_nan=False, indent=indent)
    except ValueError:
        text = json.dumps(_finite(value), ensure_ascii=False, default=_json_default, allow_nan=False, indent=indent)
    if not text.isascii() and _SURROGATE.search(text):
        text = json.dumps(_finite(value), ensure_ascii=True, default=_json_default, allow_nan=False, indent=indent)
    return text


def utf8_safe(value: object) -> object:
    """`value` with lone surrogates (text no UTF-8 file can hold: Arrow and CSV outputs) replaced by U+FFFD."""
    if isinstance(value, str):
        return value if value.isascii() else _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {key: utf8_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [utf8_safe(item) for item in value]
    return value


class RowWriter:
    """Base: a temporary target, renamed into place on commit.

    Every format's writer takes the same arguments, so the format registry opens any of them alike: `schema` is the
    input's Arrow schema (Arrow inputs) and `columns` its column names when known up front; each format keeps what
    it can hold. `extra_column` (of `extra_type`) is appended after the input's columns.
    """

    def __init__(
        self,
        path: Path,
        schema: pa.Schema | None,
        columns: list[str] | None,
        extra_column: str | None = None,
        extra_type: pa.DataType | None = None,
    ) -> None:
        self.path = path
        self.extra_column = extra_column
        self.extra_type = extra_type
        self.rows_written = 0
        self.tmp = _temp_sibling(path)

    def write(self, batch: RowBatch, indices: list[int], extra: list | None = None) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        self._close()
        _replace(self.tmp, self.path)

    def abort(self) -> None:
        """Delete the temporary output; never raises, so every writer of a failed run gets cleaned up."""
        with contextlib.suppress(Exception):
            self._close()
        _remove(self.tmp)

    def _selected_dicts(self, batch: RowBatch, indices: list[int], extra: list | None) -> list[dict]:
        rows = batch.to_pylist()
        selected = [dict(rows[i]) if extra is not None else rows[i] for i in indices]
        if extra is not None:
            for row, value in zip(selected, extra, strict=True):
                if self.extra_column in row:
                    raise MedrlError(f"the input already has a column named {self.extra_column!r}; rename it first")
                row[self.extra_column] = value
        return selected


def _refuse_existing(columns: list[str] | None, extra_column: str | None) -> None:
    if extra_column is not None and columns is not None and extra_column in columns:
        raise MedrlError(f"the input already has a column named {extra_column!r}; rename it first")


def _atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Run `write(tmp)` on a temporary sibling of `path`, then rename it into place (or delete it on error)."""
    tmp = _temp_sibling(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_parquet_atomic(table: pa.Table, path: Path) -> None:
    _atomic(path, lambda tmp: pq.write_table(table, tmp))


def write_text_atomic(path: Path, text: str) -> None:
    _atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json_atomic(path: Path, value: object) -> None:
    text = dumps(value, indent=2) + "\n"
    _atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _replace(tmp: Path, target: Path) -> None:
    """Rename tmp onto target; a directory target is swapped out first (rename cannot replace a directory)."""
    if target.is_dir():
        trash = target.with_name(f".{target.name}.old")
        _remove(trash)
        target.rename(trash)
        tmp.rename(target)
        _remove(trash)
    else:
        os.replace(tmp, target)


class _TextWriter(RowWriter):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.handle: IO[str] = self.tmp.open("w", encoding="utf-8", newline="")

    def _close(self) -> None:
        if not self.handle.closed:
            self._finish()
            self.handle.close()

    def _finish(self) -> None:
        """Write any trailer before the file closes."""


class JsonlWriter(_TextWriter):
    def write(self, batch: RowBatch, indices: list[int], extra: list | None = None) -> None:
        for row in self._selected_dicts(batch, indices, extra):
            self.handle.write(dumps(row))
            self.handle.write("\n")
        self.rows_written += len(indices)


class JsonListWriter(_TextWriter):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.handle.write("[")

    def write(self, batch: RowBatch, indices: list[int], extra: list | None = None) -> None:
        for row in self._selected_dicts(batch, indices, extra):
            self.handle.write(",\n" if self.rows_written else "\n")
            self.handle.write(dumps(row))
            self.rows_written += 1

    def _finish(self) -> None:
        self.handle.write("\n]\n" if self.rows_written else "]\n")


class CsvWriter(_TextWriter):
    """CSV cells are text: nested values and the evidence column are JSON-encoded. Records end in "\n" (as most
    inputs do; the csv module's default is "\r\n").

    Cells a spreadsheet would run as formulas (`is_formula`) are training data and are written as they are, but
    counted (`formulas`, the first in `first_formula`) so the run can warn; with `safe` (`--csv-safe`) each is
    written with a leading `'`, which spreadsheets read as "text follows".
    """

    def __init__(
        self,
        path: Path,
        schema: pa.Schema | None,
        columns: list[str] | None,
        extra_column: str | None = None,
        extra_type: pa.DataType | None = None,
    ) -> None:
        _refuse_existing(columns, extra_column)  # before any temporary file exists
        super().__init__(path, schema, columns, extra_column, extra_type)
        self.writer = csv.writer(self.handle, lineterminator="\n")
        self.columns = columns
        self.header: list[str] | None = None
        self.safe = False
        self.formulas = 0
        self.first_formula: tuple[int, str] | None = None  # (input row, where: line and column)

    def write(self, batch: RowBatch, indices: list[int], extra: list | None = None) -> None:
        rows = self._selected_dicts(batch, indices, extra)
        if self.columns is None and rows:
            self.columns = [name for name in rows[0] if name != self.extra_column]
        self._write_header()
        known = set(self.header or ())
        for offset, row in zip(indices, rows, strict=True):
            unknown = [name for name in row if name not in known]
            if unknown:
                raise MedrlError(
                    f"cannot write {self.path.name} as csv: a row has columns {unknown} that the header "
                    f"{self.header} lacks (rows differ in their columns); pass --format jsonl"
                )
            cells = [_csv_cell(row.get(name)) for name in self.header or ()]
            self._write_record(cells, batch.start + offset, batch.where(offset))
        self.rows_written += len(rows)

    def _write_header(self) -> None:
        if self.header is None and self.columns is not None:
            self.header = [*self.columns, *([self.extra_column] if self.extra_column else [])]
            self._write_record(list(self.header), -1, "the header")

    def _write_record(self, cells: list[str], position: int, where: str) -> None:
        """One record, its formula-like cells counted (and with `safe`, prefixed with `'`)."""
        for column, cell in enumerate(cells):
            if is_formula(cell):
                self.formulas += 1
                if self.first_formula is None:  # records arrive in input order
                    self.first_formula = (position, f"{where}, column {(self.header or [])[column]!r}")
                if self.safe:
                    cells[column] = "'" + cell
        self.writer.writerow(cells)

    def _finish(self) -> None:
        self._write_header()


def is_formula(cell: str) -> bool:
    """A cell a spreadsheet would evaluate: it starts with `=`, `+`, `-` or `@` and is not a plain number ("-5")."""
    if not cell.startswith(("=", "+", "-", "@")):
        return False
    try:
        float(cell)
    except ValueError:
        return True
    return False


def formula_note(writers: list[RowWriter]) -> list[str]:
    """One line about the CSV outputs' formula-like cells (see `CsvWriter`), or none when they hold none."""
    found = [writer for writer in writers if isinstance(writer, CsvWriter) and writer.first_formula is not None]
    if not found:
        return []
    count = sum(writer.formulas for writer in found)
    _, first = min(writer.first_formula for writer in found if writer.first_formula is not None)
    if found[0].safe:
        return [f"{count:,} CSV cells start with =, +, - or @ (first: {first}); --csv-safe wrote them after a '"]
    return [
        f"{count:,} CSV cells start with =, +, - or @ (first: {first}): a spreadsheet opening the CSV outputs would "
        "run them as formulas; they are written verbatim (training data), --csv-safe writes them after a '"
    ]


def _csv_cell(value: object) -> str:
    """CSV cells are text: nested values as JSON, lone surrogates as U+FFFD (a CSV file has no escapes)."""
    if value is None:
        return ""
    return str(utf8_safe(value)) if isinstance(value, str) else dumps(value)


class _ArrowWriter(RowWriter):
    """Arrow-native rows stream through untouched; dict rows are collected and typed once at commit."""

    def __init__(
        self,
        path: Path,
        schema: pa.Schema | None,
        columns: list[str] | None,
        extra_column: str | None = None,
        extra_type: pa.DataType | None = None,
    ) -> None:
        _refuse_existing(schema.names if schema is not None else None, extra_column)  # before the temporary file
        super().__init__(path, schema, columns, extra_column, extra_type)
        self.schema = schema
        if schema is not None and extra_column is not None:
            self.schema = schema.append(pa.field(extra_column, extra_type))
        self.pending_dicts: list[dict] = []
        self.closed = False

    def write(self, batch: RowBatch, indices: list[int], extra: list | None = None) -> None:
        if isinstance(batch.rows, pa.RecordBatch) and self.schema is not None:
            selected = batch.rows.take(pa.array(indices, type=pa.int64()))
            if extra is not None:
                selected = selected.append_column(
                    pa.field(self.extra_column, self.extra_type), pa.array(extra, type=self.extra_type)
                )
            self._write_arrow(selected)
        else:
            self.pending_dicts.extend(self._selected_dicts(batch, indices, extra))
        self.rows_written += len(indices)

    def _dict_table(self) -> pa.Table:
        """The collected rows as a table with every column any row has (absent values become null)."""
        # Not Table.from_pylist: it keeps only the first row's keys, silently dropping columns later rows add.
        names = list(dict.fromkeys(name for row in self.pending_dicts for name in row))
        columns = {name: [row.get(name) for row in self.pending_dicts] for name in names}
        try:
            try:
                return pa.Table.from_pydict(columns)
            except UnicodeEncodeError:  # a lone surrogate: Arrow strings are UTF-8
                return pa.Table.from_pydict(utf8_safe(columns))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            raise MedrlError(
                f"cannot write {self.path.name} as {type(self).__name__[:-6].lower()}: a column mixes value "
                f"types ({error}); write the same format as the input or pass --format jsonl"
            ) from None

    def _close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.schema is None:
            table = self._dict_table()
            self.schema = table.schema
            self._write_arrow(table)
        self._finish_arrow()

    def _write_arrow(self, data: pa.RecordBatch | pa.Table) -> None:
        raise NotImplementedError

    def _finish_arrow(self) -> None:
        raise NotImplementedError


class ParquetWriter(_ArrowWriter):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.writer: pq.ParquetWriter | None = None

    def _write_arrow(self, data: pa.RecordBatch | pa.Table) -> None:
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.tmp, self.schema)
        self.writer.write(data if isinstance(data, pa.Table) else pa.Table.from_batches([data]))

    def _finish_arrow(self) -> None:
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.tmp, self.schema)
        self.writer.close()


class HfDatasetWriter(_ArrowWriter):
    """A directory `datasets.load_from_disk` opens: one Arrow stream file plus state.json and dataset_info.json."""

    DATA_FILE = "data-00000-of-00001.arrow"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.tmp.unlink()
        self.tmp.mkdir(mode=_DIR_MODE)
        self.writer: ipc.RecordBatchStreamWriter | None = None

    def _write_arrow(self, data: pa.RecordBatch | pa.Table) -> None:
        if self.writer is None:
            self.writer = ipc.new_stream(str(self.tmp / self.DATA_FILE), self.schema)
        self.writer.write(data)

    def _finish_arrow(self) -> None:
        if self.writer is None:
            self.writer = ipc.new_stream(str(self.tmp / self.DATA_FILE), self.schema)
        self.writer.close()
        state: dict[str, object] = {
            "_data_files": [{"filename": self.DATA_FILE}],
            "_fingerprint": None,
            "_format_columns": None,
            "_format_kwargs": {},
            "_format_type": None,
            "_output_all_columns": False,
            "_split": None,
        }
        (self.tmp / "state.json").write_text(json.dumps(state, indent=2), encoding="utf-8")
        (self.tmp / "dataset_info.json").write_text(json.dumps({"description": "written by medrl"}), "utf-8")
