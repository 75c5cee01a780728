"""`medrl` command line: a thin typer layer over the Python API (same functions, same report)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from medrl.config import DEFAULT_PRESET, PRESETS, preset
from medrl.errors import MedrlError
from medrl.pack import import_benchmarks, load_pack
from medrl.pipeline import decontaminate as run_decontaminate
from medrl.readers import FORMATS

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
benchmarks_app = typer.Typer(no_args_is_help=True, help="Build and inspect benchmark packs.")
app.add_typer(benchmarks_app, name="benchmarks")
console = Console(stderr=True, soft_wrap=True)  # one-line messages, never wrapped

PackOption = Annotated[Path, typer.Option("--pack", help="Benchmark pack directory.")]


def _fail(error: MedrlError) -> None:
    console.print(f"[bold red]error:[/] {error}", highlight=False)
    raise typer.Exit(2)


@benchmarks_app.command("import")
def benchmarks_import(
    source: Annotated[Path, typer.Argument(help="Directory of <benchmark>/<split files> directories.")],
    pack: PackOption,
    allow_partial: Annotated[
        bool, typer.Option(help="Accept known benchmarks whose row count differs from the official one.")
    ] = False,
) -> None:
    """Normalise local benchmark files into a pack (Parquet per benchmark + manifest.json)."""
    try:
        entries = import_benchmarks(source, pack, allow_partial=allow_partial)
    except MedrlError as error:
        _fail(error)
    for entry in entries:
        note = "" if entry.expected_rows in (None, entry.rows) else f" (official: {entry.expected_rows})"
        console.print(f"imported {entry.name}: {entry.rows} rows, split {', '.join(entry.splits)}{note}")
    console.print(f"pack written to {pack}")


@benchmarks_app.command("list")
def benchmarks_list(
    pack: PackOption,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Name, split, rows and content hash of each benchmark in a pack."""
    try:
        manifest = load_pack(pack).manifest
    except MedrlError as error:
        _fail(error)
    rows = [
        {"name": name, "splits": entry["splits"], "rows": entry["rows"], "content_sha256": entry["content_sha256"]}
        for name, entry in manifest["benchmarks"].items()
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("benchmark", "split", "rows", "content sha256")
    for row in rows:
        table.add_row(row["name"], ", ".join(row["splits"]), str(row["rows"]), row["content_sha256"][:16])
    Console().print(table)


@app.command()
def decontaminate(
    input: Annotated[Path, typer.Argument(help="Training file (.jsonl/.json/.csv/.parquet) or HF save_to_disk dir.")],
    pack: PackOption,
    out: Annotated[Path, typer.Option("--out", help="Output directory.")],
    preset_name: Annotated[
        str, typer.Option("--preset", help=f"Detection preset: {', '.join(PRESETS)}.")
    ] = DEFAULT_PRESET,
    field: Annotated[
        list[str] | None, typer.Option("--field", help="Column to check (repeatable). Default: question.")
    ] = None,
    output_format: Annotated[
        str | None, typer.Option("--format", help=f"Output format ({'|'.join(FORMATS)}); default: the input's.")
    ] = None,
    input_format: Annotated[
        str | None, typer.Option("--input-format", help="Input format when the suffix does not tell.")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Rows per batch (results do not depend on it).")] = None,
    workers: Annotated[int | None, typer.Option(help="Threads for fuzzy scoring (-1: all cores).")] = None,
    run_all_stages: Annotated[
        bool, typer.Option(help="Run every stage on every row (complete evidence) instead of cascading.")
    ] = False,
) -> None:
    """Split a training file into clean and removed rows (with evidence) and write report.json."""
    try:
        config = preset(preset_name)
        changes = {
            key: value for key, value in {"batch_size": batch_size, "workers": workers}.items() if value is not None
        }
        if run_all_stages:
            changes["run_all_stages"] = True
        config = config.replace(**changes)
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not sys.stderr.isatty(),
        ) as progress:
            task = progress.add_task("decontaminating: 0 rows", total=None)
            done = 0

            def on_batch(rows: int) -> None:
                nonlocal done
                done += rows
                progress.update(task, description=f"decontaminating: {done:,} rows")

            report = run_decontaminate(
                input,
                pack,
                out,
                config=config,
                fields=field,
                input_format=input_format,
                output_format=output_format,
                on_batch=on_batch,
            )
    except MedrlError as error:
        _fail(error)
    console.print(
        f"{report.input_rows} rows: kept {report.kept_rows}, removed {report.removed_rows} "
        f"(by method {report.by_method}); outputs in {out}",
        highlight=False,
    )
