"""The bad-input and fault catalogue: every case is a real `medrl` call on a broken input, pack, setting or
environment. Each asserts the exit code, a one-line message naming the problem, and that nothing in `--out` (which
holds the complete output set of an earlier good run) or in the pack changed. Kill and signal cases run real
subprocesses."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import medrl
from conftest import REPO
from medrl.cli import app
from medrl.errors import MedrlError
from medrl.io.out_lock import out_locked

EXAMPLES = REPO / "examples"
TRAIN = EXAMPLES / "training" / "demo_train.jsonl"
ROWS = [
    {"question": f"Which vitamin deficiency causes sign number {i}?", "options": {"A": "C", "B": "D"}} for i in range(3)
]
runner = CliRunner()
# A row the default preset removes (a benchmark question planted into the demo file).
PLANTED = next(
    row for line in TRAIN.read_text().splitlines() if (row := json.loads(line))["source"].startswith("planted")
)


def snapshot(root: Path) -> dict[str, str]:
    """Every file and directory below `root` (hidden ones too) with its content hash."""
    if not root.exists():
        return {}
    found = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        found[key] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return found


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pack (index cache warmed for both presets) and a complete output set from a good run, copied per case."""
    root = tmp_path_factory.mktemp("good")
    medrl.import_benchmarks(EXAMPLES / "benchmarks", root / "pack", allow_partial=True)
    medrl.decontaminate(TRAIN, root / "pack", root / "out", "ii-medical-rl")
    medrl.decontaminate(TRAIN, root / "pack", root / "scratch", "medrl")
    shutil.rmtree(root / "scratch")
    return root


@dataclass(frozen=True)
class World:
    """One case's directory: `pack` and `out` are copies of the good ones; `tmp` holds the case's own files."""

    tmp: Path

    @property
    def pack(self) -> Path:
        return self.tmp / "pack"

    @property
    def out(self) -> Path:
        return self.tmp / "out"

    def write(self, name: str, content: str | bytes) -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    def jsonl(self, name: str, rows: list[dict]) -> Path:
        return self.write(name, "".join(json.dumps(row) + "\n" for row in rows))

    def manifest(self, change: Callable[[dict], None]) -> None:
        path = self.pack / "manifest.json"
        manifest = json.loads(path.read_text())
        change(manifest)
        path.write_text(json.dumps(manifest))


@pytest.fixture
def world(good: Path, tmp_path: Path) -> World:
    shutil.copytree(good / "pack", tmp_path / "pack")
    shutil.copytree(good / "out", tmp_path / "out")
    return World(tmp_path)


@dataclass(frozen=True)
class Case:
    name: str
    setup: Callable[[World], list[str]]  # makes the case's files; returns the command line
    message: str  # a part of the one-line error
    code: int = 2
    pack_changes: bool = False  # the case breaks the pack on purpose (its snapshot is taken after setup)


def decontaminate(world: World, input: Path | str, *extra: str) -> list[str]:
    return ["decontaminate", str(input), "--pack", str(world.pack), "--out", str(world.out), *extra]


def hf_dir(world: World, broken: Callable[[Path], None]) -> Path:
    directory = world.tmp / "hf"
    (world.tmp / "rows.jsonl").write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    run = ["decontaminate", str(world.tmp / "rows.jsonl"), "--pack", str(world.pack), "--out", str(world.tmp / "hfrun")]
    assert runner.invoke(app, [*run, "--format", "hf"]).exit_code == 0
    shutil.copytree(world.tmp / "hfrun" / "clean", directory)
    broken(directory)
    return directory


def parquet_file(world: World, name: str = "rows.parquet") -> Path:
    path = world.tmp / name
    pq.write_table(pa.Table.from_pylist([{"question": row["question"]} for row in ROWS]), path)
    return path


def pack_table(world: World, name: str = "medqa") -> tuple[Path, pa.Table]:
    path = world.pack / f"{name}.parquet"
    return path, pq.read_table(path)


def edit_questions(world: World) -> None:
    path, table = pack_table(world)
    questions = table.column("question").to_pylist()
    questions[:3] = ["edited"] * 3
    pq.write_table(table.set_column(table.schema.get_field_index("question"), "question", pa.array(questions)), path)


def spec(world: World, text: str) -> list[str]:
    world.jsonl("exam.jsonl", [{"stem": "Which vitamin deficiency causes scurvy?"}])
    return ["benchmarks", "add", "--spec", str(world.write("exam.toml", text)), "--pack", str(world.pack)]


def add(world: World, name: str) -> list[str]:
    exam = world.jsonl("exam.jsonl", [{"question": "Which vitamin deficiency causes scurvy?"}])
    return ["benchmarks", "add", name, "--file", str(exam), "--pack", str(world.pack)]


def fifo(world: World, name: str) -> Path:
    """A named pipe nobody writes to: medrl must fail before it opens one it would wait on."""
    path = world.tmp / name
    os.mkfifo(path)
    return path


