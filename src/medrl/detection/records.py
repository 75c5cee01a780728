"""Normalise a batch of raw rows into the texts the detectors check, failing clearly on unusable values."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from medrl.benchmarks.loaders import normalise_options
from medrl.detection.text import folded_options
from medrl.errors import MedrlError
from medrl.io.readers import MISSING, RowBatch


def field_texts(batch: RowBatch, fields: tuple[str, ...], source: Path) -> dict[str, list[str]]:
    """Per checked field, each row's text. None counts as empty text; numbers as their text form.

    A missing column or a nested value (list/dict) is an error naming the file, the row and the fix.
    """
    texts: dict[str, list[str]] = {}
    for name in fields:
        if isinstance(batch.rows, list):
            values = batch.column(name)
        else:
            if name not in batch.rows.schema.names:
                raise MedrlError(
                    f"{source}: no column {name!r}; available columns: {', '.join(batch.rows.schema.names)} "
                    "(choose one with --field)"
                )
            values = batch.column(name)
        column = []
        for offset, value in enumerate(values):
            if isinstance(value, str):
                column.append(value)
            elif value is None:
                column.append("")
            elif value is MISSING:
                available = ", ".join(batch.rows[offset])
                raise MedrlError(
                    f"{source}, {batch.where(offset)}: no column {name!r}; available columns: {available} "
                    "(choose one with --field)"
                )
            elif isinstance(value, int | float):
                column.append(str(value))
            else:
                raise MedrlError(
                    f"{source}, {batch.where(offset)}: column {name!r} holds a {type(value).__name__}, not text; "
                    "check a text column with --field"
                )
        texts[name] = column
    return texts


# Where training files keep each row's options, tried in this order when no column is named (`options_field`
# "auto"): one column holding a dict / list / "A. ..." lines, or one column per option (MedMCQA's opa..ope, or
# columns named by the letters themselves, as MMLU's CSV exports).
OPTION_COLUMNS = ("options", "choices", "Options", "answer_choices", "option")
OPTION_LETTER_COLUMNS = (("opa", "opb", "opc", "opd", "ope"), tuple("ABCDEFGHIJ"))
# Columns that say a row is multiple-choice (a letter or index answer), for the warning when no options are found.
MULTIPLE_CHOICE_HINTS = ("answer_idx", "cop", "answer_letter", "correct_option", "label")

OptionsField = str | tuple[str, ...]


def detect_options_field(columns: list[str]) -> OptionsField | None:
    """The options column(s) of a training file by name, or None when it has none."""
    for name in OPTION_COLUMNS:
        if name in columns:
            return name
    for letters in OPTION_LETTER_COLUMNS:
        present = tuple(name for name in letters if name in columns)
        if len(present) >= 2 and present == letters[: len(present)]:
            return present
    return None


def batch_columns(batch: RowBatch) -> list[str]:
    """Column names of a batch (for JSON rows, every key any row has, in first-seen order)."""
    if isinstance(batch.rows, pa.RecordBatch):
        return batch.rows.schema.names
    return list(dict.fromkeys(key for row in batch.rows for key in row))


def field_options(batch: RowBatch, field: OptionsField, source: Path, required: bool = True) -> list[frozenset[str]]:
    """Each row's folded option texts from an options column (dict, list or "A. ..." lines) or from one column per
    option. `required`: a row without the column is an error (a column the user named); else it has no options."""
    names = (field,) if isinstance(field, str) else field
    columns = batch_columns(batch)
    absent = [name for name in names if name not in columns]
    if absent and isinstance(batch.rows, pa.RecordBatch):
        if required:
            raise MedrlError(f"{source}: no options column {absent[0]!r}; available: {', '.join(columns)}")
        return [frozenset()] * len(batch)
    values = [batch.column(name) for name in names]
    found: list[frozenset[str]] = []
    for offset in range(len(batch)):
        row = [column[offset] for column in values]
        if any(value is MISSING for value in row):
            if required:
                raise MedrlError(f"{source}, {batch.where(offset)}: no options column {field!r} (--options-field)")
            found.append(frozenset())
            continue
        try:
            options = normalise_options(row[0] if isinstance(field, str) else [v for v in row if v not in (None, "")])
        except MedrlError as error:
            raise MedrlError(
                f"{source}, {batch.where(offset)}: column {field!r}: {error}; name the options column with "
                "--options-field, or pass --options-field none"
            ) from None
        found.append(folded_options(options))
    return found
