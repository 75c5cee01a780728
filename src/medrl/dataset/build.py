"""The build job: training sources -> labelled records -> deduplicated -> decontaminated -> RL exports.

Every input row ends in exactly one place: the exports (kept), `rejected.jsonl` (with the reason),
`duplicates.jsonl` (with the kept row it duplicates) or `contaminated.jsonl` (with the evidence). `build.json` and
the dataset card (`README.md`) count them per source and per step. Settings come from `BuildConfig`, which a TOML
file (`--config`) fills with the same keys as the command's flags.
"""

from __future__ import annotations

import bisect
import ctypes
import ctypes.util
import dataclasses
import re
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from medrl._version import __version__
from medrl.config import DEFAULT_PRESET, DETECTION_SETTINGS, DecontaminationConfig, preset
from medrl.dataset.card import card_markdown
from medrl.dataset.dedup import Duplicate, deduplicate
from medrl.dataset.exports import EXPORTS, write_exports, write_rows_atomic
from medrl.dataset.pass_rate import KEPT, PassRate, PassRateSettings, default_cache, measure, parse_band
from medrl.dataset.pass_rate import summary as pass_rate_summary
from medrl.dataset.render import DEFAULT_TEMPLATE, check_template, render_problem
from medrl.dataset.sources import Rejection, Source, SourceFields, TrainingRecord, open_input, read_source
from medrl.dataset.splits import TEST, VAL, HeldOut, assign_splits
from medrl.detection.decide import Verdict
from medrl.detection.rare_ngrams import CoverageConfig
from medrl.detection.runner import Column, DetectionRunner, Payload
from medrl.detection.text import folded_options
from medrl.errors import EmptyResult, MedrlError
from medrl.inference import EndpointConfig, SamplingParams
from medrl.io.formats import TrainingSource, estimate_rows, is_stream
from medrl.io.hub import is_hub_input
from medrl.io.out_lock import out_locked
from medrl.io.writers import write_text_atomic
from medrl.job import Job
from medrl.progress import Progress
from medrl.report import RunStats, benchmark_side, versions
from medrl.reporting.evidence import MATCHED_ITEMS, MatchedItems
from medrl.reporting.html import HTML_REPORT
from medrl.settings import Setting, check_keys, dataclass_table, merge, read_settings, require

# Record texts the decontamination can check (`fields`); "problem" is the rendered prompt, options included.
RECORD_FIELDS = ("question", "problem", "answer", "reasoning")
# Where an input row can end: exactly one of these (the Partition's fields); too_easy and too_hard only hold rows
# when the pass-rate filter runs.
OUTCOMES = ("kept", "rejected", "duplicates", "contaminated", "too_easy", "too_hard")
SIDE_FILES = {
    "rejected": "rejected.jsonl",
    "duplicates": "duplicates.jsonl",
    "contaminated": "contaminated.jsonl",
    "too_easy": "too_easy.jsonl",
    "too_hard": "too_hard.jsonl",
}
PASS_RATE_SIDES = ("too_easy", "too_hard")  # written only by builds that run the pass-rate filter


