"""Shared fixtures: the real shared data (../shared/data) and a pack imported from it once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from medrl.benchmarks.pack import BenchmarkPack, import_benchmarks, load_pack

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
BENCHMARKS = SHARED / "benchmarks"
TRAINING = SHARED / "training"
TRAINING_FILES = ("medqa_dev.json", "pubmedqa_trainpool.jsonl", "huatuogpt_o1_demo.json")


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
