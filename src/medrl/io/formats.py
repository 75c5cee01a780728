"""The file formats medrl reads and writes, one `FileFormat` each in `FILE_FORMATS`: a path's format, how it is
read and how it is written all come from its entry, so a new format is one entry (with its reader functions in
`medrl.io.readers` and its writer class in `medrl.io.writers`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from medrl.errors import MedrlError
from medrl.io.readers import (
    RowBatch,
    csv_batches,
    csv_estimate,
    csv_header,
    hf_batches,
    hf_estimate,
    hf_schema,
    json_batches,
    json_estimate,
    jsonl_batches,
    jsonl_estimate,
    parquet_batches,
    parquet_estimate,
    parquet_schema,
)
from medrl.io.writers import CsvWriter, HfDatasetWriter, JsonListWriter, JsonlWriter, ParquetWriter, RowWriter


@dataclass(frozen=True)
class FileFormat:
    """One file format: the suffixes that name it, how its rows are read, and the writer that writes them."""

    name: str
    suffixes: tuple[str, ...]  # lower-case input suffixes that mean this format; () for a directory format
    output_suffix: str  # appended to an output's stem ("" for a directory)
    batches: Callable[[Path, int], Iterator[RowBatch]]  # the rows, in batches of the given size
    estimate: Callable[[Path], tuple[int, bool]]  # (rows, exact) for a progress display
    writer: type[RowWriter]  # called (path, schema, columns, extra_column, extra_type)
    arrow_schema: Callable[[Path], pa.Schema] | None = None  # Arrow formats: the input's types, kept in the outputs
    header: Callable[[Path], list[str]] | None = None  # column names a text format gives before its rows


@dataclass(frozen=True)
class TrainingSource:
    """A training file (or HF directory) to stream in `file_format` (see `medrl.io.formats.open_source`)."""

    path: Path
    file_format: FileFormat

    @property
    def format(self) -> str:
        """The format's name, one of `medrl.io.formats.FORMATS`."""
        return self.file_format.name

    def batches(self, batch_size: int) -> Iterator[RowBatch]:
        yield from self.file_format.batches(self.path, batch_size)

    def column_names(self) -> list[str] | None:
        """Column names known before reading rows (CSV header, Arrow schema); None for JSON formats."""
        if self.file_format.header is not None:
            return self.file_format.header(self.path)
        schema = self.arrow_schema()
        return schema.names if schema is not None else None

    def arrow_schema(self) -> pa.Schema | None:
        """The input's Arrow schema for Arrow formats (kept for the outputs), else None."""
        return self.file_format.arrow_schema(self.path) if self.file_format.arrow_schema is not None else None


def estimate_rows(source: TrainingSource) -> tuple[int, bool]:
    """(rows, exact) for a progress display: Arrow formats know their rows; text formats are counted exactly when
    they fit in one sample, else estimated from the rows in the first MiB scaled by the file's size."""
    return source.file_format.estimate(source.path)


FILE_FORMATS: dict[str, FileFormat] = {
    fmt.name: fmt
    for fmt in (
        FileFormat("jsonl", (".jsonl", ".ndjson"), ".jsonl", jsonl_batches, jsonl_estimate, JsonlWriter),
        FileFormat("json", (".json",), ".json", json_batches, json_estimate, JsonListWriter),
        FileFormat("csv", (".csv",), ".csv", csv_batches, csv_estimate, CsvWriter, header=csv_header),
        FileFormat(
            "parquet", (".parquet",), ".parquet", parquet_batches, parquet_estimate, ParquetWriter, parquet_schema
        ),
        # A Hugging Face `save_to_disk` directory (one split): recognised by its state.json, not a suffix.
        FileFormat("hf", (), "", hf_batches, hf_estimate, HfDatasetWriter, hf_schema),
    )
}
FORMATS = tuple(FILE_FORMATS)
OUTPUT_SUFFIX = {name: fmt.output_suffix for name, fmt in FILE_FORMATS.items()}
_SUFFIX_FORMATS = {suffix: name for name, fmt in FILE_FORMATS.items() for suffix in fmt.suffixes}


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
            f"{path}: cannot tell the format from the suffix {path.suffix!r}; rename it to one of "
            f"{', '.join(_SUFFIX_FORMATS)} or pass --input-format ({'|'.join(FORMATS)})"
        )
    return fmt


def open_source(path: str | Path, fmt: str | None = None) -> TrainingSource:
    path = Path(path)
    if not path.exists():
        raise MedrlError(f"{path}: no such file or directory")
    if fmt is not None and fmt not in FILE_FORMATS:
        raise MedrlError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return TrainingSource(path, FILE_FORMATS[fmt or detect_format(path)])


def output_name(stem: str, fmt: str) -> str:
    return f"{stem}{FILE_FORMATS[fmt].output_suffix}"


def open_writer(
    path: Path,
    fmt: str,
    schema: pa.Schema | None,
    columns: list[str] | None,
    extra_column: str | None = None,
    extra_type: pa.DataType | None = None,
) -> RowWriter:
    """A writer for `fmt`.

    `schema` is the input's Arrow schema (Arrow inputs) so types are kept exactly; `columns` the input's column
    names when known up front (a CSV header, so an empty output still has one).
    """
    return FILE_FORMATS[fmt].writer(path, schema, columns, extra_column, extra_type)