@dataclass(frozen=True)
class BuildConfig:
    """Everything a build needs; the TOML config file has the same keys (sources as paths or tables)."""

    sources: tuple[Source, ...]
    pack: Path
    out: Path
    preset: str = DEFAULT_PRESET
    exports: tuple[str, ...] = tuple(EXPORTS)
    template: str = DEFAULT_TEMPLATE  # the problem prompt: {question} and {options} are filled in
    split: str = "train"  # the train split's name (file names, verl extra_info, the DatasetDict key)
    # Held-out splits (`val`, `test`), placed by a stable hash of each duplicate cluster (see `medrl.dataset.splits`).
    val_fraction: float = 0.0
    val_size: int = 0
    test_fraction: float = 0.0
    test_size: int = 0
    allow_empty: bool = False  # a split with 0 rows is an error (exit 1) unless this is set
    # The dataset card's `pretty_name` and `language` (Hugging Face card metadata).
    pretty_name: str = "Medical multiple-choice RL dataset"
    language: tuple[str, ...] = ("en",)
    fields: tuple[str, ...] = ()  # record texts checked for contamination; () = the preset's (the question)
    near_duplicates: CoverageConfig | None = field(default_factory=CoverageConfig)  # None: exact duplicates only
    batch_size: int = 2048
    # Where detection runs (see `DecontaminationConfig`); results do not depend on them.
    processes: int = 0
    engine: str = "local"
    ray_address: str | None = None
    embedding_model: str | None = None  # the semantic stage's model (preset medrl-semantic); None: the preset's
    # Pass-rate filtering (`medrl.dataset.pass_rate`), off unless an endpoint is given: every kept problem sampled
    # `samples` times from `pass_rate_model`; rows outside the band `keep_pass_rate` go to too_easy/too_hard.
    pass_rate_endpoint: str | None = None  # the OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1
    pass_rate_model: str | None = None
    samples: int = 8
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 1024
    keep_pass_rate: str = "0:1"  # LO:HI keeps LO < pass rate < HI; "all" keeps every row
    pass_rate_seed: int = 0
    pass_rate_concurrency: int = 8
    pass_rate_timeout: float = 600.0
    pass_rate_attempts: int = 5  # per request, on 429, 5xx, unreadable answers and connection errors
    pass_rate_cache: Path | None = None  # the response cache; None: OUT.responses.sqlite beside --out
    # Detection settings over the preset's, as in `decontaminate --config` (`medrl.config.DETECTION_SETTINGS`: stage
    # tables, run_all_stages, ...). Left out of `to_dict`: the resolved detection config is in build.json.
    detection: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.sources:
            raise MedrlError("a build needs at least one source (--source FILE)")
        unknown = [name for name in self.exports if name not in EXPORTS]
        if unknown or not self.exports:
            raise MedrlError(f"unknown exports {unknown}; choose from {', '.join(EXPORTS)}")
        if self.batch_size < 1:
            raise MedrlError(f"batch_size must be >= 1, got {self.batch_size}")
        if not re.fullmatch(r"\w+", self.split, re.ASCII) or self.split in (VAL, TEST):
            raise MedrlError(
                f"split name {self.split!r} must be letters, digits and _ (it names files and the card's splits), "
                f"and not {VAL!r} or {TEST!r} (the held-out splits' names)"
            )
        held_out = self.held_out()  # checks the fractions and sizes
        if sum(split.fraction for split in held_out) >= 1:
            raise MedrlError("val_fraction + test_fraction must be below 1 (the train split needs rows)")
        if not self.language or not all(isinstance(code, str) and code for code in self.language):
            raise MedrlError(f"language must be a list of language codes, got {list(self.language)}")
        check_template(self.template)
        unknown = [name for name in self.decontamination().fields if name not in RECORD_FIELDS]  # checks the preset
        if unknown:
            raise MedrlError(f"unknown checked fields {unknown}; choose from {', '.join(RECORD_FIELDS)}")
        self.pass_rate()  # checks the pass-rate settings

    def pass_rate(self) -> PassRateSettings | None:
        """The pass-rate filter's settings, or None when no endpoint is given."""
        if not self.pass_rate_endpoint and not self.pass_rate_model:
            return None
        if not self.pass_rate_endpoint or not self.pass_rate_model:
            raise MedrlError(
                "pass-rate filtering needs both --pass-rate-endpoint URL and --pass-rate-model NAME "
                "(pass_rate_endpoint and pass_rate_model in --config)"
            )
        return PassRateSettings(
            EndpointConfig(
                self.pass_rate_endpoint,
                self.pass_rate_model,
                concurrency=self.pass_rate_concurrency,
                timeout=self.pass_rate_timeout,
                max_attempts=self.pass_rate_attempts,
            ),
            SamplingParams(self.temperature, self.max_tokens, self.top_p, self.pass_rate_seed),
            self.samples,
            parse_band(self.keep_pass_rate),
            Path(self.pass_rate_cache) if self.pass_rate_cache else default_cache(self.out),
        )

    def held_out(self) -> tuple[HeldOut, HeldOut]:
        """The held-out splits in the order they take clusters (see `medrl.dataset.splits`)."""
        return HeldOut(VAL, self.val_fraction, self.val_size), HeldOut(TEST, self.test_fraction, self.test_size)

    def decontamination(self) -> DecontaminationConfig:
        config = preset(self.preset).replace(
            batch_size=self.batch_size,
            processes=self.processes,
            engine=self.engine,
            ray_address=self.ray_address,
            **self.detection,
        )
        config = config.with_stage_option("embedding_model", self.embedding_model)
        return config.replace(fields=self.fields) if self.fields else config

    def to_dict(self) -> dict:
        values = dataclasses.asdict(self)
        del values["detection"]
        values.update(pack=str(self.pack), out=str(self.out), exports=list(self.exports), fields=list(self.fields))
        values["pass_rate_cache"] = str(self.pass_rate_cache) if self.pass_rate_cache else None
        values["language"] = list(self.language)
        values["sources"] = [{**source, "path": str(source["path"])} for source in values["sources"]]
        return values


