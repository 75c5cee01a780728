"""Benchmark loaders: turn a benchmark's rows (local files or hub rows) into normalised `BenchmarkItem`s.

Known benchmarks follow their registry entry (`medrl.benchmarks.registry`); a directory with no entry goes through
the same mapping with fields detected from common column names.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from medrl.benchmarks.registry import REGISTRY, BenchmarkSpec, FieldMap, SplitPolicy
from medrl.errors import MedrlError
from medrl.io.formats import open_source

LETTERS = string.ascii_uppercase
SUPPORTED_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")


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


def read_rows(files: Sequence[Path]) -> list[dict]:
    rows: list[dict] = []
    for path in files:
        for batch in open_source(path).batches(batch_size=4096):
            rows.extend(batch.to_pylist())
    return rows


# Column names tried, in order, when a directory has no registry entry.
_QUESTION_NAMES = ("question", "problem_text", "problem", "QUESTION", "Question", "prompt", "input", "text")
_OPTIONS_NAMES = ("options", "choices", "Options", "answer_choices")
_ANSWER_NAMES = ("answer_idx", "label", "answer", "cop", "final_decision", "Answer")
_ID_NAMES = ("realidx", "id", "idx", "question_id", "problem_id", "item_id", "qid")


def detect_fields(rows: list[dict], where: str) -> FieldMap:
    """A FieldMap from the first row's column names; fail naming the columns when no question column exists."""
    columns = list(rows[0]) if rows else []

    def first(names: Sequence[str]) -> str | None:
        return next((name for name in names if name in columns), None)

    question = first(_QUESTION_NAMES)
    if question is None:
        raise MedrlError(
            f"{where}: no question column found among {columns}; expected one of {', '.join(_QUESTION_NAMES)} "
            "(or add the benchmark with an explicit mapping: `medrl benchmarks add`)"
        )
    letter_columns = tuple(name for name in ("opa", "opb", "opc", "opd", "ope") if name in columns)
    return FieldMap(
        question=question,
        options=first(_OPTIONS_NAMES) or letter_columns or None,
        answer=first(_ANSWER_NAMES),
        item_id=first(_ID_NAMES),
    )


def pick_fields(spec: BenchmarkSpec, rows: list[dict], where: str) -> FieldMap:
    """The first of the spec's field maps whose columns the rows have (local layout or hub export)."""
    columns = set(rows[0]) if rows else set()
    for fields in spec.field_maps:
        options = fields.options if isinstance(fields.options, tuple) else (fields.options,) if fields.options else ()
        needed = {fields.question, *options}
        if needed <= columns:
            return fields
    if not spec.field_maps:
        return detect_fields(rows, where)
    expected = " or ".join(repr(fields.question) for fields in spec.field_maps)
    raise MedrlError(f"{where}: the rows have columns {sorted(columns)}, but {spec.name} needs a {expected} column")


_LETTER_PREFIX = re.compile(r"^\(?([A-Z])[.):]\s*")


Options = tuple[tuple[str, str], ...]
# How `read_options` found a value's options: the same options read from a JSON file's native list and from a CSV
# cell's JSON text must agree, and report.json says which layouts a run read (or could not read).
OPTION_LAYOUTS = ("list", "dict", "json-text", "lines", "empty", "unreadable")


def normalise_options(value: object) -> Options:
    """Options as (letter, text) from any layout `read_options` reads."""
    return read_options(value)[0]


def read_options(value: object) -> tuple[Options, str]:
    """Options as (letter, text), and the layout read (one of `OPTION_LAYOUTS`), from a dict, a list ("A. text"
    strings, plain texts lettered in order, {key,value} entries), or text: a JSON list or object (CSV cells and
    Parquet strings hold them so; parsed with `json.loads`, never evaluated), "A. text" lines, or one option per
    line. Text that gives no options is "unreadable" unless blank."""
    if value is None or value == "":
        return (), "empty"
    if isinstance(value, str):
        parsed = _json_container(value)
        if parsed is not None:
            options = read_options(parsed)[0]
            return options, "json-text" if options else "empty"
        options = _options_from_lines(value)
        return options, "lines" if options else "empty" if not value.strip() else "unreadable"
    if isinstance(value, dict):
        options = tuple((str(key).strip().upper(), text_of(text)) for key, text in value.items())
        return options, "dict" if options else "empty"
    if isinstance(value, list | tuple):
        return _options_from_list(value), "list" if value else "empty"
    raise MedrlError(f"options of type {type(value).__name__} are not understood: {value!r:.80}")


