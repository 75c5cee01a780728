"""Write the kept records in the formats RL trainers read, each file atomically.

* `parquet`: the II-Medical-RL schema (dataset_name, id_in_dataset, question, answer, reasoning, options, problem,
  label), `parquet/<split>.parquet`.
* `verl`: the columns verl's `RLHFDataset` reads (data_source, prompt, ability, reward_model, extra_info),
  `verl/<split>.parquet`.
* `trl`: `prompt` and `label` for TRL's `GRPOTrainer`, `trl/<split>.parquet`. The prompt is conversational (a
  list of messages), so TRL applies the policy's own chat template, as the model saw in instruction tuning; a plain
  string would be fed raw, without the generation prompt that starts the assistant turn.
* `hf`: the II-Medical-RL table as a `datasets` `save_to_disk` DatasetDict, `hf/` (`load_from_disk` gives
  `{split: Dataset}`).

Every export gets every split of the build (`train.parquet`, `val.parquet`, ...; one DatasetDict holding all).
A build that ran the pass-rate filter adds each row's `pass_rate` and `pass_rate_samples` (PASS_RATE_FIELDS) to
every export: as columns, or inside `extra_info` for verl (where its reward function and loggers find per-row data).
Each is one `Export` in `EXPORTS` (schema, row function, file layout, and the dataset card's note and config), which
the writer, the card, the build's settings and the CLI all read: a new export is one entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from medrl.dataset.render import options_block, render_problem
from medrl.dataset.sources import TrainingRecord
from medrl.io.formats import open_writer
from medrl.io.readers import RowBatch
from medrl.io.writers import utf8_safe, write_json_atomic, write_parquet_atomic

ABILITY = "medical"

II_MEDICAL_RL_SCHEMA = pa.schema(
    [
        (name, pa.string())
        for name in ("dataset_name", "id_in_dataset", "question", "answer", "reasoning", "options", "problem", "label")
    ]
)
MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
VERL_SCHEMA = pa.schema(
    [
        ("data_source", pa.string()),
        ("prompt", MESSAGES),
        ("ability", pa.string()),
        ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
        (
            "extra_info",
            pa.struct(
                [
                    ("index", pa.int64()),
                    ("split", pa.string()),
                    ("dataset_name", pa.string()),
                    ("id_in_dataset", pa.string()),
                ]
            ),
        ),
    ]
)
TRL_SCHEMA = pa.schema([("prompt", MESSAGES), ("label", pa.string())])
PASS_RATE_FIELDS = [pa.field("pass_rate", pa.float64()), pa.field("pass_rate_samples", pa.int64())]
# Per row (by row_id), the pass-rate filter's values for PASS_RATE_FIELDS.
PassRateColumns = dict[int, dict[str, object]]


# A row function takes (record, rendered problem, index in its split, split name), each export using what it needs.
RowFunction = Callable[[TrainingRecord, str, int, str], dict]


def ii_medical_rl_row(record: TrainingRecord, problem: str, index: int, split: str) -> dict:
    return {
        "dataset_name": record.dataset_name,
        "id_in_dataset": record.id_in_dataset,
        "question": record.question,
        "answer": record.answer,
        "reasoning": record.reasoning,
        "options": options_block(record.options),
        "problem": problem,
        "label": record.label,
    }


def verl_row(record: TrainingRecord, problem: str, index: int, split: str) -> dict:
    return {
        "data_source": f"medrl/{record.dataset_name}",
        "prompt": [{"role": "user", "content": problem}],
        "ability": ABILITY,
        "reward_model": {"style": "rule", "ground_truth": record.label},
        "extra_info": {
            "index": index,
            "split": split,
            "dataset_name": record.dataset_name,
            "id_in_dataset": record.id_in_dataset,
        },
    }


def trl_row(record: TrainingRecord, problem: str, index: int, split: str) -> dict:
    return {"prompt": [{"role": "user", "content": problem}], "label": record.label}


def write_rows_atomic(
    path: Path, fmt: str, chunks: Iterable[list[dict] | pa.RecordBatch], schema: pa.Schema | None = None
) -> None:
    """Write rows with medrl's atomic writers (`medrl.io.writers`): nothing appears at `path` unless all was written."""
    writer = open_writer(path, fmt, schema, None)
    try:
        for chunk in chunks:
            batch = RowBatch(0, chunk)
            writer.write(batch, list(range(len(batch))))
        writer.commit()
    except BaseException:
        writer.abort()
        raise


class Layout:
    """How an export's split files are laid out in its own directory of the build's output."""

    def write(self, table: pa.Table, directory: Path, split: str) -> str:
        """Write one split's table under `directory`; return its path relative to `directory`."""
        raise NotImplementedError

    def finish(self, directory: Path, splits: list[str]) -> None:
        """Write what describes all the splits, once each is written (nothing unless a layout needs it)."""


@dataclass(frozen=True)
class ParquetFiles(Layout):
    """A Parquet file per split, `<split>.parquet`: what verl, TRL and `datasets.load_dataset` (the card's
    `configs`) read."""

    def write(self, table: pa.Table, directory: Path, split: str) -> str:
        directory.mkdir(parents=True, exist_ok=True)
        write_parquet_atomic(table, directory / f"{split}.parquet")
        return f"{split}.parquet"