# --- settings: a TOML file (`--config`) with the same keys as the command's flags --------------------------------


def _source(entry: object, base: Path, where: str) -> Source:
    """A source from a path string or a {path, name, format, fields} table (paths relative to the config)."""
    if isinstance(entry, str):
        return Source(Path(entry) if is_hub_input(entry) else base / entry)
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        raise MedrlError(f"{where}: each source is a path or a table with a `path`, got {entry!r:.80}")
    check_keys(entry, [f.name for f in dataclasses.fields(Source)], f"{where} [[sources]]")
    mapping = entry.get("fields")
    if mapping is not None:
        # An explicit mapping names only the columns the source has.
        mapping = {"options": None, "answer": None, **mapping}
        mapping = dataclass_table(SourceFields, mapping, f"{where} [sources.fields]")
    path = entry["path"]
    return Source(
        Path(path) if is_hub_input(path) else base / path,
        entry.get("name"),
        entry.get("format"),
        mapping,
        entry.get("license"),
        entry.get("citation"),
        entry.get("split"),
    )


def _near(value: bool | dict, base: Path, where: str) -> CoverageConfig | None:
    if isinstance(value, bool):
        return CoverageConfig() if value else None
    return dataclass_table(CoverageConfig, value, f"{where} [near_duplicates]")


BUILD_SETTINGS: dict[str, Setting] = {
    "sources": Setting((list,), convert=lambda value, base, where: tuple(_source(e, base, where) for e in value)),
    **dict.fromkeys(("pack", "out"), Setting((str,), path=True)),
    **dict.fromkeys(("preset", "template", "split", "engine", "ray_address", "pretty_name"), Setting((str,))),
    **dict.fromkeys(("pass_rate_endpoint", "pass_rate_model", "keep_pass_rate"), Setting((str,))),
    **dict.fromkeys(
        ("samples", "max_tokens", "pass_rate_seed", "pass_rate_concurrency", "pass_rate_attempts"), Setting((int,))
    ),
    **dict.fromkeys(("temperature", "top_p", "pass_rate_timeout"), Setting((float, int))),
    "pass_rate_cache": Setting((str,), path=True),
    "embedding_model": Setting((str,)),
    **dict.fromkeys(
        ("exports", "fields", "language"), Setting((list,), convert=lambda value, base, where: tuple(value))
    ),
    "near_duplicates": Setting((bool, dict), convert=_near),
    **dict.fromkeys(("batch_size", "processes", "val_size", "test_size"), Setting((int,))),
    **dict.fromkeys(("val_fraction", "test_fraction"), Setting((float, int))),
    "allow_empty": Setting((bool,)),
    **DETECTION_SETTINGS,
}