def _json_container(text: str) -> list | dict | None:
    """A JSON list or object written as text, else None (text that merely starts with a bracket is not one)."""
    stripped = text.strip()
    if (stripped[:1], stripped[-1:]) not in (("[", "]"), ("{", "}")):
        return None
    try:
        parsed = json.loads(stripped)
    except (json.JSONDecodeError, RecursionError):
        return None
    return parsed if isinstance(parsed, list | dict) else None


def _options_from_lines(text: str) -> Options:
    """Options written one per line: the "A. text" lines when any line is lettered (a heading such as "Answer
    Choices:" is skipped), else every non-blank line when there are at least two, lettered in order."""
    lines = text.split("\n")
    lettered = [line for line in lines if _LETTER_PREFIX.match(line.strip())]
    if lettered:
        return _options_from_list(lettered)
    plain = [line.strip() for line in lines if line.strip()]
    return tuple(zip(LETTERS, plain, strict=False)) if len(plain) >= 2 else ()


def _options_from_list(value: list | tuple) -> Options:
    """A list's options: {key,value} entries, "A. text" strings lettered A, B, C... in order, or plain texts."""
    if value and all(isinstance(entry, dict) for entry in value):
        return _options_from_entries(value)
    texts = [text_of(text) for text in value]
    prefixed = [found for text in texts if (found := _LETTER_PREFIX.match(text))]
    letters = [m.group(1) for m in prefixed]
    if texts and len(prefixed) == len(texts) and letters == list(LETTERS[: len(texts)]):
        return tuple((m.group(1), text[m.end() :]) for m, text in zip(prefixed, texts, strict=True))
    return tuple(zip(LETTERS, texts, strict=False))


def _options_from_entries(entries: Sequence[dict]) -> tuple[tuple[str, str], ...]:
    """[{"key": "A", "value": ..}] keeps its letters; [{"aid": 1, "atext": ..}] (HEAD-QA) is lettered in order."""
    if all("key" in entry and "value" in entry for entry in entries):
        return tuple((str(entry["key"]).strip().upper(), text_of(entry["value"])) for entry in entries)
    if all("atext" in entry for entry in entries):
        return tuple(zip(LETTERS, (text_of(entry["atext"]) for entry in entries), strict=False))
    raise MedrlError(f"option entries with keys {sorted(entries[0])} are not understood")


def answer_letter(value: object, options: Sequence[tuple[str, str]], base: int = 0) -> str | None:
    """The correct letter from a letter ("b", ["a"], "(C)"), an index counted from `base`, or the option's text."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    letters = [letter for letter, _ in options]
    if isinstance(value, int) and not isinstance(value, bool):
        position = value - base
        return letters[position] if 0 <= position < len(letters) else None
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    letter = text.strip("().: ").upper()
    if len(letter) == 1 and letter in letters:
        return letter
    folded = text.casefold()
    by_text = [letter for letter, option in options if option.strip().casefold() == folded]
    return by_text[0] if len(by_text) == 1 else None


def text_of(value: object) -> str:
    """Text of a field value: lists are joined by newlines, chat messages give their content, PubMedQA's
    hub `context` dict gives its `contexts`."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(text_of(part) for part in value)
    if isinstance(value, dict):
        for key in ("content", "contexts", "text"):
            if key in value:
                return text_of(value[key])
        return str(value)
    return value if isinstance(value, str) else str(value)


