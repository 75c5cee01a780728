"""The file formats medrl reads and writes, one `FileFormat` each in `FILE_FORMATS`: a path's format, how it is
read and how it is written all come from its entry, so a new format is one entry (with its reader functions in
`medrl.io.readers` and its writer class in `medrl.io.writers`).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import re
import shutil
import stat
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from medrl.errors import MedrlError
from medrl.io.files import sha256_file, sha256_path, size_of
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
    """A training file (or HF directory), or a set of shards read as one input in shard order, to stream in
    `file_format` (see `open_source`). `path` is the input as given (a file, a directory, a glob pattern, a stream;
    `<stdin>` for `-`): reports and errors name it."""

    path: Path
    file_format: FileFormat
    shards: tuple[Path, ...] = ()  # the files of a sharded input, in order; () for one file
    spooled: Path | None = None  # a stream's one copy, read in its place (see `open_source`)

    @property
    def format(self) -> str:
        """The format's name, one of `medrl.io.formats.FORMATS`."""
        return self.file_format.name

    @property
    def files(self) -> tuple[Path, ...]:
        """What is read: the shards, a stream's copy, or the one path."""
        return self.shards or (self.spooled or self.path,)

    @contextlib.contextmanager
    def named_as_given(self) -> Iterator[None]:
        """Errors of the block name a stream as given (`<stdin>, line 3`), not its temporary copy."""
        try:
            yield
        except MedrlError as error:
            if self.spooled is None:
                raise
            raise type(error)(str(error).replace(str(self.spooled), str(self.path))) from None

    def batches(self, batch_size: int) -> Iterator[RowBatch]:
        """Every row in order; a sharded input's rows are numbered across shards and located by shard."""
        if not self.shards:
            with self.named_as_given():
                yield from self.file_format.batches(self.files[0], batch_size)
            return
        shard_start = 0
        for shard in self.shards:
            rows = 0
            for batch in self.file_format.batches(shard, batch_size):
                places = [f"{shard.name}, {batch.where(offset)}" for offset in range(len(batch))]
                yield RowBatch(shard_start + batch.start, batch.rows, places)
                rows = batch.start + len(batch)
            shard_start += rows

    def column_names(self) -> list[str] | None:
        """Column names known before reading rows (CSV header, Arrow schema); None for JSON formats."""
        if self.file_format.header is not None:
            with self.named_as_given():
                return self.file_format.header(self.files[0])
        schema = self.arrow_schema()
        return schema.names if schema is not None else None

    def arrow_schema(self) -> pa.Schema | None:
        """The input's Arrow schema for Arrow formats (kept for the outputs), else None; shards must agree."""
        if self.file_format.arrow_schema is None:
            return None
        with self.named_as_given():
            schemas = [self.file_format.arrow_schema(shard) for shard in self.files]
        for shard, schema in zip(self.files[1:], schemas[1:], strict=True):
            if not schema.equals(schemas[0]):
                raise MedrlError(
                    f"{shard}: its columns ({', '.join(schema.names)}) differ from {self.files[0].name}'s "
                    f"({', '.join(schemas[0].names)}); shards of one input must share their schema"
                )
        return schemas[0]

    def sha256(self) -> str:
        """sha256 of what is read: a file's or directory's (`sha256_path`), or of the shards' names and hashes."""
        if not self.shards:
            return sha256_path(self.files[0])
        digest = hashlib.sha256()
        for shard in self.shards:
            digest.update(f"{shard.name}\0{sha256_file(shard)}\n".encode())
        return digest.hexdigest()

    def size(self) -> int:
        return sum(size_of(file) for file in self.files)


def estimate_rows(source: TrainingSource) -> tuple[int, bool]:
    """(rows, exact) for a progress display: Arrow formats know their rows; text formats are counted exactly when
    they fit in one sample, else estimated from the rows in the first MiB scaled by the file's size."""
    with source.named_as_given():
        estimates = [source.file_format.estimate(file) for file in source.files]
    return sum(rows for rows, _ in estimates), all(exact for _, exact in estimates)


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
SUFFIX_FORMATS = {suffix: name for name, fmt in FILE_FORMATS.items() for suffix in fmt.suffixes}


def detect_format(path: Path) -> str:
    """The format implied by a path: its suffix, or `hf` for a `save_to_disk` directory."""
    if path.is_dir():
        if (path / "state.json").exists():
            return "hf"
        if (path / "dataset_dict.json").exists():
            raise MedrlError(f"{path} is a DatasetDict; point at one split directory inside it, e.g. {path}/train")
        raise MedrlError(f"{path} is a directory but not a Hugging Face save_to_disk dataset (no state.json)")
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise MedrlError(
            f"{path}: cannot tell the format from the suffix {path.suffix!r}; rename it to one of "
            f"{', '.join(SUFFIX_FORMATS)} or pass --input-format ({'|'.join(FORMATS)})"
        )
    return fmt


