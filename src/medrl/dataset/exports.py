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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pyarrow as pa

from medrl.dataset.render import options_block, render_problem
from medrl.dataset.sources import TrainingRecord
from medrl.io.readers import RowBatch
from medrl.io.writers import open_writer, utf8_safe, write_json_atomic, write_parquet_atomic

EXPORTS = ("parquet", "verl", "trl", "hf")
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


# Every row builder takes (record, problem, index in the export, split), so exports are chosen from one table.


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


ROWS: dict[str, tuple[pa.Schema, Callable[[TrainingRecord, str, int, str], dict]]] = {
    "parquet": (II_MEDICAL_RL_SCHEMA, ii_medical_rl_row),
    "verl": (VERL_SCHEMA, verl_row),
    "trl": (TRL_SCHEMA, trl_row),
    "hf": (II_MEDICAL_RL_SCHEMA, ii_medical_rl_row),
}


def export_table(export: str, records: list[TrainingRecord], problems: list[str], split: str) -> pa.Table:
    """One export's table of `records`, whose rendered prompts are `problems` (rendered once for every export)."""
    schema, row = ROWS[export]
    pairs = enumerate(zip(records, problems, strict=True))
    rows = [row(record, problem, index, split) for index, (record, problem) in pairs]
    try:
        return pa.Table.from_pylist(rows, schema=schema)
    except UnicodeEncodeError:  # a lone surrogate in the source text: Parquet strings are UTF-8
        return pa.Table.from_pylist(utf8_safe(rows), schema=schema)


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


def write_exports(
    splits: dict[str, list[TrainingRecord]], out: Path, exports: tuple[str, ...], template: str
) -> dict[str, dict[str, str]]:
    """Write each requested export of every split's records (in order) under `out`; return, per export, each
    split's path relative to `out`. One split's prompts and one table are in memory at a time."""
    written: dict[str, dict[str, str]] = {export: {} for export in exports}
    for split, records in splits.items():
        problems = [render_problem(record.question, record.options, template) for record in records]
        for export in exports:
            table = export_table(export, records, problems, split)
            if export == "hf":  # a DatasetDict directory: one `<split>/` Dataset per split
                (out / "hf").mkdir(parents=True, exist_ok=True)
                write_rows_atomic(out / "hf" / split, "hf", table.to_batches(), table.schema)
                written[export][split] = f"hf/{split}"
            else:
                path = out / export / f"{split}.parquet"
                path.parent.mkdir(parents=True, exist_ok=True)
                write_parquet_atomic(table, path)
                written[export][split] = f"{export}/{split}.parquet"
            del table
    if "hf" in exports:
        write_json_atomic(out / "hf" / "dataset_dict.json", {"splits": list(splits)})
    return written
