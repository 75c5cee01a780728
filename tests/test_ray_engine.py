"""The Ray engine gives byte-identical outputs to the in-process engine (runs where Ray is installed: the RL-client
virtualenv in `make test`; elsewhere it is skipped with the reason, and MEDRL_REQUIRE_RAY=1 turns that into a
failure)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

import medrl
from conftest import REPO

pytestmark = pytest.mark.ray

if importlib.util.find_spec("ray") is None:
    if os.environ.get("MEDRL_REQUIRE_RAY") == "1":
        raise RuntimeError("MEDRL_REQUIRE_RAY=1 but ray is not installed")
    pytest.skip("ray is not installed in this environment (pip install 'medrl[ray]')", allow_module_level=True)

EXAMPLES = REPO / "examples"


def test_ray_engine_matches_the_local_engine(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    medrl.import_benchmarks(EXAMPLES / "benchmarks", pack, allow_partial=True)
    train = EXAMPLES / "training" / "demo_train.jsonl"
    base = medrl.preset().replace(batch_size=16, options_field="options")
    outputs = {}
    for engine in ("local", "ray"):
        out = tmp_path / engine
        report = medrl.decontaminate(train, pack, out, config=base.replace(engine=engine, processes=2))
        outputs[engine] = ([(out / name).read_bytes() for name in ("clean.jsonl", "removed.jsonl")], report)
    assert outputs["ray"][0] == outputs["local"][0]
    assert outputs["ray"][1].removed_rows == outputs["local"][1].removed_rows == 6