def _options(fields: FieldMap, row: dict, fixed: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    if fields.correct_option:
        columns = (fields.correct_option, *(fields.options if isinstance(fields.options, tuple) else ()))
        return tuple(zip(LETTERS, (text_of(row.get(name)) for name in columns), strict=False))
    if isinstance(fields.options, tuple):
        return normalise_options([row.get(name) for name in fields.options if row.get(name)])
    if fields.options:
        return normalise_options(row.get(fields.options))
    return fixed


def to_items(spec: BenchmarkSpec, policy: SplitPolicy, rows: list[dict], where: str) -> list[BenchmarkItem]:
    """Normalise rows (already filtered to the split) into items, with the spec's matching field map."""
    fields = pick_fields(spec, rows, where) if rows else FieldMap(question="question")
    items = []
    for index, row in enumerate(rows):
        if fields.question not in row:
            raise MedrlError(f"{where}, row {index}: no {fields.question!r} column (has {list(row)})")
        options = _options(fields, row, spec.fixed_options)
        answer: str | None
        if fields.correct_option:
            answer = "A"
        elif fields.answer:
            answer = answer_letter(row.get(fields.answer), options, fields.answer_base)
        else:
            answer = None
        item_id = row.get(fields.item_id) if fields.item_id else None
        items.append(
            BenchmarkItem(
                benchmark=spec.name,
                split=policy.name,
                item_id=str(index if item_id is None else item_id),
                question=text_of(row[fields.question]),
                options=options,
                answer=answer,
                context=text_of(row.get(fields.context)) if fields.context else "",
            )
        )
    return items


def _split_files(directory: Path, policy: SplitPolicy) -> list[Path]:
    """The files holding a split: the local layout's, else hub exports named after the split (data/test-*.parquet)."""
    local = [directory / name for name in policy.local_files]
    if local and all(path.exists() for path in local):
        return local
    stems = {policy.hub_split or policy.name, policy.name}
    exported = sorted(
        path
        for path in directory.rglob("*")
        if path.is_file()
        and path.suffix.lower() in SUPPORTED_SUFFIXES
        and any(path.stem == stem or path.stem.startswith(f"{stem}-") for stem in stems)
    )
    if not exported:
        wanted = ", ".join(policy.local_files) or f"{policy.name}.<ext>"
        raise MedrlError(
            f"{directory}: no files for split {policy.name!r}; expected {wanted} or a hub export named "
            f"{'/'.join(sorted(stems))}[-*].{{jsonl,json,csv,parquet}}"
        )
    return exported


@dataclass(frozen=True)
class LoadedSplit:
    spec: BenchmarkSpec
    policy: SplitPolicy
    items: list[BenchmarkItem]
    files: list[Path]


def _generic_spec(directory: Path) -> BenchmarkSpec:
    files = sorted(p.name for p in directory.iterdir() if p.suffix.lower() in SUPPORTED_SUFFIXES)
    if not files:
        raise MedrlError(
            f"{directory}: no benchmark files ({', '.join(SUPPORTED_SUFFIXES)}); "
            "lay benchmarks out as <benchmark>/<split>.<ext>"
        )
    policies = tuple(SplitPolicy(Path(name).stem, None, "a local benchmark file", (name,)) for name in files)
    return BenchmarkSpec(directory.name, directory.name, policies, (), "unknown", "user-provided")


def load_benchmark_dir(directory: Path, split: str | None = None) -> list[LoadedSplit]:
    """Items of one benchmark directory: its registry split policy (default or `split`), or every file of an
    unknown benchmark as its own split."""
    if directory.name in REGISTRY:
        spec = REGISTRY[directory.name]
        policies = [spec.split(split)]
    else:
        spec = _generic_spec(directory)
        policies = list(spec.splits)
    loaded = []
    for policy in policies:
        files = _split_files(directory, policy)
        if files == [directory / name for name in policy.local_files]:
            # The local layout already holds exactly the evaluation items.
            rows = policy.local_rows(directory, policy.local_files) if policy.local_rows else read_rows(files)
        else:  # a hub export: apply the split's row filter, as `fetch` does
            rows = [row for row in read_rows(files) if policy.keep is None or policy.keep(row)]
        items = to_items(spec, policy, rows, str(files[0]))
        loaded.append(LoadedSplit(spec, policy, items, files))
    return loaded
