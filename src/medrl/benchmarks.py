"""Benchmark loaders: turn each benchmark's own file layout into normalised `BenchmarkItem`s.

A benchmark directory holds its split file(s). Known benchmarks (the II-Medical evaluation suite as laid out in
the shared data) have a `BenchmarkSpec` naming the split, the files, the field mapping and the official row count;
any other directory goes through the same mapping with fields detected from common names.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from medrl.errors import MedrlError
from medrl.readers import open_source

LETTERS = string.ascii_uppercase


@dataclass(frozen=True)
class BenchmarkItem:
    """One evaluation item, normalised. `item_id` is the source's own id, else the 0-based row index."""

    benchmark: str
    split: str
    item_id: str
    question: str
    options: tuple[tuple[str, str], ...]  # (letter, text) in presentation order
    answer: str | None  # the correct letter, when the source gives one
    context: str = ""  # extra text shown with the question (PubMedQA abstracts)


@dataclass(frozen=True)
class FieldMap:
    """Where a source row keeps each part of an item.

    `options` is one column holding a dict / list / "A. ..." lines, or several columns holding one option each.
    """

    question: str
    options: str | tuple[str, ...] | None = None
    answer: str | None = None
    item_id: str | None = None
    context: str | None = None


RowsLoader = Callable[[Path, Sequence[str]], list[dict]]


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    split: str
    files: tuple[str, ...]
    fields: FieldMap
    expected_rows: int | None
    # Reads the files into row dicts; the default reads each file's rows in order.
    load_rows: RowsLoader | None = None
    fixed_options: tuple[tuple[str, str], ...] = ()  # options shared by every item (PubMedQA yes/no/maybe)


def read_rows(directory: Path, files: Sequence[str]) -> list[dict]:
    rows: list[dict] = []
    for name in files:
        path = directory / name
        if not path.exists():
            raise MedrlError(f"{path}: missing; expected the files {', '.join(files)} in {directory}")
        for batch in open_source(path).batches(batch_size=4096):
            rows.extend(batch.to_pylist())
    return rows


def _pubmedqa_test_rows(directory: Path, files: Sequence[str]) -> list[dict]:
    """PQA-L items whose PubMed id is in the official 500-id test split, in test-file order."""
    labelled_path, test_ids_path = (directory / name for name in files)
    for path in (labelled_path, test_ids_path):
        if not path.exists():
            raise MedrlError(f"{path}: missing; PubMedQA needs ori_pqal.json and test_ground_truth.json")
    labelled = json.loads(labelled_path.read_text(encoding="utf-8"))
    test_ids = json.loads(test_ids_path.read_text(encoding="utf-8"))
    missing = [pmid for pmid in test_ids if pmid not in labelled]
    if missing:
        raise MedrlError(f"{labelled_path}: {len(missing)} test ids are missing, e.g. {missing[:3]}")
    return [{"pubmed_id": pmid, **labelled[pmid]} for pmid in test_ids]


_USMLE_FIELDS = FieldMap(question="question", options="options", answer="answer_idx", item_id="realidx")

REGISTRY: dict[str, BenchmarkSpec] = {
    spec.name: spec
    for spec in (
        BenchmarkSpec("medqa", "test", ("test.jsonl",), _USMLE_FIELDS, 1273),
        BenchmarkSpec(
            "medqa_5options",
            "test",
            ("test.jsonl",),
            FieldMap(question="question", options="options", answer="answer_idx"),
            1273,
        ),
        BenchmarkSpec(
            "medmcqa",
            "validation",
            ("validation.jsonl",),
            FieldMap(question="problem_text", options="choices", answer="answer", item_id="problem_id"),
            4183,
        ),
        BenchmarkSpec(
            "pubmedqa",
            "test",
            ("ori_pqal.json", "test_ground_truth.json"),
            FieldMap(question="QUESTION", answer="final_decision", item_id="pubmed_id", context="CONTEXTS"),
            500,
            load_rows=_pubmedqa_test_rows,
            fixed_options=(("A", "yes"), ("B", "no"), ("C", "maybe")),
        ),
        BenchmarkSpec("mmlu_medical", "test", ("test.jsonl",), _USMLE_FIELDS, 1089),
        BenchmarkSpec(
            "mmlu_pro_health",
            "test",
            ("test.jsonl",),
            FieldMap(question="question", options="options", answer="answer", item_id="question_id"),
            818,
        ),
        BenchmarkSpec("medxpertqa", "test", ("test.jsonl",), _USMLE_FIELDS, 2450),
        BenchmarkSpec(
            "medbullets_op4",
            "test",
            ("test.csv",),
            FieldMap(question="question", options=("opa", "opb", "opc", "opd"), answer="answer_idx", item_id="link"),
            308,
        ),
        BenchmarkSpec(
            "medbullets_op5",
            "test",
            ("test.csv",),
            FieldMap(
                question="question", options=("opa", "opb", "opc", "opd", "ope"), answer="answer_idx", item_id="link"
            ),
            308,
        ),
        BenchmarkSpec(
            "hle_biomed",
            "test",
            ("test.jsonl",),
            FieldMap(question="question", options="options", answer="answer_idx", item_id="idx"),
            103,
        ),
    )
}

