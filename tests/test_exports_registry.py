"""The two registries: every export (`medrl.dataset.exports.EXPORTS`) has what the writer and the dataset card need,
and every file format (`medrl.io.formats.FILE_FORMATS`) is recognised, read and written back unchanged. A new entry
is checked here without a test of its own."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest

from conftest import REPO
from medrl.benchmarks.pack import import_benchmarks
from medrl.dataset.build import build, make_config
from medrl.dataset.exports import EXPORTS, DatasetDictDirectory, Export, Layout, ParquetFiles, write_exports
from medrl.dataset.render import DEFAULT_TEMPLATE, render_problem
from medrl.dataset.sources import Source, TrainingRecord
from medrl.io.formats import (
    FILE_FORMATS,
    FileFormat,
    detect_format,
    estimate_rows,
    open_source,
    open_writer,
    output_name,
)
from medrl.io.readers import RowBatch
from medrl.io.writers import RowWriter

datasets.disable_progress_bars()

RECORD = TrainingRecord(
    row_id=0,
    file="train.jsonl",
    row=0,
    dataset_name="demo",
    id_in_dataset="q1",
    question="Which vitamin deficiency causes scurvy?",
    options=(("A", "Vitamin C"), ("B", "Vitamin D"), ("C", "Iron")),
    answer="Vitamin C",
    reasoning="Scurvy is vitamin C deficiency.",
    label="A",
    label_method="exact",
)
SPLITS = {"train": [RECORD, RECORD], "val": [RECORD]}


@pytest.mark.parametrize("export", EXPORTS.values(), ids=EXPORTS)
def test_every_export_has_a_schema_rows_it_accepts_a_layout_and_a_card_note(export: Export) -> None:
    assert export is EXPORTS[export.name] and isinstance(export.layout, Layout)
    assert isinstance(export.note, str) and export.note.strip()
    problem = render_problem(RECORD.question, RECORD.options, DEFAULT_TEMPLATE)
    row = export.row(RECORD, problem, 0, "train")
    assert list(row) == export.schema.names  # no column the schema would drop, none it would fill with null
    table = export.table([RECORD], [problem], "train")
    assert table.schema == export.schema and table.to_pylist() == [row]


def test_the_card_configs_are_parquet_exports_with_distinct_names_the_default_first() -> None:
    configs = [export for export in EXPORTS.values() if export.config is not None]
    assert configs[0].config == "default"
    assert len({export.config for export in configs}) == len(configs)
    assert all(isinstance(export.layout, ParquetFiles) for export in configs)  # the card's data_files are Parquet


@pytest.mark.parametrize("export", EXPORTS.values(), ids=EXPORTS)
def test_every_export_writes_every_split_where_it_says(export: Export, tmp_path: Path) -> None:
    written = write_exports(SPLITS, tmp_path, (export.name,), DEFAULT_TEMPLATE)
    assert list(written) == [export.name] and list(written[export.name]) == list(SPLITS)
    assert sorted(path.name for path in tmp_path.iterdir()) == [export.name]  # nothing outside its directory
    for split, path in written[export.name].items():
        assert path.startswith(f"{export.name}/")
        source = open_source(tmp_path / path)  # a Parquet file or a save_to_disk split: both are input formats
        assert source.arrow_schema().remove_metadata() == export.schema
        assert sum(len(batch) for batch in source.batches(100)) == len(SPLITS[split])
    if isinstance(export.layout, DatasetDictDirectory):
        loaded = datasets.load_from_disk(str(tmp_path / export.name))
        assert list(loaded) == list(SPLITS) and loaded["train"].num_rows == len(SPLITS["train"])


def test_a_build_card_describes_every_export_and_lists_each_config(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    import_benchmarks(REPO / "examples" / "benchmarks", pack, allow_partial=True)
    source = Source(Path(__file__).parent / "data" / "medreason_sample.jsonl")
    summary = build(make_config(sources=(source,), pack=pack, out=tmp_path / "out"))
    assert list(summary["exports"]) == list(EXPORTS)  # every export by default, in the registry's order
    card = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    header, body = card.split("\n---\n", 1)
    for name, paths in summary["exports"].items():
        export = EXPORTS[name]
        for path in paths.values():
            assert f"| `{path}` | " in body and (tmp_path / "out" / path).exists()
        assert export.note in body
        assert (f"- config_name: {export.config}\n" in header) == (export.config is not None)


# --- file formats ---------------------------------------------------------------------------------------------------

# Text only, so every format (CSV cells are text) gives back exactly what was written; one line per row, so text
# formats' row estimates are exact.
ROWS = [
    {"question": 'Which vitamin? "quoted", commas, é 漢字', "answer": "C"},
    {"question": "a line\u2028separator and a tab\t", "answer": ""},
]


def test_the_formats_have_distinct_names_suffixes_and_outputs() -> None:
    suffixes = [suffix for fmt in FILE_FORMATS.values() for suffix in fmt.suffixes]
    assert len(set(suffixes)) == len(suffixes) and all(suffix == suffix.lower() for suffix in suffixes)
    outputs = [fmt.output_suffix for fmt in FILE_FORMATS.values()]
    assert len(set(outputs)) == len(outputs)
    for name, fmt in FILE_FORMATS.items():
        assert fmt.name == name and issubclass(fmt.writer, RowWriter)
        assert fmt.output_suffix in (*fmt.suffixes, "")  # an output is read back as its own format


@pytest.mark.parametrize("fmt", FILE_FORMATS.values(), ids=FILE_FORMATS)
def test_every_format_round_trips_a_small_table(fmt: FileFormat, tmp_path: Path) -> None:
    path = tmp_path / output_name("rows", fmt.name)
    writer = open_writer(path, fmt.name, None, None)
    writer.write(RowBatch(0, ROWS), list(range(len(ROWS))))
    writer.commit()
    assert detect_format(path) == fmt.name
    source = open_source(path)
    assert source.file_format is fmt
    assert [row for batch in source.batches(1) for row in batch.to_pylist()] == ROWS
    assert source.column_names() in (None, list(ROWS[0]))  # known up front, or not at all (JSON)
    assert (source.arrow_schema() is None) == (fmt.arrow_schema is None)
    assert estimate_rows(source)[0] == len(ROWS)
