"""The decontamination job: read -> records -> index -> detect -> decide -> write + report.

`decontaminate` wires files to the detection runner (`medrl.detection.runner`), which runs the stages.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from medrl.config import DEFAULT_PRESET, DETECTION_SETTINGS, PRESETS, DecontaminationConfig, preset
from medrl.detection.records import (
    MULTIPLE_CHOICE_HINTS,
    CheckedTexts,
    batch_columns,
    detect_options_field,
    field_options,
    field_texts,
)
from medrl.detection.runner import Payload
from medrl.detection.text import option_texts
from medrl.errors import MedrlError
from medrl.io.formats import (
    FORMATS,
    OUTPUT_SUFFIX,
    STDIN,
    estimate_rows,
    is_stream,
    open_source,
    open_writer,
    output_name,
)
from medrl.io.hub import is_hub_input, open_hub_source
from medrl.io.out_lock import out_locked
from medrl.io.output_set import scratch_directory
from medrl.io.readers import RowBatch
from medrl.io.writers import RowWriter, formula_note
from medrl.job import Job
from medrl.progress import Progress
from medrl.report import CLEAN, REMOVED, REVIEW, Report, RunStats, benchmark_side, destination, versions
from medrl.reporting.evidence import MATCHED_ITEMS, MatchedItems
from medrl.reporting.html import HTML_REPORT
from medrl.settings import Setting, merge, read_settings, require

REPORT = "report.json"
# What a decontamination output set holds (and replaces as a whole); other entries of --out are left alone.
_OUTPUT_STEMS = (CLEAN, REMOVED, REVIEW)


def owns_output(name: str) -> bool:
    return name in (REPORT, HTML_REPORT, MATCHED_ITEMS) or any(
        name == output_name(stem, fmt) for stem in _OUTPUT_STEMS for fmt in OUTPUT_SUFFIX
    )


# The removed rows' evidence column: one struct per kept `medrl.detection.decide.Match`.
EVIDENCE_COLUMN = "contamination"
MATCH_TYPE = pa.list_(
    pa.struct(
        [
            ("benchmark", pa.string()),
            ("split", pa.string()),
            ("item_id", pa.string()),
            ("method", pa.string()),
            ("score", pa.float64()),
            ("evidence", pa.string()),
            ("field", pa.string()),
            ("row_span", pa.list_(pa.int64())),
            ("item_span", pa.list_(pa.int64())),
            ("confidence", pa.string()),
            # The row's 0-based input position (`medrl.reporting.evidence`; the item's text is in matched_items.jsonl).
            ("input_row", pa.int64()),
        ]
    )
)


class OptionsChoice:
    """Which column(s) give each row's options, settled on the first batch: the one named, or for "auto" the one
    found by name (`detect_options_field`), and how many rows' options were read from each layout (a native list,
    JSON text, lines...: `medrl.benchmarks.loaders.read_options`). Rows look multiple-choice but no options
    anywhere, or options cells that give none: a note says so."""

    def __init__(self, setting: str | tuple[str, ...] | None) -> None:
        self.setting = setting
        self.field: str | tuple[str, ...] | None = None
        self.how = "off" if setting in (None, "none") else "auto" if setting == "auto" else "given"
        self.first_notes: list[str] = []
        self.layouts: Counter[str] = Counter()
        self.unreadable: str | None = None  # the first row whose options cell gave no options, with its value
        self.settled = self.how != "auto"
        if self.how == "given":
            self.field = tuple(setting.split(",")) if isinstance(setting, str) and "," in setting else setting

    def of(self, batch: RowBatch, texts: dict[str, dict[int, str]], source: Path) -> list[frozenset[str]] | None:
        if not self.settled:
            self.settled = True
            columns = batch_columns(batch)
            self.field = detect_options_field(columns)
            self.how = "detected" if self.field else "none found"
            hints = [name for name in MULTIPLE_CHOICE_HINTS if name in columns]
            inline = any(option_texts(text) for column in texts.values() for text in column.values())
            if self.field is None and hints and not inline:
                self.first_notes.append(
                    f"{source}: rows look multiple-choice (column {hints[0]!r}) but no options column was found and "
                    "the checked text lists none; name it with --options-field COLUMN for option-aware matching"
                )
        if self.field is None:
            return None
        options, layouts = field_options(batch, self.field, source, required=self.how == "given")
        self.layouts.update(layouts)
        if self.unreadable is None and "unreadable" in layouts and isinstance(self.field, str):
            offset = layouts.index("unreadable")
            value = batch.column(self.field)[offset]
            self.unreadable = f"{source}, {batch.where(offset)}: {value!r:.80}"
        return options

    @property
    def notes(self) -> list[str]:
        """What the run should tell about options: no options found, or cells whose options could not be read."""
        if not self.unreadable:
            return self.first_notes
        return [
            *self.first_notes,
            f"{self.layouts['unreadable']} rows' options column {self.field!r} gave no options (first: "
            f"{self.unreadable}); lists, JSON text, lettered lines or one option per line are read; these rows "
            "were compared by the options written in their text",
        ]

    def summary(self) -> dict:
        """For report.json: the column(s) used, how they were chosen (given, detected, none found, off), and how
        many rows' options were read from each layout (`read_as`: list, dict, json-text, lines, columns, empty,
        unreadable)."""
        field = list(self.field) if isinstance(self.field, tuple) else self.field
        return {"field": field, "how": self.how, "read_as": dict(sorted(self.layouts.items()))}


def _timed(batches: Iterator[RowBatch], stats: RunStats) -> Iterator[RowBatch]:
    """Count the time spent reading into stats.seconds["read"]."""
    while True:
        started = time.perf_counter()
        batch = next(batches, None)
        stats.add_seconds({"read": time.perf_counter() - started})
        if batch is None:
            return
        yield batch


def decontaminate(
    input: str | Path,
    pack: str | Path,
    out: str | Path,
    preset_name: str = DEFAULT_PRESET,
    *,
    config: DecontaminationConfig | None = None,
    fields: tuple[str, ...] | list[str] | None = None,
    input_format: str | None = None,
    output_format: str | None = None,
    split: str | None = None,
    csv_safe: bool = False,
    progress: Progress | None = None,
) -> Report:
    """Split `input` into `out/clean.*` and `out/removed.*` (with evidence) and write `out/report.json` and
    `out/report.html`. `input` is a file, a `save_to_disk` directory, shards (a directory or a glob), a stream
    (`-` for standard input, a pipe, a FIFO: copied once beside `out`, see `open_source`), or a hub dataset
    `hf://ORG/NAME[:CONFIG]` whose `split` is read (see `medrl.io.hub`). One run at a time writes into `out`
    (`medrl.io.out_lock`).

    `config` overrides the preset; `fields` overrides the checked columns; `csv_safe` defuses formula-like cells
    of CSV outputs. `progress` is told each stage's rows.
    """
    progress = progress or Progress()
    started = time.perf_counter()
    config = config or preset(preset_name)
    if fields:
        config = config.replace(fields=tuple(fields))
    with out_locked(out), contextlib.ExitStack() as scratch:
        revision = None
        if is_hub_input(input):
            source, revision = open_hub_source(input, split)
        elif split is not None:
            raise MedrlError(
                f"--split {split} reads a split of a hub dataset (hf://ORG/NAME); {input} is a local input"
            )
        else:
            spool = scratch.enter_context(scratch_directory(out)) if is_stream(input) else None
            source = open_source(input, input_format, spool)
        out_format = output_format or source.format
        if out_format not in FORMATS:
            raise MedrlError(f"unknown output format {out_format!r}; use one of {', '.join(FORMATS)}")
        stats = RunStats()
        # The first batch is read and its checked fields resolved before the pack is indexed, so a wrong --field or path
        # fails in a second; the batch is then processed as any other.
        schema, columns = source.arrow_schema(), source.column_names()
        read = _timed(source.batches(config.batch_size), stats)
        first = next(read, None)
        first_checked = field_texts(first, config.fields, source.path, config.roles) if first is not None else None
        with Job(out, owns_output, source.files, pack, progress) as job:
            index_started = time.perf_counter()
            with progress.stage("index"):
                benchmark_pack, runner = job.detection(config, source.size())
            stats.seconds["index"] = time.perf_counter() - index_started
            matched_items = MatchedItems(benchmark_pack.items)

            def open_output(stem: str, evidence: bool = True) -> RowWriter:
                path = job.path(output_name(stem, out_format))
                extra_column, extra_type = (EVIDENCE_COLUMN, MATCH_TYPE) if evidence else (None, None)
                return open_writer(path, out_format, schema, columns, extra_column, extra_type, csv_safe)

            clean = open_output(CLEAN, evidence=False)
            flagged_writers = {REMOVED: open_output(REMOVED)}
            if config.review == "separate":
                flagged_writers[REVIEW] = open_output(REVIEW)

            options = OptionsChoice(config.options_field)

            def records(batch: RowBatch) -> tuple[tuple[RowBatch, CheckedTexts], Payload]:
                if batch is first and first_checked is not None:  # resolved before the pack was read
                    checked = first_checked
                else:
                    checked = field_texts(batch, config.fields, source.path, config.roles)
                found = options.of(batch, checked.texts, source.path)
                # The options column describes the row's question: the first checked field (see `detect_batch`).
                question = [label for label, field in checked.fields.items() if field == config.fields[0]]
                return (batch, checked), (
                    dict(checked.texts),
                    dict.fromkeys(question, found) if found is not None else {},
                    checked.rows,
                )

            batches = (records(batch) for batch in itertools.chain([first] if first else [], read))
            with progress.stage("read, detect, write", *estimate_rows(source)) as rows_done:
                for (batch, checked), (found, seconds) in runner.run(batches):
                    verdicts = checked.name_fields(found)
                    stats.add_seconds(seconds)
                    write_started = time.perf_counter()
                    destinations = [destination(verdict, config.review) for verdict in verdicts]
                    clean.write(batch, [i for i, where in enumerate(destinations) if where == CLEAN])
                    for where, writer in flagged_writers.items():
                        rows = [i for i, row_destination in enumerate(destinations) if row_destination == where]
                        evidence = [matched_items.evidence(verdicts[i].matches, batch.start + i) for i in rows]
                        writer.write(batch, rows, evidence)
                    stats.add(verdicts, destinations)
                    stats.add_seconds({"write": time.perf_counter() - write_started})
                    rows_done.advance(len(verdicts))
                for writer in (clean, *flagged_writers.values()):
                    writer.commit()
                matched_items.write(job.path(MATCHED_ITEMS))

            stats.seconds["total"] = time.perf_counter() - started
            report = Report(
                input={"path": str(source.path), "format": source.format, "sha256": source.sha256()}
                | ({"shards": [str(shard) for shard in source.shards]} if source.shards else {})
                | ({"split": split, "revision": revision} if revision else {}),
                outputs={
                    "format": out_format,
                    "clean": str(job.final_path(clean.path.name)),
                    "removed": str(job.final_path(flagged_writers[REMOVED].path.name)),
                    # Every other file of this output set (but report.html, a view of them: see `Job.finish`).
                    "sha256": job.hashes(),
                },
                input_rows=stats.input_rows,
                kept_rows=stats.kept_rows,
                removed_rows=stats.removed_rows,
                review_rows=stats.review_rows,
                review_policy=config.review,
                by_benchmark=dict(sorted(stats.by_benchmark.items())),
                by_method=dict(sorted(stats.by_method.items())),
                by_confidence=dict(sorted(stats.by_confidence.items())),
                by_field=dict(sorted(stats.by_field.items())),
                benchmark_items=benchmark_side(stats.items_found, benchmark_pack.items, benchmark_pack.manifest),
                config=config.to_dict(),
                options=options.summary(),
                notes=options.notes + formula_note([clean, *flagged_writers.values()]),
                pack=benchmark_pack.summary(),
                versions=versions(),
                seconds={key: round(value, 4) for key, value in sorted(stats.seconds.items())},
            )
            job.finish(REPORT, report.to_dict())
        return report


# --- settings: a TOML file (`decontaminate --config`) with the same keys as the command's flags -----------------


_RUN_KEYS: tuple[str, ...] = (
    "fields",
    "roles",
    "options_field",
    "review",
    "batch_size",
    "processes",
    "engine",
    "ray_address",
)
_RUN_KEYS += tuple(DETECTION_SETTINGS)
DECONTAMINATE_SETTINGS: dict[str, Setting] = {
    # A hub input (hf://...) and standard input (-) are not paths relative to the file.
    "input": Setting(
        (str,), convert=lambda value, base, where: value if is_hub_input(value) or value == STDIN else base / value
    ),
    **dict.fromkeys(("pack", "out"), Setting((str,), path=True)),
    **dict.fromkeys(("preset", "review", "format", "input_format", "engine", "ray_address", "split"), Setting((str,))),
    "options_field": Setting(
        (str, list), convert=lambda value, base, where: tuple(value) if isinstance(value, list) else value
    ),
    **dict.fromkeys(("fields", "roles"), Setting((list,), convert=lambda value, base, where: tuple(value))),
    **dict.fromkeys(("batch_size", "processes"), Setting((int,))),
    "csv_safe": Setting((bool,)),
    **DETECTION_SETTINGS,
}


def decontaminate_settings(config_file: str | Path | None = None, **overrides: object) -> dict:
    """Keyword arguments for `decontaminate` from a TOML file (keys: `DECONTAMINATE_SETTINGS`, e.g. `preset`,
    `fields`, `[coverage]` thresholds) with the given overrides (not None) on top: the CLI's `--config` and flags.

    The preset gives every setting a value; the file's and the overrides' keys replace them.
    """
    values = read_settings(config_file, DECONTAMINATE_SETTINGS, "decontaminate config") if config_file else {}
    values = merge(values, overrides)
    require("decontaminate", values, {"input": "INPUT", "pack": "--pack PACK", "out": "--out DIR"})
    name = values.pop("preset", DEFAULT_PRESET)
    if name not in PRESETS:
        raise MedrlError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}")
    changes = {key: values.pop(key) for key in _RUN_KEYS if key in values}
    return {
        "input": values["input"] if is_hub_input(values["input"]) else Path(values["input"]),
        "pack": Path(values["pack"]),
        "out": Path(values["out"]),
        "config": preset(name).replace(**changes).with_stage_option("embedding_model", values.get("embedding_model")),
        "input_format": values.get("input_format"),
        "output_format": values.get("format"),
        "split": values.get("split"),
        "csv_safe": values.get("csv_safe", False),
    }
