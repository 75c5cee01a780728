"""Shared fixtures: the real shared data (../shared/data) and a pack imported from it once per session."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medrl.benchmarks.pack import BenchmarkItem, BenchmarkPack, import_benchmarks, load_pack
from medrl.cli import app
from medrl.config import preset
from medrl.detection.index import PackIndex, build_index


def pytest_configure(config: pytest.Config) -> None:
    """Commands the tests start must see SIGINT as a terminal sends it. A test run started as a background job of a
    non-interactive shell (`cmd &` in a script, as CI runners may) inherits SIGINT ignored, and an ignored signal
    stays ignored across exec: the Ctrl-C tests would then test nothing medrl does. A handler here (not inherited:
    exec resets handled signals to their default) gives every child the default SIGINT."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
BENCHMARKS = SHARED / "benchmarks"
TRAINING = SHARED / "training"
TRAINING_FILES = ("medqa_dev.json", "pubmedqa_trainpool.jsonl", "huatuogpt_o1_demo.json")
EXAMPLES = REPO / "examples"
_RUNNER = CliRunner()


def invoke(*args: str | Path):
    """The `medrl` command in this process, arguments given as strings or paths."""
    return _RUNNER.invoke(app, [str(arg) for arg in args])


def pack_and_run(where: Path, benchmark: str, items: Path, training: list[dict]) -> tuple[Path, Path]:
    """`where/pack` holding `items` (JSONL: id, question, options, answer) as `benchmark`, and `where/run`, a
    decontamination run over the `training` rows (written to `where/train.jsonl`)."""
    (where / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in training))
    pack, run = where / "pack", where / "run"
    fields = ["--id-field", "id", "--answer-field", "answer", "--options-field", "options"]
    added = invoke("benchmarks", "add", "--pack", pack, benchmark, "--file", items, *fields)
    assert added.exit_code == 0, added.output
    done = invoke("decontaminate", where / "train.jsonl", "--pack", pack, "--out", run, "--quiet")
    assert done.exit_code == 0, done.output
    return pack, run


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not BENCHMARKS.is_dir():
        pytest.fail(f"the shared data is missing: expected {BENCHMARKS} (tests read the real files)")
    return SHARED


@pytest.fixture(scope="session")
def full_pack_dir(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pack = tmp_path_factory.mktemp("pack")
    import_benchmarks(shared_data / "benchmarks", pack)
    return pack


@pytest.fixture(scope="session")
def full_pack(full_pack_dir: Path) -> BenchmarkPack:
    return load_pack(full_pack_dir)


# The default preset keeping every match of a row, so tests see every item a row is tied to.
MEDRL = preset("medrl").replace(max_matches_per_row=0)


@pytest.fixture(scope="session")
def medrl_index(full_pack: BenchmarkPack) -> PackIndex:
    """The full pack indexed for `MEDRL` (built once for every test module that checks detection on it)."""
    return build_index(full_pack.items, MEDRL)


@pytest.fixture(scope="session")
def pack_items(full_pack: BenchmarkPack) -> dict[tuple[str, str], BenchmarkItem]:
    """The full pack's items by (benchmark, item_id)."""
    return {(item.benchmark, item.item_id): item for item in full_pack.items}


@pytest.fixture(scope="session")
def example_pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped benchmark samples as a pack (what `make demo` builds). Tests that change a pack copy it first."""
    pack = tmp_path_factory.mktemp("examples") / "pack"
    import_benchmarks(EXAMPLES / "benchmarks", pack, allow_partial=True)
    return pack