def read_config(path: str | Path) -> dict:
    """BuildConfig keyword arguments from a TOML file; relative paths are relative to the file."""
    return read_settings(path, BUILD_SETTINGS, "build config")


def make_config(config_file: str | Path | None = None, **overrides: object) -> BuildConfig:
    """The TOML file's settings (if any) with every override that is not None on top (the command's flags)."""
    values = merge(read_config(config_file) if config_file else {}, overrides)
    require("build", values, {"sources": "--source FILE", "pack": "--pack PACK", "out": "--out DIR"})
    detection = {key: values.pop(key) for key in DETECTION_SETTINGS if key in values}
    return BuildConfig(**values, detection=detection)


# --- the steps -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contaminated:
    record: TrainingRecord
    verdict: Verdict


@dataclass(frozen=True)
class Partition:
    """Where every input row went. `stats` holds the decontamination counts and seconds per stage; `splits` the
    kept rows of each split (train first), which together are `kept`. With the pass-rate filter, `pass_rates`
    holds every sampled row's pass rate (kept, too easy, too hard) and `pass_rate` the summary for the report."""

    rejected: list[Rejection]
    duplicates: list[Duplicate]
    contaminated: list[Contaminated]
    kept: list[TrainingRecord]
    stats: RunStats
    splits: dict[str, list[TrainingRecord]]
    too_easy: list[TrainingRecord] = field(default_factory=list)
    too_hard: list[TrainingRecord] = field(default_factory=list)
    pass_rates: dict[int, PassRate] = field(default_factory=dict)
    pass_rate: dict | None = None

    def row_ids(self, outcome: str) -> list[int]:
        """The input rows (`row_id`s) that ended in `outcome` (one of OUTCOMES)."""
        rows = getattr(self, outcome)
        return [row.row_id if isinstance(row, TrainingRecord | Rejection) else row.record.row_id for row in rows]


# The record texts its options belong to (the question, and the problem prompt that lists them).
OPTIONED_FIELDS = frozenset({"question", "problem"})


def record_text(record: TrainingRecord, name: str, template: str) -> str:
    if name == "problem":
        return render_problem(record.question, record.options, template)
    return getattr(record, name)


def decontaminate_records(
    records: list[TrainingRecord], runner: DetectionRunner, template: str, progress: Progress | None = None
) -> tuple[list[TrainingRecord], list[Contaminated], RunStats]:
    """Run the detection runner over batches of record texts, with each record's options for option-aware stages:
    (kept, contaminated with their verdicts, stats). `progress` is advanced by each batch's rows."""
    progress = progress or Progress()
    config = runner.config
    stats = RunStats()
    kept: list[TrainingRecord] = []
    contaminated: list[Contaminated] = []

    def payload(batch: list[TrainingRecord]) -> Payload:
        texts: dict[str, Column] = {
            name: [record_text(record, name, template) for record in batch] for name in config.fields
        }
        options = [folded_options(record.options) for record in batch]
        # A record's options belong to its question (and the problem that shows them), not to its answer or reasoning.
        return texts, {name: options for name in config.fields if name in OPTIONED_FIELDS}, len(batch)

    batches = (records[start : start + config.batch_size] for start in range(0, len(records), config.batch_size))
    for batch, (verdicts, seconds) in runner.run((batch, payload(batch)) for batch in batches):
        stats.add_seconds(seconds)
        stats.add(verdicts)
        progress.advance(len(verdicts))
        for record, verdict in zip(batch, verdicts, strict=True):
            if verdict.contaminated:
                contaminated.append(Contaminated(record, verdict))
            else:
                kept.append(record)
    return kept, contaminated, stats


def release_free_memory() -> None:
    """Hand freed heap memory back to the OS (glibc `malloc_trim`; a no-op where there is none).

    Dedup's large numpy temporaries raise glibc's mmap threshold, after which freed blocks stay in the heap and the
    next steps' memory is stacked on top of them: on a 32,682-row MedReason-shaped build with `ii-medical-rl`
    this takes the peak from about 1,025 MB to 925 MB (bench/perf/build_scale.py)."""
    with suppress(OSError, AttributeError):
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)