# Column names tried, in order, when a directory has no spec.
_QUESTION_NAMES = ("question", "problem_text", "problem", "QUESTION", "Question", "prompt", "input", "text")
_OPTIONS_NAMES = ("options", "choices", "Options", "answer_choices")
_ANSWER_NAMES = ("answer_idx", "label", "answer", "cop", "final_decision", "Answer")
_ID_NAMES = ("realidx", "id", "idx", "question_id", "problem_id", "item_id", "qid")
_SUPPORTED_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")


def detect_fields(rows: list[dict], where: str) -> FieldMap:
    """A FieldMap from the first row's column names; fail naming the columns when no question column exists."""
    columns = list(rows[0]) if rows else []

    def first(names: Sequence[str]) -> str | None:
        return next((name for name in names if name in columns), None)

    question = first(_QUESTION_NAMES)
    if question is None:
        raise MedrlError(
            f"{where}: no question column found among {columns}; expected one of {', '.join(_QUESTION_NAMES)} "
            "(or add the benchmark with an explicit field mapping)"
        )
    letter_columns = tuple(name for name in ("opa", "opb", "opc", "opd", "ope") if name in columns)
    return FieldMap(
        question=question,
        options=first(_OPTIONS_NAMES) or letter_columns or None,
        answer=first(_ANSWER_NAMES),
        item_id=first(_ID_NAMES),
    )


def generic_spec(directory: Path) -> list[BenchmarkSpec]:
    """Specs for an unknown benchmark directory: one split per supported file, named by the file's stem."""
    files = sorted(p.name for p in directory.iterdir() if p.suffix.lower() in _SUPPORTED_SUFFIXES)
    if not files:
        raise MedrlError(
            f"{directory}: no benchmark files ({', '.join(_SUPPORTED_SUFFIXES)}); "
            "lay benchmarks out as <benchmark>/<split>.<ext>"
        )
    return [BenchmarkSpec(directory.name, Path(name).stem, (name,), FieldMap(question=""), None) for name in files]


_LETTER_PREFIX = re.compile(r"^\(?([A-Z])[.):]\s*")


def normalise_options(value: object) -> tuple[tuple[str, str], ...]:
    """Options as (letter, text) from a dict, a list (optionally "A. text" strings) or "A. text" lines."""
    if value is None or value == "":
        return ()
    if isinstance(value, dict):
        return tuple((str(key).strip().upper(), _text(text)) for key, text in value.items())
    if isinstance(value, str):
        value = [line for line in value.split("\n") if _LETTER_PREFIX.match(line.strip())]
    if isinstance(value, list | tuple):
        texts = [_text(text) for text in value]
        prefixed = [_LETTER_PREFIX.match(text) for text in texts]
        if texts and all(prefixed) and [m.group(1) for m in prefixed] == list(LETTERS[: len(texts)]):
            return tuple((m.group(1), text[m.end() :]) for m, text in zip(prefixed, texts, strict=True))
        return tuple(zip(LETTERS, texts, strict=False))
    raise MedrlError(f"options of type {type(value).__name__} are not understood: {value!r:.80}")


def answer_letter(value: object, options: Sequence[tuple[str, str]]) -> str | None:
    """The correct letter from a letter ("b", ["a"], "(C)"), a 0-based index, or the option's exact text."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    letters = [letter for letter, _ in options]
    if isinstance(value, int) and not isinstance(value, bool):
        return letters[value] if 0 <= value < len(letters) else None
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    letter = text.strip("().: ").upper()
    if len(letter) == 1 and letter in letters:
        return letter
    folded = text.casefold()
    by_text = [letter for letter, option in options if option.strip().casefold() == folded]
    return by_text[0] if len(by_text) == 1 else None


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(_text(part) for part in value)
    return value if isinstance(value, str) else str(value)


def to_items(spec: BenchmarkSpec, rows: list[dict], source: Path) -> list[BenchmarkItem]:
    fields = spec.fields if spec.fields.question else detect_fields(rows, str(source))
    items = []
    for index, row in enumerate(rows):
        if fields.question not in row:
            raise MedrlError(f"{source}, row {index}: no {fields.question!r} column (has {list(row)})")
        if isinstance(fields.options, tuple):
            options = normalise_options([row.get(name) for name in fields.options if row.get(name)])
        elif fields.options:
            options = normalise_options(row.get(fields.options))
        else:
            options = spec.fixed_options
        item_id = row.get(fields.item_id) if fields.item_id else None
        items.append(
            BenchmarkItem(
                benchmark=spec.name,
                split=spec.split,
                item_id=str(index if item_id is None else item_id),
                question=_text(row[fields.question]),
                options=options,
                answer=answer_letter(row.get(fields.answer), options) if fields.answer else None,
                context=_text(row.get(fields.context)) if fields.context else "",
            )
        )
    return items


def load_benchmark_dir(directory: Path) -> tuple[list[BenchmarkSpec], list[list[BenchmarkItem]]]:
    """Specs and items of one benchmark directory (known spec, else generic per-file specs)."""
    specs = [REGISTRY[directory.name]] if directory.name in REGISTRY else generic_spec(directory)
    loaded = []
    for spec in specs:
        rows = (spec.load_rows or read_rows)(directory, spec.files)
        loaded.append(to_items(spec, rows, directory / spec.files[0]))
    return specs, loaded