def config_file(world: World, text: str) -> list[str]:
    return ["decontaminate", str(TRAIN), "--config", str(world.write("run.toml", text)), "--pack", str(world.pack)]


CASES = [
    # --- training files ------------------------------------------------------------------------------------------
    Case("missing input", lambda w: decontaminate(w, w.tmp / "nope.jsonl"), "nope.jsonl: no such file"),
    Case("unknown suffix", lambda w: decontaminate(w, w.write("t.txt", "x")), "--input-format"),
    Case(
        "jsonl bad line",
        lambda w: decontaminate(w, w.write("t.jsonl", '{"question": "a"}\n{oops\n')),
        "line 2: not valid JSON",
    ),
    Case(
        "jsonl array row", lambda w: decontaminate(w, w.write("t.jsonl", "[1, 2]\n")), "line 1: expected a JSON object"
    ),
    Case(
        "jsonl duplicate key",
        lambda w: decontaminate(w, w.write("t.jsonl", '{"question": "a", "question": "b"}\n')),
        "key 'question' twice",
    ),
    Case(
        "jsonl latin-1",
        lambda w: decontaminate(w, w.write("t.jsonl", '{"question": "caf\xe9"}\n'.encode("latin-1"))),
        "line 1: not valid JSON",
    ),
    Case(
        "jsonl nested too deep",
        lambda w: decontaminate(w, w.write("t.jsonl", "[" * 100000 + "\n")),
        "line 1: not valid JSON",
    ),
    Case(
        "json object",
        lambda w: decontaminate(w, w.write("t.json", '{"question": "a"}')),
        "expected a JSON list of row objects",
    ),
    Case("json invalid", lambda w: decontaminate(w, w.write("t.json", "[{")), "not valid JSON"),
    Case(
        "json list of numbers",
        lambda w: decontaminate(w, w.write("t.json", "[1, 2]")),
        "item 0: expected a JSON object",
    ),
    Case(
        "csv latin-1",
        lambda w: decontaminate(w, w.write("t.csv", "question\ncaf\xe9\n".encode("latin-1"))),
        "not UTF-8 text (byte 0xe9",
    ),
    Case(
        "csv short row",
        lambda w: decontaminate(w, w.write("t.csv", "question,b\nx,y\nz\n")),
        "line 3: 1 fields but the header has 2",
    ),
    Case(
        "csv duplicate header",
        lambda w: decontaminate(w, w.write("t.csv", "question,question\nx,y\n")),
        "duplicate column names",
    ),
    Case(
        "csv unterminated quote",
        lambda w: decontaminate(w, w.write("t.csv", 'question,b\n"x,y\n')),
        "fields but the header has 2",
    ),
    Case(
        "parquet is text",
        lambda w: decontaminate(w, w.write("t.parquet", "not parquet")),
        "not a readable Parquet file",
    ),
    Case(
        "parquet truncated",
        lambda w: decontaminate(w, w.write("t.parquet", parquet_file(w).read_bytes()[:-20])),
        "not a readable Parquet file",
    ),
    Case(
        "hf no state.json",
        lambda w: decontaminate(w, hf_dir(w, lambda d: (d / "state.json").unlink())),
        "not a Hugging Face save_to_disk dataset",
    ),
    Case(
        "hf missing arrow",
        lambda w: decontaminate(w, hf_dir(w, lambda d: (d / "data-00000-of-00001.arrow").unlink())),
        "which is missing",
    ),
    Case(
        "hf bad state.json",
        lambda w: decontaminate(w, hf_dir(w, lambda d: (d / "state.json").write_text("{"))),
        "not a Hugging Face save_to_disk state file",
    ),
    Case(
        "hf truncated arrow",
        lambda w: decontaminate(w, hf_dir(w, lambda d: (d / "data-00000-of-00001.arrow").write_bytes(b"ARROW1"))),
        "not a readable Arrow stream",
    ),
    Case(
        "hf escaping data file",
        lambda w: decontaminate(
            w,
            hf_dir(
                w,
                lambda d: (d / "state.json").write_text(
                    json.dumps({"_data_files": [{"filename": "../../etc/passwd"}]})
                ),
            ),
        ),
        "which is missing",
    ),
    Case(
        "hf DatasetDict", lambda w: decontaminate(w, (w.write("dd/dataset_dict.json", "{}").parent)), "is a DatasetDict"
    ),
    Case(
        "missing field", lambda w: decontaminate(w, w.jsonl("t.jsonl", ROWS), "--field", "prompt"), "no column 'prompt'"
    ),
    Case(
        "nested field",
        lambda w: decontaminate(w, w.jsonl("t.jsonl", [{"question": ["a"]}])),
        "holds a list of other values",
    ),
    Case(
        "missing options column",
        lambda w: decontaminate(w, w.jsonl("t.jsonl", [{"question": "q"}]), "--options-field", "choices"),
        "no options column 'choices'",
    ),
    Case(
        "contamination column",
        lambda w: decontaminate(w, w.jsonl("t.jsonl", [{**PLANTED, "contamination": 1}])),
        "already has a column named 'contamination'",
    ),
    # --- streams (standard input, pipes, FIFOs) -------------------------------------------------------------------
    Case("stdin without a format", lambda w: decontaminate(w, "-"), "<stdin>: cannot tell a stream's format"),
    Case("fifo without a known suffix", lambda w: decontaminate(w, fifo(w, "rows.txt")), "pass --input-format"),
    Case(
        "stdin as an hf dataset",
        lambda w: decontaminate(w, "-", "--input-format", "hf"),
        "a hf dataset is a directory, not a stream",
    ),
    Case(
        "build from stdin",
        lambda w: ["build", "--source", "-", "--pack", str(w.pack), "--out", str(w.out)],
        "<stdin>: a stream (standard input, a pipe or a FIFO) can be read only once",
    ),
    Case(
        "build from a fifo",
        lambda w: ["build", "--source", str(fifo(w, "rows.jsonl")), "--pack", str(w.pack), "--out", str(w.out)],
        "can be read only once and this command reads its input several times; save it to a file first",
    ),
    # --- settings ------------------------------------------------------------------------------------------------
    Case(
        "no --pack",
        lambda w: ["decontaminate", str(TRAIN), "--out", str(w.out)],
        "decontaminate needs --pack PACK (or pack = ... in --config)",
    ),
    Case(
        "no input and no --out",
        lambda w: ["decontaminate", "--pack", str(w.pack)],
        "decontaminate needs INPUT and --out DIR (or input = ..., out = ... in --config)",
    ),
    Case(
        "build without --pack",
        lambda w: ["build", "--source", str(TRAIN), "--out", str(w.out)],
        "build needs --pack PACK (or pack = ... in --config)",
    ),
    Case("bad output format", lambda w: decontaminate(w, TRAIN, "--format", "xml"), "unknown output format 'xml'"),
    Case("bad input format", lambda w: decontaminate(w, TRAIN, "--input-format", "xml"), "unknown format 'xml'"),
    Case("unknown preset", lambda w: decontaminate(w, TRAIN, "--preset", "nope"), "unknown preset 'nope'"),
    Case("batch size 0", lambda w: decontaminate(w, TRAIN, "--batch-size", "0"), "batch_size must be >= 1"),
    Case("negative processes", lambda w: decontaminate(w, TRAIN, "--processes", "-1"), "processes must be >= 0"),
    Case("unknown engine", lambda w: decontaminate(w, TRAIN, "--engine", "spark"), "engine must be 'local' or 'ray'"),
    Case(
        "config missing",
        lambda w: ["decontaminate", "--config", str(w.tmp / "none.toml")],
        "cannot read the decontaminate config",
    ),
    Case("config bad toml", lambda w: config_file(w, "out = [\n"), "cannot read the decontaminate config"),
    Case("config unknown key", lambda w: config_file(w, f'out = "{w.out}"\ncolour = 1\n'), "unknown keys ['colour']"),
    Case(
        "config wrong type",
        lambda w: config_file(w, f'out = "{w.out}"\nbatch_size = "many"\n'),
        "batch_size must be an integer",
    ),
    Case(
        "config bad threshold",
        lambda w: config_file(w, f'out = "{w.out}"\n[coverage]\nmin_item_coverage = 7\n'),
        "coverage.min_item_coverage must be in (0, 1]",
    ),
    # --- outputs -------------------------------------------------------------------------------------------------
    Case(
        "input is an output",
        lambda w: decontaminate(w, w.out / "clean.jsonl"),
        "would be replaced by this run's outputs",
    ),
    Case(
        "out inside input dir",
        lambda w: [
            "decontaminate",
            str(hf_dir(w, lambda d: None)),
            "--pack",
            str(w.pack),
            "--out",
            str(w.tmp / "hf" / "o"),
        ],
        "lies inside the input",
    ),
    Case(
        "out is a file",
        lambda w: ["decontaminate", str(TRAIN), "--pack", str(w.pack), "--out", str(w.write("file.txt", "x"))],
        "is a file; give a directory",
    ),
    Case(
        "out under /proc",
        lambda w: ["decontaminate", str(TRAIN), "--pack", str(w.pack), "--out", "/proc/medrl-out"],
        "/proc",
    ),
    Case(
        "out under a file",
        lambda w: ["decontaminate", str(TRAIN), "--pack", str(w.pack), "--out", str(w.write("f", "x") / "o")],
        "f",
    ),
    # --- packs ---------------------------------------------------------------------------------------------------
    Case(
        "pack missing",
        lambda w: ["decontaminate", str(TRAIN), "--pack", str(w.tmp / "none"), "--out", str(w.out)],
        "not a benchmark pack",
    ),
    Case(
        "pack is a file",
        lambda w: ["decontaminate", str(TRAIN), "--pack", str(w.write("p.txt", "x")), "--out", str(w.out)],
        "not a directory",
    ),
    Case(
        "manifest not json",
        lambda w: (w.write("pack/manifest.json", "{"), decontaminate(w, TRAIN))[1],
        "corrupt manifest",
        pack_changes=True,
    ),
    Case(
        "manifest no benchmarks",
        lambda w: (w.manifest(lambda m: m.pop("benchmarks")), decontaminate(w, TRAIN))[1],
        "no `benchmarks` table",
        pack_changes=True,
    ),
    Case(
        "manifest no file",
        lambda w: (w.manifest(lambda m: m["benchmarks"]["medqa"].pop("file")), decontaminate(w, TRAIN))[1],
        "has no valid `file`",
        pack_changes=True,
    ),
    Case(
        "manifest escaping file",
        lambda w: (w.manifest(lambda m: m["benchmarks"]["medqa"].update(file="../x.parquet")), decontaminate(w, TRAIN))[
            1
        ],
        "names file '../x.parquet'",
        pack_changes=True,
    ),
    Case(
        "manifest escaping name",
        lambda w: (
            w.manifest(lambda m: m["benchmarks"].update({"../evil": m["benchmarks"]["medqa"]})),
            decontaminate(w, TRAIN),
        )[1],
        "'../evil' is not allowed",
        pack_changes=True,
    ),
    Case(
        "manifest rows text",
        lambda w: (w.manifest(lambda m: m["benchmarks"]["medqa"].update(rows="200")), decontaminate(w, TRAIN))[1],
        "has no valid `rows`",
        pack_changes=True,
    ),
    Case(
        "pack file truncated",
        lambda w: (pack_table(w)[0].write_bytes(pack_table(w)[0].read_bytes()[:100]), decontaminate(w, TRAIN))[1],
        "not a readable pack file",
        pack_changes=True,
    ),
    Case(
        "pack file missing",
        lambda w: (pack_table(w)[0].unlink(), decontaminate(w, TRAIN))[1],
        "listed in the manifest but missing",
        pack_changes=True,
    ),
    Case(
        "pack questions edited",
        lambda w: (edit_questions(w), decontaminate(w, TRAIN))[1],
        "content changed since import",
        pack_changes=True,
    ),
    Case(
        "pack cut to 10 rows",
        lambda w: (pq.write_table(pack_table(w)[1].slice(0, 10), pack_table(w)[0]), decontaminate(w, TRAIN))[1],
        "10 rows in the pack file, the manifest says 200",
        pack_changes=True,
    ),
    Case(
        "pack of another schema",
        lambda w: (pq.write_table(pa.table({"x": [1]}), pack_table(w)[0]), decontaminate(w, TRAIN))[1],
        "lacks the pack columns",
        pack_changes=True,
    ),
    # --- benchmarks add / import / verify ------------------------------------------------------------------------
    Case("add parent name", lambda w: add(w, "../../evil"), "'../../evil' is not allowed"),
    Case("add absolute name", lambda w: add(w, "/tmp/evil"), "'/tmp/evil' is not allowed"),
    Case("add nested name", lambda w: add(w, "a/b"), "'a/b' is not allowed"),
    Case("add dot name", lambda w: add(w, ".."), "'..' is not allowed"),
    Case(
        "add missing file",
        lambda w: ["benchmarks", "add", "x", "--file", str(w.tmp / "none.jsonl"), "--pack", str(w.pack)],
        "no such file",
    ),
    Case(
        "add empty file",
        lambda w: ["benchmarks", "add", "x", "--file", str(w.write("e.jsonl", "")), "--pack", str(w.pack)],
        "no items were read",
    ),
    Case(
        "spec name number",
        lambda w: spec(w, 'name = 5\nfile = "exam.jsonl"\nquestion_field = "stem"\n'),
        "name must be a string",
    ),
    Case(
        "spec escaping name",
        lambda w: spec(w, 'name = "../../x"\nfile = "exam.jsonl"\nquestion_field = "stem"\n'),
        "'../../x' is not allowed",
    ),
    Case(
        "spec unknown key", lambda w: spec(w, 'name = "x"\nfile = "exam.jsonl"\nstem = "q"\n'), "unknown keys ['stem']"
    ),
    Case(
        "spec without file",
        lambda w: spec(w, 'name = "x"\n'),
        "benchmarks add needs --file FILE (or file = ... in --spec)",
    ),
    Case("spec wrong column", lambda w: spec(w, 'name = "x"\nfile = "exam.jsonl"\n'), "question"),
    Case(
        "import no dirs",
        lambda w: ["benchmarks", "import", str(w.write("src/readme.txt", "x").parent), "--pack", str(w.pack)],
        "no benchmark directories inside",
    ),
    Case(
        "import bad dir name",
        lambda w: [
            "benchmarks",
            "import",
            str(w.jsonl("src/bad name/test.jsonl", ROWS).parent.parent),
            "--pack",
            str(w.pack),
        ],
        "'bad name' is not allowed",
    ),
    Case(
        "import empty benchmark",
        lambda w: [
            "benchmarks",
            "import",
            str(w.write("src/mine/test.jsonl", "").parent.parent),
            "--pack",
            str(w.pack),
        ],
        "no",
    ),
    Case(
        "verify no benchmarks",
        lambda w: (w.manifest(lambda m: m.pop("benchmarks")), ["benchmarks", "verify", "--pack", str(w.pack)])[1],
        "no `benchmarks` table",
        1,
        True,
    ),
    Case(
        "verify truncated file",
        lambda w: (pack_table(w)[0].write_bytes(b"PAR1"), ["benchmarks", "verify", "--pack", str(w.pack)])[1],
        "medqa: cannot read the pack file",
        1,
        True,
    ),
    # --- report, review, compare, clean-subset ----------------------------------------------------------------------
    Case("report missing out", lambda w: ["report", str(w.tmp / "none")], "none: no such directory"),
    Case(
        "review not a run",
        lambda w: ["review", str(w.write("plain/notes.txt", "x").parent)],
        "holds no report.json or build.json",
    ),
    Case("compare missing out", lambda w: ["compare", str(w.out), str(w.tmp / "none")], "none: no such directory"),
    Case(
        "clean-subset not a run",
        lambda w: [
            "benchmarks",
            "clean-subset",
            str(w.write("plain/notes.txt", "x").parent),
            "--pack",
            str(w.pack),
            "--out",
            str(w.tmp / "subsets"),
        ],
        "holds no report.json or build.json",
    ),
    Case(
        "review corrupt report.json",
        lambda w: ["review", str(w.write("copy/report.json", "{").parent)],
        "report.json: not valid JSON",
    ),
    Case(
        "review removed rows missing",
        lambda w: ["review", str(w.write("copy/report.json", (w.out / "report.json").read_text()).parent)],
        "removed.jsonl: missing from the run's outputs",
    ),
    # --- build ---------------------------------------------------------------------------------------------------
    Case(
        "build missing source",
        lambda w: ["build", "--source", str(w.tmp / "none.json"), "--pack", str(w.pack), "--out", str(w.out)],
        "no such source file",
    ),
    Case(
        "build out is a file",
        lambda w: ["build", "--source", str(TRAIN), "--pack", str(w.pack), "--out", str(w.write("f.txt", "x"))],
        "is a file",
    ),
    Case(
        "build source is an output",
        lambda w: [
            "build",
            "--source",
            str(w.write("out/contaminated.jsonl", "")),
            "--pack",
            str(w.pack),
            "--out",
            str(w.out),
        ],
        "would be replaced",
    ),
    Case(
        "build unknown export",
        lambda w: ["build", "--source", str(TRAIN), "--pack", str(w.pack), "--out", str(w.out), "--export", "csv"],
        "unknown exports ['csv']",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_fault(case: Case, world: World) -> None:
    before_out = snapshot(world.out)
    arguments = case.setup(world)
    before_pack = snapshot(world.pack)
    if "build source is an output" in case.name:  # its setup adds a file to out on purpose
        before_out = snapshot(world.out)
    result = runner.invoke(app, arguments)
    # Notes and progress lines ("medrl: ...") may come before the one-line error.
    lines = [line for line in result.output.splitlines() if line.strip() and not line.startswith("medrl: ")]
    assert result.exit_code == case.code, result.output
    if case.code == 2:
        assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert case.message in result.output, result.output
    assert "Traceback" not in result.output
    assert snapshot(world.out) == before_out  # the previous output set is untouched
    assert not list(world.tmp.glob(".out.medrl-*"))  # no staging left behind
    if not case.pack_changes:
        assert snapshot(world.pack) == before_pack
    assert not (world.tmp.parent / "evil").exists() and not Path("/tmp/evil.parquet").exists()


def test_catalogue_is_large() -> None:
    assert len(CASES) >= 60


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet", "hf"])
def test_hostile_values_are_written_back_as_valid_files(world: World, fmt: str) -> None:
    """Lone surrogates, NaN, huge numbers and ;-separated CSV: a complete run, every file valid, rows accounted."""
    text = '{"question": "a \\ud800 b", "x": NaN, "y": 1e400, "z": -Infinity}\n{"question": "plain"}\n'
    source = world.write("hostile.jsonl", text)
    result = runner.invoke(app, decontaminate(world, source, "--format", fmt))
    assert result.exit_code == 0, result.output
    report = json.loads((world.out / "report.json").read_text())
    assert report["input_rows"] == 2 == report["kept_rows"] + report["removed_rows"]
    if fmt in ("jsonl", "json"):
        raw = (world.out / f"clean.{fmt}").read_bytes()
        raw.decode("utf-8")  # valid UTF-8
        rows = [json.loads(line) for line in raw.splitlines() if line.strip()] if fmt == "jsonl" else json.loads(raw)
        assert rows[0]["question"] == "a \ud800 b" and rows[0]["x"] is None and rows[0]["y"] is None
    csv_path = world.write("semi.csv", "question;note\nWhich vitamin?;a\nAnother one?;b\n")
    result = runner.invoke(app, decontaminate(world, csv_path))
    assert result.exit_code == 0, result.output
    assert json.loads((world.out / "report.json").read_text())["input_rows"] == 2


def test_full_disk_leaves_the_previous_set(world: World) -> None:
    """A write that fails for lack of space (a file-size limit stands in for a full disk) is one line, exit 2."""
    before = snapshot(world.out)
    big = world.jsonl("big.jsonl", [{"question": f"question {i} " + "x" * 2000} for i in range(400)])

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    done = subprocess.run(
        [sys.executable, "-m", "medrl", *decontaminate(world, big)],
        preexec_fn=limit,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("medrl: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "File too large" in done.stderr
    assert snapshot(world.out) == before


def test_an_out_that_is_a_symlink_keeps_its_link(world: World) -> None:
    link = world.tmp / "link"
    link.symlink_to(world.out, target_is_directory=True)
    result = runner.invoke(app, ["decontaminate", str(TRAIN), "--pack", str(world.pack), "--out", str(link)])
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and (world.out / "report.json").is_file()
    assert not [p for p in world.tmp.iterdir() if p.name.startswith(".")]  # nothing staged is left behind


def test_a_cache_that_is_not_an_index_is_rebuilt_not_run(world: World) -> None:
    cache = world.pack / ".index-cache"
    for entry in cache.iterdir():
        entry.write_bytes(b"\x80\x04\x95cos\nsystem\n(S'touch /tmp/pwned-medrl'\ntR.")
    result = runner.invoke(app, decontaminate(world, TRAIN))
    assert result.exit_code == 0, result.output
    assert "is invalid" in result.output and not Path("/tmp/pwned-medrl").exists()


# --- streams: read once, copied once ------------------------------------------------------------------------------


def _medrl(*arguments: str | Path, **options: object) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "medrl", *(str(argument) for argument in arguments)]
    return subprocess.run(command, capture_output=True, timeout=300, **options)


def _same_outputs(world: World, file_out: Path, stream_out: Path, given: str) -> None:
    """The stream's run wrote the file run's output set byte for byte, and its report names the stream."""
    file_report, stream_report = (json.loads((out / "report.json").read_text()) for out in (file_out, stream_out))
    assert stream_report["input"] == file_report["input"] | {"path": given}  # same format and sha256
    written = file_report["outputs"]["sha256"]  # clean, removed, matched items
    assert stream_report["outputs"]["sha256"] == written
    for name in written:
        assert (stream_out / name).read_bytes() == (file_out / name).read_bytes(), name
    for key in ("input_rows", "kept_rows", "removed_rows", "by_benchmark", "by_method", "benchmark_items"):
        assert stream_report[key] == file_report[key], key
    assert file_report["removed_rows"] and file_report["kept_rows"]
    assert not list(world.tmp.glob(".*.medrl-*"))  # the stream's copy is gone


def _demo_input(world: World, fmt: str) -> Path:
    """The demo rows (planted benchmark questions included) as a file of `fmt`, nested values as JSON text."""
    rows = [
        {key: value if isinstance(value, str) else json.dumps(value) for key, value in json.loads(line).items()}
        for line in TRAIN.read_text().splitlines()
    ]
    path = world.tmp / f"demo.{fmt}"
    if fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    elif fmt == "csv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    else:
        text = json.dumps(rows) if fmt == "json" else "".join(json.dumps(row) + "\n" for row in rows)
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet"])
def test_standard_input_gives_the_file_runs_outputs(world: World, fmt: str) -> None:
    """`cat FILE | medrl decontaminate - --input-format FMT` (a real pipe) reads every row once, as the file run."""
    source = _demo_input(world, fmt)
    assert _medrl("decontaminate", source, "--pack", world.pack, "--out", world.tmp / "file", "-q").returncode == 0
    piped = _medrl(
        *("decontaminate", "-", "--input-format", fmt, "--pack", world.pack, "--out", world.tmp / "pipe"),
        input=source.read_bytes(),
    )
    assert piped.returncode == 0, piped.stderr
    _same_outputs(world, world.tmp / "file", world.tmp / "pipe", "<stdin>")


def test_a_fifo_and_a_process_substitution_are_read_once(world: World) -> None:
    """A named pipe (`mkfifo`) and `/dev/fd/N` (`<(cat FILE)`) complete with the file run's outputs."""
    source = _demo_input(world, "jsonl")
    assert _medrl("decontaminate", source, "--pack", world.pack, "--out", world.tmp / "file", "-q").returncode == 0
    named = fifo(world, "named.jsonl")
    writer = threading.Thread(target=lambda: named.write_bytes(source.read_bytes()))
    writer.start()
    done = _medrl("decontaminate", named, "--pack", world.pack, "--out", world.tmp / "fifo")
    writer.join(timeout=60)
    assert done.returncode == 0, done.stderr
    _same_outputs(world, world.tmp / "file", world.tmp / "fifo", str(named))

    read_end, write_end = os.pipe()
    command = ["decontaminate", f"/dev/fd/{read_end}", "--input-format", "jsonl", "--pack", world.pack]
    process = subprocess.Popen(
        [sys.executable, "-m", "medrl", *map(str, command), "--out", str(world.tmp / "fd")],
        pass_fds=[read_end],
        stderr=subprocess.PIPE,
    )
    os.close(read_end)
    with os.fdopen(write_end, "wb") as pipe:
        pipe.write(source.read_bytes())
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    _same_outputs(world, world.tmp / "file", world.tmp / "fd", f"/dev/fd/{read_end}")


def test_a_stream_error_names_the_stream_not_its_copy(world: World) -> None:
    bad = _medrl(*decontaminate(world, "-", "--input-format", "jsonl"), input=b'{"question": "a"}\n{bad\n')
    assert bad.returncode == 2
    assert bad.stderr.decode().startswith("error: <stdin>, line 2: not valid JSON"), bad.stderr


# --- one run at a time per --out ------------------------------------------------------------------------------------


def _held_by_a_run(world: World) -> tuple[subprocess.Popen, Path]:
    """A real run into `world.out` that holds its lock while it waits for its input (a FIFO nobody writes yet)."""
    named = fifo(world, "slow.jsonl")
    process = _start(world, named)
    lock = world.tmp / "out.lock"
    deadline = time.monotonic() + 60
    while f'"pid": {process.pid},' not in (lock.read_text() if lock.exists() else "") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None and lock.exists(), "the run did not take the lock"
    return process, named


def test_a_second_run_into_the_same_out_fails_at_once_naming_the_first(world: World) -> None:
    before = snapshot(world.out)
    process, named = _held_by_a_run(world)
    for command in (
        decontaminate(world, TRAIN),
        ["build", "--source", str(TRAIN), "--pack", str(world.pack), "--out", str(world.out)],
    ):
        started = time.monotonic()
        result = runner.invoke(app, command)
        assert result.exit_code == 2 and time.monotonic() - started < 10, result.output
        assert f"is in use by another medrl run (pid {process.pid} on host {socket.gethostname()}, started" in (
            result.output
        )
        assert len(result.output.strip().splitlines()) == 1
    assert snapshot(world.out) == before
    named.write_bytes(TRAIN.read_bytes())  # the first run gets its input and finishes
    assert process.wait(timeout=300) == 0, process.stderr.read() if process.stderr else ""
    assert not (world.tmp / "out.lock").exists() and _check_set(world.out) == "medrl"


def test_a_lock_held_in_this_process_refuses_the_python_api(world: World) -> None:
    # Another spelling of the same --out.
    with out_locked(world.tmp / "." / "out"), pytest.raises(MedrlError, match=f"pid {os.getpid()} on host"):
        medrl.decontaminate(TRAIN, world.pack, world.out)
    medrl.decontaminate(TRAIN, world.pack, world.out)  # released


def test_the_lock_of_a_killed_run_is_taken_over(world: World) -> None:
    """SIGKILL leaves the lock file (and the stream's scratch directory): the kernel has released the lock, so the
    next run takes it, and removes what the killed run left."""
    process, _ = _held_by_a_run(world)
    process.kill()
    process.wait(timeout=60)
    assert f'"pid": {process.pid},' in (world.tmp / "out.lock").read_text()
    assert list(world.tmp.glob(".out.medrl-*-input"))
    result = runner.invoke(app, decontaminate(world, TRAIN, "--preset", "medrl"))
    assert result.exit_code == 0, result.output
    assert _check_set(world.out) == "medrl"
    assert not (world.tmp / "out.lock").exists() and not list(world.tmp.glob(".out.medrl-*"))


# --- signals and kills ------------------------------------------------------------------------------------------


def _check_set(out: Path) -> str:
    """The set in `out` is whole: report.json names every other file with its hash. Returns the run's preset."""
    report = json.loads((out / "report.json").read_text())
    listed = report["outputs"]["sha256"]
    # report.html is a view of the set, written after report.json and re-rendered by `medrl report`: not listed.
    present = {str(path.relative_to(out)) for path in out.rglob("*") if path.is_file()} - {"report.json", "report.html"}
    assert present == set(listed) and (out / "report.html").is_file()
    for name, digest in listed.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    assert report["input_rows"] == report["kept_rows"] + report["removed_rows"]
    return report["config"]["preset"]


def _slow_input(world: World, copies: int = 40) -> Path:
    rows = [json.loads(line) for line in TRAIN.read_text().splitlines()] * copies
    return world.jsonl("slow.jsonl", [{**row, "n": i} for i, row in enumerate(rows)])


def _start(world: World, source: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "medrl", *decontaminate(world, source, "--preset", "medrl", *extra)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_sigkill_at_any_moment_leaves_a_whole_set(world: World) -> None:
    source = _slow_input(world)
    started = time.perf_counter()
    assert _start(world, source, "--batch-size", "256").wait(timeout=300) == 0
    duration = time.perf_counter() - started
    shutil.rmtree(world.out)
    medrl.decontaminate(TRAIN, world.pack, world.out, "ii-medical-rl")  # the previous set
    seen = set()
    for fraction in (0.05, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 1.0, 1.1, 2.0):
        process = _start(world, source, "--batch-size", "256")
        time.sleep(duration * fraction)
        process.kill()
        process.wait(timeout=60)
        seen.add(_check_set(world.out))
    assert seen == {"ii-medical-rl", "medrl"}  # killed early: the previous set; late: the new one; never a mix
    # The next run removes what killed runs staged, and writes its own set.
    assert _start(world, source).wait(timeout=300) == 0
    assert _check_set(world.out) == "medrl" and not list(world.tmp.glob(".out.medrl-*"))


@pytest.mark.parametrize(("sent", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_sigint_clean_up(world: World, sent: int, code: int) -> None:
    before = snapshot(world.out)
    process = _start(world, _slow_input(world, 300), "--batch-size", "64", "--processes", "2")
    children = _wait_for_children(process)
    time.sleep(0.5)
    process.send_signal(sent)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr and "no output was changed" in stderr
    assert snapshot(world.out) == before and not list(world.tmp.glob(".out.medrl-*"))
    _assert_gone(children)


def _slow_identity(value: int) -> int:
    time.sleep(0.05)
    return value


def _no_setup() -> None:
    """A worker initializer with nothing to set up."""


def test_an_interrupted_process_pool_leaves_no_thread_for_exit() -> None:
    """The pool's manager thread is gone when an interruption leaves the engine: at interpreter exit CPython 3.11
    would otherwise race it closing its pipe and print a traceback after Ctrl-C (seen once in a full CI run)."""
    import threading
    from concurrent.futures.process import _ExecutorManagerThread

    from medrl.engine import run_processes

    results = run_processes(_slow_identity, ((i, i) for i in range(1000)), 2, _no_setup, ())
    assert next(results) == (0, 0)
    with pytest.raises(KeyboardInterrupt):
        results.throw(KeyboardInterrupt)
    assert not [thread for thread in threading.enumerate() if isinstance(thread, _ExecutorManagerThread)]


def test_workers_exit_when_the_parent_is_killed(world: World) -> None:
    process = _start(world, _slow_input(world, 300), "--batch-size", "64", "--processes", "2")
    children = _wait_for_children(process)
    process.kill()
    process.wait(timeout=30)
    _assert_gone(children)


def _wait_for_children(process: subprocess.Popen) -> list[int]:
    deadline = time.monotonic() + 60
    while len(_children(process.pid)) < 2 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)
    children = _children(process.pid)
    assert children and process.poll() is None, "the run ended or started no worker processes"
    return children


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _assert_gone(pids: list[int], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _is_running(pid)]
        time.sleep(0.2)
    assert not alive, f"worker processes {alive} outlived their parent"


def _is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_worker_forked_from_the_parent_that_loaded_the_index_does_not_load_it_again(monkeypatch) -> None:
    """The processes engine loads the pack index once in the parent (shared copy-on-write by forked workers); a
    worker whose parent loaded it for the same pack and settings uses it, any other loads its own."""
    from medrl.config import preset
    from medrl.detection import runner

    config, loaded = preset("medrl"), object()
    monkeypatch.setattr(runner, "_WORKER", {"setup": ("/packs/a", config), "config": config, "index": loaded})
    monkeypatch.setattr(runner, "load_pack", lambda path: path)
    monkeypatch.setattr(runner, "load_or_build_index", lambda pack, settings: ("loaded", pack))
    runner._init_worker("/packs/a", config)
    assert runner._WORKER["index"] is loaded
    runner._init_worker("/packs/b", config)
    assert runner._WORKER["index"] == ("loaded", "/packs/b")


def test_a_processes_run_in_a_library_caller_lets_go_of_the_shared_index(example_pack: Path, tmp_path: Path) -> None:
    """After a run with worker processes the caller's process holds no index and no frozen objects (a library
    caller may run many checks), and the outputs equal a one-process run's."""
    import gc

    from medrl.config import preset
    from medrl.detection import runner

    source = EXAMPLES / "training" / "demo_train.jsonl"
    outputs = {}
    for processes in (1, 2):
        out = tmp_path / f"p{processes}"
        medrl.decontaminate(source, example_pack, out, config=preset("medrl").replace(processes=processes))
        outputs[processes] = (out / "removed.jsonl").read_bytes()
        assert runner._WORKER == {} and gc.get_freeze_count() == 0
    assert outputs[1] == outputs[2]