_GLOB = re.compile(r"[*?\[]")
STDIN = "-"


def is_stream(path: str | Path) -> bool:
    """Standard input (`-`), a pipe, a FIFO or a process substitution (`/dev/fd/N`): bytes that can be read once."""
    if str(path) == STDIN:
        return True
    try:
        mode = os.stat(path).st_mode  # never opens it, so a FIFO without a writer does not block here
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def open_source(path: str | Path, fmt: str | None = None, scratch: Path | None = None) -> TrainingSource:
    """A training input: a file, a Hugging Face `save_to_disk` directory, or shards read as one input in name order:
    a directory of files of one format, or a glob pattern (`data/train-*.parquet`).

    Every input is read more than once (hashed, counted, its header or schema read, then its rows), so a stream
    (`is_stream`) is first copied once into `scratch`, a directory the caller removes; without one it is refused.
    """
    if fmt is not None and fmt not in FILE_FORMATS:
        raise MedrlError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if is_stream(path):
        return _spooled(path, fmt, scratch)
    path = Path(path)
    if not path.exists() and _GLOB.search(str(path)):
        return sharded(path, sorted(Path(found) for found in glob.glob(str(path)) if Path(found).is_file()), fmt)
    if not path.exists():
        raise MedrlError(f"{path}: no such file or directory")
    if path.is_dir() and not _looks_like_hf(path):
        shards = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIX_FORMATS)
        return sharded(path, shards, fmt)
    return TrainingSource(path, FILE_FORMATS[fmt or detect_format(path)])


def _spooled(path: str | Path, fmt: str | None, scratch: Path | None) -> TrainingSource:
    """A stream copied once into `scratch`, read from there; its format comes from its name or `fmt`."""
    given = Path("<stdin>" if str(path) == STDIN else path)
    if scratch is None:
        raise MedrlError(
            f"{given}: a stream (standard input, a pipe or a FIFO) can be read only once and this command reads its "
            "input several times; save it to a file first"
        )
    fmt = fmt or SUFFIX_FORMATS.get(given.suffix.lower())
    if fmt is None:
        stream_formats = "|".join(name for name, entry in FILE_FORMATS.items() if entry.suffixes)
        raise MedrlError(
            f"{given}: cannot tell a stream's format from its name; pass --input-format ({stream_formats})"
        )
    if not FILE_FORMATS[fmt].suffixes:
        raise MedrlError(f"{given}: a {fmt} dataset is a directory, not a stream; give the directory itself")
    copy = scratch / f"input{FILE_FORMATS[fmt].output_suffix}"
    with contextlib.ExitStack() as files:
        reader = sys.stdin.buffer if str(path) == STDIN else files.enter_context(open(path, "rb"))
        shutil.copyfileobj(reader, files.enter_context(copy.open("wb")), 1 << 20)
    return TrainingSource(given, FILE_FORMATS[fmt], spooled=copy)


def _looks_like_hf(directory: Path) -> bool:
    """A `save_to_disk` directory, whole or damaged (then `detect_format` says what is wrong), not shards."""
    markers = ("state.json", "dataset_dict.json", "dataset_info.json")
    return any((directory / name).exists() for name in markers) or any(directory.glob("*.arrow"))


def sharded(path: Path, shards: list[Path], fmt: str | None) -> TrainingSource:
    """Shards of one format as one input; refused when there are none or their formats differ."""
    if not shards and _GLOB.search(str(path)) and not path.exists():
        raise MedrlError(f"{path}: no shards match this pattern; check the pattern (quote it in a shell)")
    if not shards:
        known = ", ".join(SUFFIX_FORMATS)
        raise MedrlError(
            f"{path}: no shards ({known} files) there, and not a Hugging Face save_to_disk dataset (no state.json)"
        )
    formats = {fmt or detect_format(shard) for shard in shards}
    if len(formats) > 1:
        raise MedrlError(f"{path}: its shards are of several formats ({', '.join(sorted(formats))}); give one format")
    return TrainingSource(path, FILE_FORMATS[formats.pop()], tuple(shards))


def output_name(stem: str, fmt: str) -> str:
    return f"{stem}{FILE_FORMATS[fmt].output_suffix}"


def open_writer(
    path: Path,
    fmt: str,
    schema: pa.Schema | None,
    columns: list[str] | None,
    extra_column: str | None = None,
    extra_type: pa.DataType | None = None,
    csv_safe: bool = False,
) -> RowWriter:
    """A writer for `fmt`.

    `schema` is the input's Arrow schema (Arrow inputs) so types are kept exactly; `columns` the input's column
    names when known up front (a CSV header, so an empty output still has one). `csv_safe`: a CSV writer defuses
    cells a spreadsheet would run as formulas (see `CsvWriter`); other formats are not opened in spreadsheets.
    """
    writer = FILE_FORMATS[fmt].writer(path, schema, columns, extra_column, extra_type)
    if isinstance(writer, CsvWriter):
        writer.safe = csv_safe
    return writer
