"""Training sources -> `TrainingRecord`s (labelled, lettered multiple-choice rows) or `Rejection`s with the reason.

A source is a file in any format `medrl.io.readers` reads. Its columns are mapped onto a record by `SourceFields`:
one of the named first-class formats (MedReason, II-Medical-RL, the shared training files' layouts), detected
from the columns when not named, or a mapping given in the build config. No row is dropped silently: a row that
cannot become a record (no options, no unambiguous label, ...) is returned as a `Rejection` saying why.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from itertools import chain
from pathlib import Path

from medrl.benchmarks.loaders import normalise_options, text_of
from medrl.dataset.labels import LabelError, derive_label
from medrl.errors import MedrlError
from medrl.io.formats import TrainingSource, open_source
from medrl.io.hub import is_hub_input, open_hub_source


@dataclass(frozen=True)
class SourceFields:
    """Which column holds each part of a row (None: the source has no such column).

    `answer` is the correct option's text (or a letter); `label` a column that already holds the correct letter
    (or a 0-based index). Every named column must exist in the source; a row whose value is empty is rejected
    (question, options) or falls back (id: the row's index, dataset_name: the source's name, reasoning: "").
    """

    question: str = "question"
    options: str | None = "options"
    answer: str | None = "answer"
    label: str | None = None
    item_id: str | None = None
    reasoning: str | None = None
    dataset_name: str | None = None

    def __post_init__(self) -> None:
        if self.answer is None and self.label is None:
            raise MedrlError("a source field mapping needs an answer or a label column")

    def columns(self) -> list[str]:
        return [value for value in asdict(self).values() if value is not None]


# First-class formats; auto-detection picks the first whose columns the source has all of, so the most specific
# come first.
SOURCE_FORMATS: dict[str, SourceFields] = {
    # dataset_name, id_in_dataset, question, answer, reasoning, options, problem, label
    "ii-medical-rl": SourceFields(
        label="label", item_id="id_in_dataset", reasoning="reasoning", dataset_name="dataset_name"
    ),
    # MedReason: options is "Answer Choices:\nA. ...\nB. ..." (or "" when open-ended), answer the option's text
    "medreason": SourceFields(item_id="id_in_dataset", reasoning="reasoning", dataset_name="dataset_name"),
    # HuatuoGPT-o1 (huatuogpt_o1_demo.json): options {A..E}, answer_idx, answer, Complex_CoT
    "huatuogpt-o1": SourceFields(label="answer_idx", reasoning="Complex_CoT"),
    # medagents-benchmark PubMedQA (pubmedqa_trainpool.jsonl): realidx, options {A: yes, ..}, answer_idx, rationale
    "pubmedqa": SourceFields(label="answer_idx", item_id="realidx", reasoning="answer_rationale"),
    # medagents-benchmark layout: realidx, question, options {A..}, answer_idx
    "medagents": SourceFields(answer=None, label="answer_idx", item_id="realidx"),
    # question, options (["A. text", ..], a dict or a string), answer (the option's text): medqa_dev.json
    "qa": SourceFields(),
}


@dataclass(frozen=True)
class Source:
    """One training input: a file, a directory or glob of shards, or a hub dataset `hf://ORG/NAME[:CONFIG]` whose
    `split` is read (see `medrl.io.hub`). `name` is the dataset_name of rows that carry none (default: the file's
    stem, the hub dataset's name). `license` (a Hugging Face licence id such as `mit`, `apache-2.0`, `cc-by-4.0`) and
    `citation` go into the dataset card; medrl cannot know them, so a source without them is shown as "not
    declared"."""

    path: Path
    name: str | None = None
    format: str | None = None  # a SOURCE_FORMATS key; None: detect from the columns
    fields: SourceFields | None = None  # an explicit mapping, instead of a format
    license: str | None = None
    citation: str | None = None
    split: str | None = None  # a hub dataset's split; required for one, refused for any other input

    def __post_init__(self) -> None:
        if is_hub_input(self.path) and not self.split:
            raise MedrlError(
                f"{self.path}: name the hub dataset's split to read with --source-split (or split in [[sources]])"
            )
        if self.split and not is_hub_input(self.path):
            raise MedrlError(f"{self.path}: a split is read from a hub dataset (hf://ORG/NAME); this is a local input")
        if self.format is not None and self.format not in SOURCE_FORMATS:
            raise MedrlError(f"{self.path}: unknown source format {self.format!r}; known: {', '.join(SOURCE_FORMATS)}")
        if self.format is not None and self.fields is not None:
            raise MedrlError(f"{self.path}: give a source either a format or a field mapping, not both")

    @property
    def dataset_name(self) -> str:
        return self.name or Path(self.path).stem


@dataclass(frozen=True)
class TrainingRecord:
    """A normalised, labelled training row. `row_id` numbers every input row of a build (all sources, in order);
    `file` and `row` (0-based) say where it came from."""

    row_id: int
    file: str
    row: int
    dataset_name: str
    id_in_dataset: str
    question: str
    options: tuple[tuple[str, str], ...]  # (letter, text) in presentation order
    answer: str  # the correct option's text
    reasoning: str
    label: str  # the correct letter
    label_method: str  # how the label was found: given, exact, normalised, letter, prefix

    def identity(self) -> dict:
        """Where the row came from and its ids, for the side files."""
        return {
            "row_id": self.row_id,
            "file": self.file,
            "row": self.row,
            "dataset_name": self.dataset_name,
            "id_in_dataset": self.id_in_dataset,
        }


@dataclass(frozen=True)
class Rejection:
    """An input row that is not a usable record: `category` is a short key for counting, `reason` the detail."""

    row_id: int
    file: str
    row: int
    category: str
    reason: str
    raw: dict

    def to_dict(self) -> dict:
        return asdict(self)


def _present(value: object) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def to_record(raw: dict, mapping: SourceFields, source: Source, row_id: int, row: int) -> TrainingRecord | Rejection:
    """Normalise one row: options parsed into letters, label derived (see `medrl.dataset.labels.derive_label`)."""

    def reject(category: str, reason: str) -> Rejection:
        return Rejection(row_id, str(source.path), row, category, reason, raw)

    question = text_of(raw.get(mapping.question)).strip()
    if not question:
        return reject("no-question", f"the row has no question ({mapping.question!r} is empty)")
    options_value = raw.get(mapping.options) if mapping.options else None
    try:
        options = normalise_options(options_value)
    except MedrlError as error:
        return reject("bad-options", f"the options are not understood: {error}")
    if _present(options_value) and not options:
        return reject("bad-options", f"no lettered options in {options_value!r:.80} (expected lines like 'A. text')")
    answer = text_of(raw.get(mapping.answer)) if mapping.answer else ""
    try:
        label, method = derive_label(answer, options, raw.get(mapping.label) if mapping.label else None)
    except LabelError as error:
        return reject(error.category, error.detail)
    item_id = raw.get(mapping.item_id) if mapping.item_id else None
    dataset_name = raw.get(mapping.dataset_name) if mapping.dataset_name else None
    return TrainingRecord(
        row_id=row_id,
        file=str(source.path),
        row=row,
        dataset_name=str(dataset_name) if _present(dataset_name) else source.dataset_name,
        id_in_dataset=str(item_id) if _present(item_id) else str(row),
        question=question,
        options=options,
        answer=dict(options)[label],
        reasoning=text_of(raw.get(mapping.reasoning)) if mapping.reasoning else "",
        label=label,
        label_method=method,
    )


def detect_mapping(source: Source, columns: list[str]) -> tuple[str, SourceFields]:
    """(format name, mapping) for a source: its explicit mapping or format (checked against the columns), else
    the first first-class format whose columns are all there."""
    if source.fields is not None:
        name, mapping, what = "fields", source.fields, "the field mapping"
    elif source.format is not None:
        name, mapping, what = source.format, SOURCE_FORMATS[source.format], f"format {source.format}"
    else:
        for name, mapping in SOURCE_FORMATS.items():
            if all(column in columns for column in mapping.columns()):
                return name, mapping
        known = "; ".join(f"{name}: {', '.join(mapping.columns())}" for name, mapping in SOURCE_FORMATS.items())
        raise MedrlError(
            f"{source.path}: cannot tell the source format from its columns {columns}; the known formats need "
            f"({known}), or map the columns in the build config ([sources.fields])"
        )
    missing = [column for column in mapping.columns() if column not in columns]
    if missing:
        raise MedrlError(f"{source.path}: no column(s) {missing} for {what}; the columns are {columns}")
    return name, mapping


@dataclass(frozen=True)
class OpenedSource:
    """A source being read: its detected format name ("empty" without rows), its rows in order as records or
    rejections, what is read (to hash and describe), and the hub commit it was read at (None: a local input)."""

    format: str
    rows: Iterator[TrainingRecord | Rejection]
    input: TrainingSource
    revision: str | None

    def describe(self) -> dict:
        """The source's inputs as build.json records them: shards, hub split and commit where they apply."""
        return (
            {"sha256": self.input.sha256()}
            | ({"shards": [str(shard) for shard in self.input.shards]} if self.input.shards else {})
            | ({"revision": self.revision} if self.revision else {})
        )


def open_input(source: Source) -> tuple[TrainingSource, str | None]:
    """What the source reads, and the hub commit it is read at (None: a local input). A hub source is resolved
    here once: the commit checked is the commit read."""
    if is_hub_input(source.path):
        return open_hub_source(source.path, source.split)
    return open_source(source.path), None


def read_source(
    source: Source, first_row_id: int, batch_size: int, given: tuple[TrainingSource, str | None] | None = None
) -> OpenedSource:
    """Every row of the source in order as a record or a rejection; `row_id`s count on from `first_row_id`.
    `given` is the source's `open_input` when the caller has it. The format is known once the first batch is read,
    before any row is normalised."""
    opened, revision = given or open_input(source)
    batches = opened.batches(batch_size)
    first = next(batches, None)
    if first is None or not len(first):
        return OpenedSource("empty", iter(()), opened, revision)
    name, mapping = detect_mapping(source, list(first.to_pylist()[0]))

    def records() -> Iterator[TrainingRecord | Rejection]:
        for batch in chain([first], batches):
            for offset, raw in enumerate(batch.to_pylist()):
                row = batch.start + offset
                yield to_record(raw, mapping, source, first_row_id + row, row)

    return OpenedSource(name, records(), opened, revision)
