"""`medrl` command line: a thin typer layer over the Python API (same functions, same report)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from medrl._version import __version__
from medrl.benchmarks.hub import MirrorLoader
from medrl.benchmarks.pack import (
    add_benchmark,
    benchmark_spec,
    fetch_benchmarks,
    import_benchmarks,
    load_pack,
    verify_pack,
)
from medrl.benchmarks.registry import SPECS, parse_split_overrides, registry_markdown
from medrl.config import DEFAULT_PRESET, PRESETS
from medrl.dataset.build import build as run_build
from medrl.dataset.build import make_config
from medrl.dataset.exports import EXPORTS
from medrl.dataset.sources import Source
from medrl.detection.stages import STAGE_NAMES, run_option_help
from medrl.errors import MedrlError
from medrl.evaluation.evaluate import EvalSettings, evaluate
from medrl.inference import EndpointConfig, SamplingParams
from medrl.io.formats import FORMATS
from medrl.io.hub import is_hub_input
from medrl.pipeline import decontaminate as run_decontaminate
from medrl.pipeline import decontaminate_settings
from medrl.progress import Progress, TerminalProgress
from medrl.reporting.compare import compare_runs
from medrl.reporting.html import write_html_report
from medrl.reporting.review import match_label
from medrl.reporting.review import review as print_review
from medrl.reporting.runs import load_run
from medrl.reporting.subsets import clean_subsets

console = Console(stderr=True, soft_wrap=True)  # one-line messages, never wrapped


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so every cleanup on the way out runs (staged outputs are discarded)."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def _one_line(error: BaseException) -> str:
    """What went wrong, on one line, for errors that are not medrl's own."""
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        reason = error.strerror or str(error)
        fixes = {
            errno.ENOSPC: "free some space or choose another --out",
            errno.EROFS: "choose a writable location",
            errno.EACCES: "check the permissions",
            errno.EPERM: "check the permissions",
            errno.ENOENT: "check the path",
        }
        return f"{where}{reason}; {fixes.get(error.errno or 0, 'check the path and the disk')}"
    if isinstance(error, pa.ArrowException):
        return f"Arrow could not read or write the data ({error}); check that the file is complete and of its format"
    return f"unexpected {type(error).__name__}: {error} (run with --debug for the traceback, and please report it)"


class _OneLineErrors(TyperGroup):
    """Every command's error becomes one line on stderr and exit status 2, never a traceback (`--debug` shows it).
    SIGINT exits 130 and SIGTERM 143 after the same cleanup (no output set is left half-written)."""

    def invoke(self, ctx: Any) -> Any:  # typer's (vendored) click Context
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, _terminate)
        debug = os.environ.get("MEDRL_DEBUG") == "1"
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            console.print("[bold red]interrupted:[/] no output was changed", highlight=False)
            raise typer.Exit(130) from None
        except Terminated:
            console.print("[bold red]terminated:[/] no output was changed", highlight=False)
            raise typer.Exit(143) from None
        except Exception as error:
            if debug or ctx.obj == "debug" or type(error).__module__.startswith(("typer", "click")):
                raise  # usage errors and exits are the command line's own; they print themselves
            message = str(error) if isinstance(error, MedrlError) else _one_line(error)
            console.print(f"[bold red]error:[/] {escape(' '.join(message.split()))}", highlight=False)
            raise typer.Exit(getattr(error, "exit_code", 2)) from None
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


app = typer.Typer(no_args_is_help=True, add_completion=False, cls=_OneLineErrors)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"medrl {__version__}")
        raise typer.Exit(0)


@app.callback()
def _options(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")] = False,
    version: Annotated[
        bool, typer.Option("--version", help="Print medrl's version and exit.", callback=_print_version, is_eager=True)
    ] = False,
) -> None:
    """Medical QA -> clean, verifiable RL datasets, provably free of evaluation-benchmark contamination."""
    if debug:
        ctx.obj = "debug"


benchmarks_app = typer.Typer(no_args_is_help=True, help="Build and inspect benchmark packs.")
app.add_typer(benchmarks_app, name="benchmarks")

