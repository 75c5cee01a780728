"""Normalise a batch of raw rows into the texts the detectors check, failing clearly on unusable values."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from medrl.benchmarks.loaders import normalise_options, read_options
from medrl.detection.decide import Verdict
from medrl.detection.fields import FieldPath, field_texts_of
from medrl.detection.text import folded_options
from medrl.errors import MedrlError
from medrl.io.readers import MISSING, RowBatch


@dataclass(frozen=True)
class CheckedTexts:
    """A batch's checked texts: per label (a field, or `field[i]` for its i-th chat message), the rows that have such
    a text (whose role, if any, is checked) by their offset in the batch, with the text; per label the rows' message
    roles; and per label the field it comes from."""

    texts: dict[str, dict[int, str]]
    roles: dict[str, dict[int, str]]
    fields: dict[str, str]  # per label, the checked field it comes from (`messages[1]` -> `messages`)
    rows: int

    def name_fields(self, verdicts: list[Verdict]) -> list[Verdict]:
        """The verdicts with each match's field naming the chat message's role too (`messages[1] (user)`), so the
        evidence says which message of the row matched, and the fields that matched named as checked (`messages`),
        for counts per field."""
        named = []
        for row, verdict in enumerate(verdicts):
            if not verdict.contaminated:
                named.append(verdict)
                continue
            matches = tuple(
                dataclasses.replace(match, field=f"{match.field} ({role})")
                if (role := self.roles[match.field].get(row))
                else match
                for match in verdict.matches
            )
            fields = tuple(dict.fromkeys(self.fields[label] for label in verdict.fields))
            named.append(dataclasses.replace(verdict, matches=matches, fields=fields))
        return named


def field_texts(batch: RowBatch, fields: tuple[str, ...], source: Path, roles: tuple[str, ...] = ()) -> CheckedTexts:
    """Per checked field (a column, a nested path, or a column of chat messages: see `medrl.detection.fields`),
    each row's texts; `roles` (empty: every role) chooses which chat messages are checked.

    A missing column or path, or a value that is not text or messages, is an error naming the file, the row and the
    fix.
    """
    columns = batch_columns(batch)
    texts: dict[str, dict[int, str]] = {}
    found_roles: dict[str, dict[int, str]] = {}
    field_of: dict[str, str] = {}
    for name in fields:
        path = FieldPath.parse(name, columns)
        if not isinstance(batch.rows, list) and path.column not in columns:
            raise MedrlError(
                f"{source}: no column {path.column!r}; available columns: {', '.join(columns)} "
                "(choose one with --field)"
            )
        for offset, value in enumerate(batch.column(path.column)):
            if value is MISSING:
                available = ", ".join(batch.rows[offset])
                raise MedrlError(
                    f"{source}, {batch.where(offset)}: no column {path.column!r}; available columns: {available} "
                    "(choose one with --field)"
                )
            value, missing = path.resolve(value)
            if missing is not None:
                wanted = "" if missing == name else f" (for --field {name!r})"
                raise MedrlError(f"{source}, {batch.where(offset)}: no {missing!r} in this row{wanted}; check the path")
            found = field_texts_of(value, name)
            if isinstance(found, str):
                raise MedrlError(
                    f"{source}, {batch.where(offset)}: {name!r} holds {found}, not text or chat messages; "
                    "check a text column, a path to text (e.g. prompt[0].content) or a messages column with --field"
                )
            for entry in found:
                if entry.label not in texts:
                    texts[entry.label], found_roles[entry.label] = {}, {}
                    field_of[entry.label] = name
                if not roles or entry.role is None or entry.role in roles:
                    texts[entry.label][offset] = entry.text
                if entry.role is not None:
                    found_roles[entry.label][offset] = entry.role
    return CheckedTexts(texts, found_roles, field_of, len(batch))


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


def field_options(
    batch: RowBatch, field: OptionsField, source: Path, required: bool = True
) -> tuple[list[frozenset[str]], list[str]]:
    """Each row's folded option texts from an options column (any layout `read_options` reads: a native list or
    dict, JSON text, lines) or from one column per option, and the layout each row's were read from ("columns" for
    one column per option). `required`: a row without the column is an error (a column the user named); else it
    has no options."""
    names = (field,) if isinstance(field, str) else field
    columns = batch_columns(batch)
    absent = [name for name in names if name not in columns]
    if absent and isinstance(batch.rows, pa.RecordBatch):
        if required:
            raise MedrlError(f"{source}: no options column {absent[0]!r}; available: {', '.join(columns)}")
        return [frozenset()] * len(batch), ["empty"] * len(batch)
    values = [batch.column(name) for name in names]
    found: list[frozenset[str]] = []
    layouts: list[str] = []
    for offset in range(len(batch)):
        row = [column[offset] for column in values]
        if any(value is MISSING for value in row):
            if required:
                raise MedrlError(f"{source}, {batch.where(offset)}: no options column {field!r} (--options-field)")
            found.append(frozenset())
            layouts.append("empty")
            continue
        try:
            if isinstance(field, str):
                options, layout = read_options(row[0])
            else:
                options = normalise_options([v for v in row if v not in (None, "")])
                layout = "columns" if options else "empty"
        except MedrlError as error:
            raise MedrlError(
                f"{source}, {batch.where(offset)}: column {field!r}: {error}; name the options column with "
                "--options-field, or pass --options-field none"
            ) from None
        found.append(folded_options(options))
        layouts.append(layout)
    return found, layouts