def partition(
    rows: list[TrainingRecord | Rejection], runner: DetectionRunner, config: BuildConfig, timer: _Timer | None = None
) -> Partition:
    """Steps 2-6 on normalised rows: set rejections aside, deduplicate, decontaminate, split (each a timed step)."""
    timer = timer or _Timer(Progress())
    records = [row for row in rows if isinstance(row, TrainingRecord)]
    rejected = [row for row in rows if isinstance(row, Rejection)]
    with timer.step("deduplicate", len(records)) as progress:
        deduplicated = deduplicate(records, config.near_duplicates, config.batch_size, progress.advance)
        release_free_memory()
    with timer.step("decontaminate", len(deduplicated.kept)) as progress:
        kept, contaminated, stats = decontaminate_records(deduplicated.kept, runner, config.template, progress)
    settings = config.pass_rate()
    banded: dict[str, list[TrainingRecord]] = {KEPT: kept, "too_easy": [], "too_hard": []}
    rates: dict[int, PassRate] = {}
    summary = None
    if settings is not None:
        with timer.step("pass rate", len(kept)) as progress:
            rates, usage = measure(kept, config.template, settings, progress.advance)
        banded[KEPT] = []
        for record in kept:
            banded[settings.outcome(rates[record.row_id].rate)].append(record)
        counts = Counter({name: len(rows) for name, rows in banded.items()})
        summary = pass_rate_summary(settings, rates, counts, usage)
    by_id = {record.row_id: record for record in records}
    splits = assign_splits(banded[KEPT], deduplicated.clusters, by_id, config.split, config.held_out())
    return Partition(
        rejected,
        deduplicated.duplicates,
        contaminated,
        banded[KEPT],
        stats,
        splits,
        banded["too_easy"],
        banded["too_hard"],
        rates,
        summary,
    )


# --- the job -------------------------------------------------------------------------------------------------------


def _side_rows(result: Partition, matched_items: MatchedItems) -> dict[str, list[dict]]:
    def shown(record: TrainingRecord) -> dict:
        return {**record.identity(), "question": record.question, "label": record.label}

    contaminated = set(result.row_ids("contaminated"))  # a kept duplicate may then be found contaminated
    banded = {
        name: [
            {**shown(record), **result.pass_rates[record.row_id].columns()}
            | {"correct": result.pass_rates[record.row_id].correct}
            for record in getattr(result, name)
        ]
        for name in PASS_RATE_SIDES
        if result.pass_rate is not None
    }
    return banded | {
        "rejected": [rejection.to_dict() for rejection in result.rejected],
        "duplicates": [
            {**shown(d.record), "duplicate_of": d.of.identity(), "method": d.method, "score": d.score}
            | {"via": d.via.identity() if d.via else None}
            | {"duplicate_of_outcome": "contaminated" if d.of.row_id in contaminated else "kept"}
            for d in result.duplicates
        ],
        "contaminated": [
            {**shown(c.record), "contamination": matched_items.evidence(c.verdict.matches, c.record.row_id)}
            for c in result.contaminated
        ],
    }


def _counts(result: Partition, starts: list[int], source_count: int) -> list[Counter]:
    """Per source, how many of its rows went where."""
    counts: list[Counter[str]] = [Counter() for _ in range(source_count)]
    for outcome in OUTCOMES:
        for row_id in result.row_ids(outcome):
            counts[bisect.bisect_right(starts, row_id) - 1][outcome] += 1
    return counts