PackOption = Annotated[Path, typer.Option("--pack", help="Benchmark pack directory.")]
# Where detection runs (decontaminate and build); results never depend on them.
ProcessesOption = Annotated[
    int | None, typer.Option(help="Worker processes for detection (0: one per core for inputs over 16 MB).")
]
EngineOption = Annotated[
    str | None, typer.Option(help="Where detection batches run: local (processes on this machine) or ray.")
]
RayAddressOption = Annotated[
    str | None,
    typer.Option(
        help="Ray cluster for --engine ray: an address, or auto for the running one (default: a private local Ray)."
    ),
]
EmbeddingModelOption = Annotated[
    str | None,
    typer.Option(
        "--embedding-model",
        help=run_option_help("embedding_model"),
    ),
]
RunAllStagesOption = Annotated[
    bool | None,
    typer.Option("--run-all-stages/--cascade", help="Run every stage on every row (complete evidence)."),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors (no progress, no summary).")]


def _progress(quiet: bool) -> Progress:
    """Progress on stderr: a live bar on a terminal, a log line every few seconds otherwise; none when quiet."""
    return Progress() if quiet else TerminalProgress(console, live=console.is_terminal)


SplitOption = Annotated[
    list[str] | None,
    typer.Option("--split", help="Override a split policy, BENCHMARK=SPLIT (e.g. pubmedqa=pqa_l); repeatable."),
]
PartialOption = Annotated[
    bool, typer.Option(help="Accept known benchmarks whose row count differs from the official one.")
]


def _print_entries(entries: list) -> None:
    for entry in entries:
        note = "" if entry.expected_rows in (None, entry.rows) else f" (official: {entry.expected_rows})"
        verb = {"local": "imported", "hub": "fetched", "user": "added"}[entry.origin]
        console.print(f"{verb} {entry.name}: {entry.rows} rows, split {', '.join(entry.splits)}{note}")


@benchmarks_app.command("import")
def benchmarks_import(
    source: Annotated[Path, typer.Argument(help="Directory of <benchmark>/<split files> directories.")],
    pack: PackOption,
    split: SplitOption = None,
    allow_partial: PartialOption = False,
) -> None:
    """Normalise local benchmark files (shared layout or hub exports) into a pack."""
    _print_entries(import_benchmarks(source, pack, allow_partial, parse_split_overrides(split)))
    console.print(f"pack written to {escape(str(pack))}")


@benchmarks_app.command("fetch")
def benchmarks_fetch(
    pack: PackOption,
    names: Annotated[list[str] | None, typer.Argument(help="Registry names (default: every one on the hub).")] = None,
    split: SplitOption = None,
    revision: Annotated[list[str] | None, typer.Option(help="Pin a hub revision, BENCHMARK=REV; repeatable.")] = None,
    mirror: Annotated[
        Path | None, typer.Option(help="Read a local hub mirror <repo_id>/<config>/<split>.<ext> instead.")
    ] = None,
    allow_partial: PartialOption = False,
) -> None:
    """Load registry benchmarks from the Hugging Face hub, pinning the resolved revision in the manifest."""
    revisions = dict(value.split("=", 1) for value in revision or () if "=" in value)
    loader = MirrorLoader(mirror) if mirror else None
    entries = fetch_benchmarks(names or [], pack, loader, parse_split_overrides(split), revisions, allow_partial)
    _print_entries(entries)


@benchmarks_app.command("add")
def benchmarks_add(
    pack: PackOption,
    name: Annotated[str | None, typer.Argument(help="Benchmark name in the pack.")] = None,
    file: Annotated[Path | None, typer.Option(help="The benchmark's rows (.jsonl/.json/.csv/.parquet).")] = None,
    question_field: Annotated[
        str | None, typer.Option(help="Column with the question text (default: question).")
    ] = None,
    options_field: Annotated[str | None, typer.Option(help="Column with the options.")] = None,
    answer_field: Annotated[str | None, typer.Option(help="Column with the answer.")] = None,
    id_field: Annotated[str | None, typer.Option(help="Column with the item id (default: row index).")] = None,
    split: Annotated[str | None, typer.Option("--split", help="Split name to record (default: test).")] = None,
    spec: Annotated[
        Path | None, typer.Option(help="A TOML file with these same keys; flags given on the command line win.")
    ] = None,
) -> None:
    """Add a user-defined benchmark from one file with an explicit field mapping."""
    values = benchmark_spec(
        spec,
        name=name,
        file=file,
        question_field=question_field,
        options_field=options_field,
        answer_field=answer_field,
        id_field=id_field,
        split=split,
    )
    _print_entries([add_benchmark(pack, **values)])


@benchmarks_app.command("verify")
def benchmarks_verify(pack: PackOption) -> None:
    """Recompute hashes and row counts against the manifest and the official counts; exit 1 on drift."""
    result = verify_pack(pack)
    for note in result.notes:
        console.print(f"note: {escape(note)}", highlight=False)
    for problem in result.problems:
        console.print(f"[bold red]drift:[/] {escape(problem)}", highlight=False)
    if result.problems:
        raise typer.Exit(1)
    console.print(f"{result.checked} benchmarks verified: hashes and row counts match")


@benchmarks_app.command("list")
def benchmarks_list(
    pack: Annotated[
        Path | None, typer.Option("--pack", help="List a pack's benchmarks instead of the registry.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the registry as a markdown table.")] = False,
) -> None:
    """The registry (no --pack), or each benchmark of a pack: name, split, rows, content hash."""
    if pack is None:
        if markdown:
            typer.echo(registry_markdown(), nl=False)
        elif as_json:
            typer.echo(json.dumps([spec.to_dict() for spec in SPECS], indent=2))
        else:
            table = Table("name", "hub id", "split", "rows", "licence")
            for spec in SPECS:
                policy = spec.split()
                expected = "?" if policy.expected_rows is None else str(policy.expected_rows)
                table.add_row(spec.name, spec.hub_id or "(local)", policy.name, expected, spec.licence)
            Console().print(table)
        return
    manifest = load_pack(pack).manifest
    rows = [
        {
            "name": name,
            "splits": entry["splits"],
            "rows": entry["rows"],
            "origin": entry["origin"],
            "content_sha256": entry["content_sha256"],
            "revisions": [source.get("revision") or source.get("sha256") for source in entry["sources"]],
        }
        for name, entry in manifest["benchmarks"].items()
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("benchmark", "split", "rows", "origin", "content sha256")
    for row in rows:
        table.add_row(
            row["name"], ", ".join(row["splits"]), str(row["rows"]), row["origin"], row["content_sha256"][:16]
        )
    Console().print(table)


@app.command()
def decontaminate(
    input: Annotated[
        Path | None,
        typer.Argument(
            help="Training file (.jsonl/.json/.csv/.parquet), HF save_to_disk dir, shards (a directory or a quoted "
            "glob), - for standard input (with --input-format), a pipe or FIFO, or a hub dataset "
            "hf://ORG/NAME[:CONFIG] with --split."
        ),
    ] = None,
    pack: Annotated[Path | None, typer.Option("--pack", help="Benchmark pack directory.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output directory.")] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="A TOML file with these settings (and stage tables); flags override it."),
    ] = None,
    preset_name: Annotated[
        str | None, typer.Option("--preset", help=f"Detection preset: {', '.join(PRESETS)} (default {DEFAULT_PRESET}).")
    ] = None,
    field: Annotated[
        list[str] | None,
        typer.Option(
            "--field",
            help="Field to check (repeatable): a column, a nested path (extra_info.question, prompt[0].content) or a "
            "column of chat messages (each message checked). Default: question.",
        ),
    ] = None,
    roles: Annotated[
        str | None,
        typer.Option(help="Chat roles whose messages are checked, comma-separated (user,system); default: every role."),
    ] = None,
    options_field: Annotated[
        str | None,
        typer.Option(
            help="Column with each row's options (or columns, comma-separated, one per option); default: found by "
            "name (options, choices, opa..ope, A..J); none: no column."
        ),
    ] = None,
    output_format: Annotated[
        str | None, typer.Option("--format", help=f"Output format ({'|'.join(FORMATS)}); default: the input's.")
    ] = None,
    input_format: Annotated[
        str | None,
        typer.Option("--input-format", help="Input format when the suffix does not tell (always for - and pipes)."),
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Rows per batch (results do not depend on it).")] = None,
    workers: Annotated[int | None, typer.Option(help="Threads for the stages that use them (-1: all cores).")] = None,
    processes: ProcessesOption = None,
    engine: EngineOption = None,
    ray_address: RayAddressOption = None,
    embedding_model: EmbeddingModelOption = None,
    run_all_stages: RunAllStagesOption = None,
    review: Annotated[
        str | None,
        typer.Option(
            help="Rows matched only by review-class evidence (rewrites): remove (default), keep, or separate "
            "(written to review.<ext> for a person to decide)."
        ),
    ] = None,
    split: Annotated[
        str | None, typer.Option(help="The split of a hub dataset input (hf://ORG/NAME[:CONFIG]) to read.")
    ] = None,
    csv_safe: Annotated[
        bool | None,
        typer.Option(
            "--csv-safe",
            help="In CSV outputs, write cells starting with = + - @ after a ' so spreadsheets do not run them "
            "(default: verbatim, with a warning).",
        ),
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Split a training file into clean and removed rows (with evidence) and write report.json."""
    arguments = decontaminate_settings(
        config,
        input=input,
        pack=pack,
        out=out,
        preset=preset_name,
        fields=tuple(field) if field else None,
        roles=tuple(role.strip().lower() for role in roles.split(",")) if roles else None,
        options_field=options_field,
        format=output_format,
        input_format=input_format,
        split=split,
        batch_size=batch_size,
        workers=workers,
        processes=processes,
        engine=engine,
        ray_address=ray_address,
        run_all_stages=run_all_stages,
        review=review,
        embedding_model=embedding_model,
        csv_safe=csv_safe,
    )
    report = run_decontaminate(**arguments, progress=_progress(quiet))
    if quiet:
        return
    for note in report.notes:
        console.print(f"note: {escape(note)}", highlight=False)
    console.print(
        f"{report.input_rows} rows: kept {report.kept_rows}, removed {report.removed_rows}"
        + (f", for review {report.review_rows}" if report.review_policy == "separate" else "")
        + " "
        f"(by method {report.by_method}"
        + (f", by field {report.by_field}" if len(report.config["fields"]) > 1 else "")
        + f"); outputs in {escape(str(arguments['out']))}",
        highlight=False,
    )


@app.command()
def build(
    source: Annotated[
        list[Path] | None,
        typer.Option(
            "--source",
            help="Training file, directory or glob of shards, or hub dataset hf://ORG/NAME[:CONFIG] (repeatable); "
            "format detected from columns.",
        ),
    ] = None,
    source_split: Annotated[
        str | None, typer.Option("--source-split", help="The split read from each hub dataset --source (e.g. train).")
    ] = None,
    pack: Annotated[Path | None, typer.Option("--pack", help="Benchmark pack directory.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output directory.")] = None,
    preset_name: Annotated[
        str | None, typer.Option("--preset", help=f"Detection preset: {', '.join(PRESETS)} (default {DEFAULT_PRESET}).")
    ] = None,
    export: Annotated[
        str | None, typer.Option("--export", help=f"Comma-separated exports: {','.join(EXPORTS)} (default: all).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="A TOML file with these settings; flags override it.")
    ] = None,
    field: Annotated[
        list[str] | None,
        typer.Option(
            "--field",
            help="Record text checked for contamination (repeatable): question, problem, answer, "
            "reasoning. Default: the preset's (question).",
        ),
    ] = None,
    template: Annotated[
        str | None, typer.Option(help="The problem prompt; {question} and {options} are filled in, other braces kept.")
    ] = None,
    split_name: Annotated[
        str | None, typer.Option("--split-name", help="Name of the train split (default: train).")
    ] = None,
    val_fraction: Annotated[
        float | None, typer.Option(help="Share of duplicate clusters held out as the val split (stable hash).")
    ] = None,
    val_size: Annotated[int | None, typer.Option(help="Rows held out as the val split (at most; stable hash).")] = None,
    test_fraction: Annotated[float | None, typer.Option(help="Share of duplicate clusters held out as test.")] = None,
    test_size: Annotated[int | None, typer.Option(help="Rows held out as the test split (at most).")] = None,
    allow_empty: Annotated[
        bool | None, typer.Option("--allow-empty", help="Exit 0 even when a split keeps 0 rows.")
    ] = None,
    processes: ProcessesOption = None,
    engine: EngineOption = None,
    ray_address: RayAddressOption = None,
    embedding_model: EmbeddingModelOption = None,
    run_all_stages: RunAllStagesOption = None,
    pass_rate_endpoint: Annotated[
        str | None,
        typer.Option(
            help="OpenAI-compatible base URL (vllm serve, llama.cpp, ...; e.g. http://127.0.0.1:8000/v1): sample "
            "every kept problem and keep those in the --keep-pass-rate band. API key: MEDRL_API_KEY or OPENAI_API_KEY."
        ),
    ] = None,
    pass_rate_model: Annotated[str | None, typer.Option(help="The model name the endpoint serves.")] = None,
    samples: Annotated[int | None, typer.Option(help="Samples per problem for the pass rate (default 8).")] = None,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature (default 1.0).")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Tokens per sample at most (default 1024).")] = None,
    keep_pass_rate: Annotated[
        str | None, typer.Option(help="LO:HI keeps rows with LO < pass rate < HI (default 0:1); 'all' keeps every row.")
    ] = None,
    pass_rate_cache: Annotated[
        Path | None, typer.Option(help="The response cache (default OUT.responses.sqlite beside --out).")
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Build RL-ready datasets: sources -> labelled II-Medical-RL rows -> deduplicated -> decontaminated -> exports."""
    if source_split and not any(is_hub_input(path) for path in source or ()):
        raise MedrlError(f"--source-split {source_split} reads a split of a hub dataset --source (hf://ORG/NAME)")
    settings = make_config(
        config,
        sources=tuple(Source(path, split=source_split if is_hub_input(path) else None) for path in source)
        if source
        else None,
        pack=pack,
        out=out,
        preset=preset_name,
        exports=tuple(name.strip() for name in export.split(",") if name.strip()) if export else None,
        fields=tuple(field) if field else None,
        template=template,
        split=split_name,
        val_fraction=val_fraction,
        val_size=val_size,
        test_fraction=test_fraction,
        test_size=test_size,
        allow_empty=allow_empty,
        embedding_model=embedding_model,
        run_all_stages=run_all_stages,
        processes=processes,
        engine=engine,
        ray_address=ray_address,
        pass_rate_endpoint=pass_rate_endpoint,
        pass_rate_model=pass_rate_model,
        samples=samples,
        temperature=temperature,
        max_tokens=max_tokens,
        keep_pass_rate=keep_pass_rate,
        pass_rate_cache=pass_rate_cache,
    )
    summary = run_build(settings, progress=_progress(quiet))
    if quiet:
        return
    for step in summary["steps"]:
        console.print(f"{step['step']}: {step['in']} rows in, {step['removed']} removed, {step['out']} out")
    decontamination = summary["decontamination"]
    console.print(
        f"decontamination ({decontamination['preset']}): by benchmark {decontamination['by_benchmark']}, "
        f"by method {decontamination['by_method']}",
        highlight=False,
    )
    if "pass_rate" in summary:
        rates, usage = summary["pass_rate"], summary["pass_rate"]["usage"]
        console.print(
            f"pass rate ({rates['model']}, {rates['samples']} samples): {rates['rows']}; {usage['requests']} "
            f"requests, {usage['samples_cached']} samples from the cache",
            highlight=False,
        )
    totals = summary["totals"]
    splits = ", ".join(f"{name} {split['rows']}" for name, split in summary["splits"].items())
    console.print(
        f"{totals['input']} rows: kept {totals['kept']} ({splits}), rejected {totals['rejected']}, duplicates "
        f"{totals['duplicates']}, contaminated {totals['contaminated']}; exports {', '.join(summary['exports'])} "
        f"and README.md in {settings.out}",
        highlight=False,
    )


OutArgument = Annotated[Path, typer.Argument(help="The --out directory of a decontaminate or build run.")]


@app.command()
def report(
    out: OutArgument,
    evaluations: Annotated[
        list[Path] | None,
        typer.Option(
            "--eval", help="A `medrl eval --out` directory of this run: its charts become a section (repeatable)."
        ),
    ] = None,
) -> None:
    """Re-render report.html from a run's output directory (its report.json or build.json and removed rows)."""
    path = write_html_report(out, _progress(quiet=False), evaluations or ())
    console.print(f"wrote {escape(str(path))} ({path.stat().st_size / 1e6:.2f} MB)", highlight=False)


@app.command()
def review(
    out: OutArgument,
    benchmark: Annotated[str | None, typer.Option(help="Only matches of this benchmark.")] = None,
    method: Annotated[str | None, typer.Option(help=f"Only matches of this method ({', '.join(STAGE_NAMES)}).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many removed rows.")] = 20,
    pager: Annotated[bool, typer.Option(help="Page the output when it goes to a terminal.")] = True,
) -> None:
    """Each removed row beside the benchmark item it matched, shared spans highlighted, in the terminal."""
    run = load_run(out)
    screen = Console()
    paging = screen.pager(styles=True) if pager and screen.is_terminal else contextlib.nullcontext()
    with paging:
        shown, total = print_review(run, screen, benchmark, method, limit)
        more = f"; --limit {total} shows all" if shown < total else ""
        screen.print(f"{shown} of {total} removed rows matching the filters{more}", highlight=False, style="dim")


@app.command()
def compare(
    out_a: Annotated[Path, typer.Argument(help="The --out of run A.")],
    out_b: Annotated[Path, typer.Argument(help="The --out of run B (same input).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print every differing row as JSON.")] = False,
    limit: Annotated[int, typer.Option(min=0, help="Rows listed per side in the table view.")] = 10,
) -> None:
    """Rows removed by one run and not the other, with each side's reason, counted per benchmark and method."""
    result = compare_runs(load_run(out_a), load_run(out_b))
    if as_json:
        typer.echo(json.dumps(result, indent=2, ensure_ascii=False))
        return
    screen = Console()
    table = Table("", f"A: {result['a']['preset']}", f"B: {result['b']['preset']}", title="rows removed")
    table.add_row("removed", f"{result['a']['removed']:,}", f"{result['b']['removed']:,}")
    table.add_row("only by this run", f"{result['only_a']['rows']:,}", f"{result['only_b']['rows']:,}")
    table.add_row("by both", f"{result['both']['rows']:,}", f"{result['both']['rows']:,}")
    for key in ("by_benchmark", "by_method"):
        names = sorted({*result["only_a"][key], *result["only_b"][key]})
        for name in names:
            a, b = result["only_a"][key].get(name, 0), result["only_b"][key].get(name, 0)
            table.add_row(f"only, {key[3:]} {name}", f"{a:,}", f"{b:,}")
    screen.print(table)
    for side, other in (("a", "b"), ("b", "a")):
        rows = result[f"only_{side}"]["removed"]
        listing = Table("row", "text", f"{side.upper()}: removed because", f"{other.upper()}", show_lines=True)
        for row in rows[:limit]:
            reasons = "\n".join(match_label(match) for match in row[side]["matches"])
            listing.add_row(str(row["input_row"]), Text(row["text"][:300]), Text(reasons), row[other]["outcome"])
        screen.print(listing if rows else Text(f"no row removed only by {side.upper()}"))
        if len(rows) > limit:
            screen.print(f"... {len(rows) - limit} more (--limit, or --json for all)", style="dim", highlight=False)


@benchmarks_app.command("clean-subset")
def benchmarks_clean_subset(
    out: OutArgument,
    pack: PackOption,
    subset_out: Annotated[Path, typer.Option("--out", help="Directory for <benchmark>.jsonl and subsets.json.")],
) -> None:
    """Per benchmark, the items the run did NOT find in the training data, as JSONL in the pack's item schema."""
    summary = clean_subsets(load_run(out), pack, subset_out)
    for name, entry in summary["benchmarks"].items():
        console.print(f"{name}: {entry['clean']} of {entry['items']} items clean ({entry['found']} found)")
    if not summary["run_all_stages"]:
        console.print(
            "note: the run used the cascade; an item only a later stage would match can remain (re-run with "
            "--run-all-stages for the strictest subsets)",
            highlight=False,
        )
    console.print(f"clean subsets written to {subset_out}", highlight=False)


@app.command("eval")
def eval_command(
    out: OutArgument,
    pack: PackOption,
    eval_out: Annotated[Path, typer.Option("--out", help="Directory for eval.json, eval.md and eval.html.")],
    predictions: Annotated[
        Path | None,
        typer.Option(help="Per-item results: benchmark,item_id,correct CSV/JSONL or an lm-eval --log_samples JSONL."),
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option(help="OpenAI-compatible base URL to ask every item instead (e.g. .../v1).")
    ] = None,
    model: Annotated[str | None, typer.Option(help="The model name the endpoint serves.")] = None,
    benchmark: Annotated[
        list[str] | None,
        typer.Option("--benchmark", help="Benchmark to score (repeatable; default: every one checked)."),
    ] = None,
    samples: Annotated[int, typer.Option(help="Samples per item (the item scores their mean).")] = 1,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 0.0,
    max_tokens: Annotated[int, typer.Option(help="Tokens per sample at most.")] = 1024,
    limit: Annotated[int | None, typer.Option(help="Only the first N items of each benchmark (pack order).")] = None,
    cache: Annotated[Path | None, typer.Option(help="The response cache (default EVAL_OUT.responses.sqlite).")] = None,
    quiet: QuietOption = False,
) -> None:
    """A model's accuracy per benchmark on all, clean and contaminated items, with intervals and the gap."""
    if (endpoint is None) != (model is None):
        raise MedrlError("--endpoint and --model go together: the server's base URL and the model it serves")
    settings = EvalSettings(
        run=out,
        pack=pack,
        out=eval_out,
        benchmarks=tuple(benchmark or ()),
        predictions=predictions,
        endpoint=EndpointConfig(endpoint, model, flags="") if endpoint and model else None,
        sampling=SamplingParams(temperature=temperature, max_tokens=max_tokens),
        samples=samples,
        limit=limit,
        cache=cache,
    )
    summary = evaluate(settings, _progress(quiet))
    if quiet:
        return
    for name, entry in [*summary["benchmarks"].items(), ("overall", summary["overall"])]:
        groups, gaps = entry["groups"], entry["gaps"]
        accuracy = ", ".join(
            f"{key} {groups[key]['accuracy']:.1%} (n={groups[key]['items']})"
            for key in ("all", "clean", "contaminated")
            if groups[key]["items"]
        )
        found = None if isinstance(gaps, str) else gaps["contaminated"]
        gap = f"gap {found['gap'] * 100:+.1f} points (p = {found['p_value']:.3g})" if found else gaps
        gap = gap if isinstance(gap, str) else "no clean items to compare with"
        console.print(f"{name}: {accuracy}; {gap}", highlight=False)
    if summary["unmatched"]:
        console.print(f"{len(summary['unmatched'])} predictions matched no item: listed in eval.json", highlight=False)
    console.print(f"eval.json, eval.md and eval.html in {escape(str(eval_out))}", highlight=False)
    hint = f"medrl report {out} --eval {eval_out}"
    console.print(f"to add the charts to the run's report.html: {escape(hint)}", highlight=False)
