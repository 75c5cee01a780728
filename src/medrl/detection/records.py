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


def field_options(batch: RowBatch, name: str, source: Path) -> list[frozenset[str]]:
    """Each row's folded option texts from an options column (dict, list or "A. ..." lines)."""
    if isinstance(batch.rows, pa.RecordBatch) and name not in batch.rows.schema.names:
        raise MedrlError(f"{source}: no options column {name!r}; available: {', '.join(batch.rows.schema.names)}")
    found = []
    for offset, value in enumerate(batch.column(name)):
        if value is MISSING:
            raise MedrlError(f"{source}, {batch.where(offset)}: no options column {name!r} (--options-field)")
        try:
            found.append(folded_options(normalise_options(value)))
        except MedrlError as error:
            raise MedrlError(f"{source}, {batch.where(offset)}: column {name!r}: {error}") from None
    return found