def _steps(input_rows: int, result: Partition, config: BuildConfig) -> list[dict]:
    """Rows in, removed and out at each step that removes rows."""
    near = sum(1 for duplicate in result.duplicates if duplicate.method == "near")
    removed = [
        ("read", 0, "every row of every source"),
        ("label", len(result.rejected), "no options, no unambiguous label, or unusable fields"),
        ("dedup-exact", len(result.duplicates) - near, "same normalised question and options as an earlier row"),
        ("dedup-near", near, "the coverage detector matches an earlier kept row"),
        ("decontaminate", len(result.contaminated), f"matches a benchmark item (preset {config.preset})"),
    ]
    if result.pass_rate is not None:
        keep = result.pass_rate["keep"]
        band = "kept every row" if keep["above"] is None else f"keeps {keep['above']} < pass rate < {keep['below']}"
        why = f"pass rate of {result.pass_rate['model']} outside the band ({band})"
        removed.append(("pass-rate", len(result.too_easy) + len(result.too_hard), why))
    steps, rows = [], input_rows
    for name, count, why in removed:
        steps.append({"step": name, "in": rows, "removed": count, "out": rows - count, "why": why})
        rows -= count
    return steps


class _Timer:
    """Seconds per step, each step a progress stage (of `total` rows when it counts them)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.seconds: dict[str, object] = {}

    @contextmanager
    def step(self, name: str, total: int | None = None, estimated: bool = False) -> Iterator[Progress]:
        started = time.perf_counter()
        with self.progress.stage(name, total, estimated) as stage:
            yield stage
        self.seconds[name] = round(time.perf_counter() - started, 4)


CARD, SUMMARY = "README.md", "build.json"


def owns_output(name: str) -> bool:
    """A build's output set: every export directory (requested or not, so a rebuild leaves no stale export), the
    side files, the card and the summary. Other entries of `--out` are left alone."""
    return name in EXPORTS or name in SIDE_FILES.values() or name in (CARD, SUMMARY, HTML_REPORT, MATCHED_ITEMS)


def build(config: BuildConfig, progress: Progress | None = None) -> dict:
    """Run every step and write the exports, side files, `README.md`, `build.json` and `report.html` into
    `config.out` as one output set (see `medrl.io.output_set`; one run at a time, `medrl.io.out_lock`); return what
    `build.json` holds. `progress` is told each step and its rows.

    Sources are opened (and their formats checked) before the pack is indexed, so a bad input fails in seconds. A
    split left with 0 rows raises `EmptyResult` (exit 1) after the outputs are written, so the side files show
    where every row went, unless `allow_empty` is set."""
    started = time.perf_counter()
    timer = _Timer(progress or Progress())
    local = [Path(source.path) for source in config.sources if not is_hub_input(source.path)]
    missing = [str(path) for path in local if not path.exists() and not is_stream(path)]
    if missing:
        raise MedrlError(f"{missing[0]}: no such source file or directory; check --source (or sources in --config)")
    with out_locked(config.out), Job(config.out, owns_output, local, config.pack, timer.progress, "source") as job:
        summary = _build_into(job, config, timer)
        summary["seconds"] = timer.seconds | {"total": round(time.perf_counter() - started, 4)}
        job.finish(SUMMARY, summary)
    empty = [name for name, split in summary["splits"].items() if not split["rows"]]
    if empty and not config.allow_empty:
        totals = summary["totals"]
        raise EmptyResult(
            f"the build kept 0 rows for split(s) {', '.join(empty)} ({totals['input']} input rows: "
            f"{totals['rejected']} rejected {summary['rejected_by_reason']}, {totals['duplicates']} duplicates, "
            f"{totals['contaminated']} contaminated, {totals['too_easy']} too easy, {totals['too_hard']} too hard); "
            f"the side files in {config.out} say why each row was removed; "
            "pass --allow-empty (allow_empty = true) to accept an empty split"
        )
    return summary


def _check_sources(config: BuildConfig) -> list[tuple[TrainingSource, str | None]]:
    """Open each source and detect its format from its first rows, so missing columns, unknown layouts and
    unreadable files fail in seconds, before the pack is indexed. The rows are read after the index, so building
    the index and holding every row never happen at once. Returns each source's `open_input`, which the read
    reuses (sized and counted meanwhile)."""
    inputs = [open_input(source) for source in config.sources]
    for source, opened in zip(config.sources, inputs, strict=True):
        read_source(source, 0, config.batch_size, opened)
    return inputs


def _read_sources(
    config: BuildConfig, inputs: list[tuple[TrainingSource, str | None]]
) -> tuple[list[TrainingRecord | Rejection], list[dict], list[int]]:
    """Every source's rows in order (records or rejections), a description of each source, each one's first row."""
    rows: list[TrainingRecord | Rejection] = []
    sources, starts = [], []
    for source, given in zip(config.sources, inputs, strict=True):
        starts.append(len(rows))
        opened = read_source(source, len(rows), config.batch_size, given)
        rows.extend(opened.rows)
        sources.append(
            {
                "path": str(source.path),
                "file": Path(source.path).name,
                "format": opened.format,
                "dataset_name": source.dataset_name,
                "license": source.license,
                "citation": source.citation,
            }
            | ({"split": source.split} if source.split else {})
            | opened.describe()
        )
    return rows, sources, starts


def _build_into(job: Job, config: BuildConfig, timer: _Timer) -> dict:
    with timer.step("check sources"):
        inputs = _check_sources(config)

    with timer.step("index"):
        decontamination = config.decontamination()
        pack, runner = job.detection(decontamination, sum(opened.size() for opened, _ in inputs))

    estimates = [estimate_rows(opened) for opened, _ in inputs]
    total, exact = sum(rows for rows, _ in estimates), all(exact for _, exact in estimates)
    with timer.step("read", total, not exact) as progress:
        rows, sources, starts = _read_sources(config, inputs)
        progress.advance(len(rows))

    result = partition(rows, runner, config, timer)

    with timer.step("write"):
        columns = {row_id: rate.columns() for row_id, rate in result.pass_rates.items()}
        exports = write_exports(
            result.splits, job.outputs.stage, config.exports, config.template, columns if result.pass_rate else None
        )
        matched_items = MatchedItems(pack.items)
        side_files = _side_rows(result, matched_items)
        for name, side_rows in side_files.items():
            write_rows_atomic(job.path(SIDE_FILES[name]), "jsonl", [side_rows])
        matched_items.write(job.path(MATCHED_ITEMS))
        for source, counts in zip(sources, _counts(result, starts, len(sources)), strict=True):
            source["rows"] = counts.total()
            source.update({outcome: counts[outcome] for outcome in OUTCOMES})
        summary = {
            "medrl_version": __version__,
            "totals": {"input": len(rows)} | {outcome: len(getattr(result, outcome)) for outcome in OUTCOMES},
            "sources": sources,
            "steps": _steps(len(rows), result, config),
            "splits": {
                name: {"rows": len(records), "by_dataset": dict(Counter(r.dataset_name for r in records).most_common())}
                for name, records in result.splits.items()
            },
            "rejected_by_reason": dict(Counter(rejection.category for rejection in result.rejected).most_common()),
            "labels_by_method": dict(Counter(record.label_method for record in result.kept).most_common()),
            "kept_by_dataset": dict(Counter(record.dataset_name for record in result.kept).most_common()),
            "decontamination": {
                "preset": config.preset,
                "fields": list(decontamination.fields),
                "rows": len(result.contaminated),
                "by_benchmark": dict(sorted(result.stats.by_benchmark.items())),
                "by_method": dict(sorted(result.stats.by_method.items())),
                "by_field": dict(sorted(result.stats.by_field.items())),
                "benchmark_items": benchmark_side(result.stats.items_found, pack.items, pack.manifest),
                "config": decontamination.to_dict(),
            },
            "pack": pack.summary(),
            **({"pass_rate": result.pass_rate} if result.pass_rate is not None else {}),
            "exports": exports,
            "side_files": {name: SIDE_FILES[name] for name in SIDE_FILES if name in side_files},
            "config": config.to_dict(),
            "versions": versions(),
        }
        write_text_atomic(job.path(CARD), card_markdown(summary))
    timer.seconds["detect"] = {key: round(value, 4) for key, value in sorted(result.stats.seconds.items())}
    return summary