@dataclass(frozen=True)
class DatasetDictDirectory(Layout):
    """A `datasets` `save_to_disk` DatasetDict: a `<split>/` Dataset per split and `dataset_dict.json` naming them,
    so `datasets.load_from_disk` gives `{split: Dataset}`."""

    def write(self, table: pa.Table, directory: Path, split: str) -> str:
        directory.mkdir(parents=True, exist_ok=True)
        write_rows_atomic(directory / split, "hf", table.to_batches(), table.schema)
        return split

    def finish(self, directory: Path, splits: list[str]) -> None:
        write_json_atomic(directory / "dataset_dict.json", {"splits": splits})


@dataclass(frozen=True)
class Export:
    """One export: its table (schema and row function), how its split files are laid out in the `<name>/`
    directory, and what the dataset card says of it."""

    name: str
    schema: pa.Schema
    row: RowFunction
    layout: Layout
    note: str  # the card's "holds" column for its files
    config: str | None = None  # the card's `configs` name (Parquet files only); None: not a `load_dataset` config
    pass_rate_in: str | None = None  # the struct column holding PASS_RATE_FIELDS; None: top-level columns

    def table(
        self, records: list[TrainingRecord], problems: list[str], split: str, pass_rates: PassRateColumns | None = None
    ) -> pa.Table:
        """This export's table of `records`, whose rendered prompts are `problems` (rendered once for every
        export), with their pass rates when the build measured them."""
        pairs = enumerate(zip(records, problems, strict=True))
        rows = [self.row(record, problem, index, split) for index, (record, problem) in pairs]
        schema = self.schema
        if pass_rates is not None:
            rows, schema = self._with_pass_rates(rows, [pass_rates[record.row_id] for record in records])
        try:
            return pa.Table.from_pylist(rows, schema=schema)
        except UnicodeEncodeError:  # a lone surrogate in the source text: Parquet strings are UTF-8
            return pa.Table.from_pylist(utf8_safe(rows), schema=schema)

    def _with_pass_rates(self, rows: list[dict], values: list[dict[str, object]]) -> tuple[list[dict], pa.Schema]:
        if self.pass_rate_in is None:
            schema = pa.schema([*self.schema, *PASS_RATE_FIELDS])
            return [row | value for row, value in zip(rows, values, strict=True)], schema
        column = self.pass_rate_in
        inner = self.schema.field(column).type
        widened = pa.field(column, pa.struct([*(inner.field(i) for i in range(inner.num_fields)), *PASS_RATE_FIELDS]))
        schema = self.schema.set(self.schema.get_field_index(column), widened)
        return [row | {column: row[column] | value} for row, value in zip(rows, values, strict=True)], schema

    def write_split(
        self,
        records: list[TrainingRecord],
        problems: list[str],
        out: Path,
        split: str,
        pass_rates: PassRateColumns | None = None,
    ) -> str:
        """Write one split under `out/<name>/`; return its path relative to `out`."""
        table = self.table(records, problems, split, pass_rates)
        return f"{self.name}/{self.layout.write(table, out / self.name, split)}"


# In the card's order: its `configs` list the II-Medical-RL table first (the default `load_dataset` gives).
EXPORTS: dict[str, Export] = {
    export.name: export
    for export in (
        Export(
            "parquet",
            II_MEDICAL_RL_SCHEMA,
            ii_medical_rl_row,
            ParquetFiles(),
            "II-Medical-RL schema: dataset_name, id_in_dataset, question, answer, reasoning, options, problem, label",
            config="default",
        ),
        Export(
            "verl",
            VERL_SCHEMA,
            verl_row,
            ParquetFiles(),
            "verl `RLHFDataset`: data_source, prompt (chat messages), ability, reward_model "
            '{"style": "rule", "ground_truth": label}, extra_info {index, split, dataset_name, id_in_dataset}',
            config="verl",
            pass_rate_in="extra_info",
        ),
        Export(
            "trl",
            TRL_SCHEMA,
            trl_row,
            ParquetFiles(),
            "TRL `GRPOTrainer`: prompt (chat messages), label",
            config="trl",
        ),
        Export(
            "hf",
            II_MEDICAL_RL_SCHEMA,
            ii_medical_rl_row,
            DatasetDictDirectory(),
            "the II-Medical-RL table as a `datasets` DatasetDict (`datasets.load_from_disk`)",
        ),
    )
}


def write_exports(
    splits: dict[str, list[TrainingRecord]],
    out: Path,
    exports: tuple[str, ...],
    template: str,
    pass_rates: PassRateColumns | None = None,
) -> dict[str, dict[str, str]]:
    """Write each requested export of every split's records (in order) under `out`, with their pass rates when
    given; return, per export, each split's path relative to `out`. One split's prompts and one table are in memory
    at a time."""
    chosen = [EXPORTS[name] for name in exports]
    written: dict[str, dict[str, str]] = {export.name: {} for export in chosen}
    for split, records in splits.items():
        problems = [render_problem(record.question, record.options, template) for record in records]
        for export in chosen:
            written[export.name][split] = export.write_split(records, problems, out, split, pass_rates)
    for export in chosen:
        export.layout.finish(out / export.name, list(splits))
    return written
