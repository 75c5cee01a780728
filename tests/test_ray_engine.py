"""The Ray engine gives byte-identical outputs to the in-process engine (runs where Ray is installed: the RL-client
virtualenv in `make test`; elsewhere it is skipped with the reason, and MEDRL_REQUIRE_RAY=1 turns that into a
failure).

The cluster tests run `medrl` and `ray start` as subprocesses with a private RAY_TMPDIR, so they see neither this
machine's Ray clusters nor its cluster record (/tmp/ray/ray_current_cluster), and stop only the head node they start.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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
TRAIN = EXAMPLES / "training" / "demo_train.jsonl"
OUTPUTS = ("clean.jsonl", "removed.jsonl")
RAY = Path(sys.executable).parent / "ray"
# Give up on an unreachable cluster after one ~3 s attempt instead of Ray's default 20 attempts of ~35 s each.
FAST_GIVE_UP = {
    "RAY_gcs_server_port_wait_time_s": "1",
    "RAY_py_gcs_connect_timeout_s": "3",
    "RAY_gcs_rpc_server_connect_timeout_s": "1",
}


def test_ray_engine_matches_the_local_engine(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    medrl.import_benchmarks(EXAMPLES / "benchmarks", pack, allow_partial=True)
    base = medrl.preset().replace(batch_size=16, options_field="options")
    outputs = {}
    for engine in ("local", "ray"):
        out = tmp_path / engine
        report = medrl.decontaminate(TRAIN, pack, out, config=base.replace(engine=engine, processes=2))
        outputs[engine] = ([(out / name).read_bytes() for name in OUTPUTS], report)
    assert outputs["ray"][0] == outputs["local"][0]
    assert outputs["ray"][1].removed_rows == outputs["local"][1].removed_rows == 6


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pack = tmp_path_factory.mktemp("ray-pack")
    medrl.import_benchmarks(EXAMPLES / "benchmarks", pack, allow_partial=True)
    return pack


@pytest.fixture(scope="module")
def expected(pack: Path, tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """The in-process engine's outputs, which every Ray run must match byte for byte."""
    out = tmp_path_factory.mktemp("local-out")
    medrl.decontaminate(TRAIN, pack, out, config=medrl.preset().replace(batch_size=16, options_field="options"))
    return [(out / name).read_bytes() for name in OUTPUTS]


@pytest.fixture
def ray_env() -> Iterator[dict[str, str]]:
    """An environment whose Ray state lives in a fresh directory (short: Ray puts Unix sockets in it)."""
    with tempfile.TemporaryDirectory(prefix="medrl-ray-", dir="/tmp", ignore_cleanup_errors=True) as home:
        env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
        yield {**env, "RAY_TMPDIR": home, "RAY_USAGE_STATS_ENABLED": "0"}


def _cluster_record(env: dict[str, str]) -> Path:
    """Where `ray start` records the running cluster, and where `ray.init()` looks for it."""
    return Path(env["RAY_TMPDIR"]) / "ray" / "ray_current_cluster"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def head_port(ray_env: dict[str, str]) -> Iterator[int]:
    """A running 2-CPU head node, as `ray start --head` leaves one. `--block` keeps every Ray process in the process
    group started here, so stopping that group stops this cluster and no other (`ray stop` would stop them all)."""
    port = _free_port()
    command = [
        str(RAY),
        "start",
        "--head",
        f"--port={port}",
        f"--dashboard-agent-listen-port={_free_port()}",
        "--num-cpus=2",
        "--include-dashboard=false",
        "--disable-usage-stats",
        "--block",
    ]
    log = Path(ray_env["RAY_TMPDIR"]) / "head.log"
    with log.open("w") as output:
        head = subprocess.Popen(command, env=ray_env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not _cluster_record(ray_env).exists():
            assert head.poll() is None and time.monotonic() < deadline, f"ray start failed:\n{log.read_text()}"
            time.sleep(0.2)
        yield port
    finally:  # what `ray stop --force` does, but to this cluster only
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)
        head.wait(timeout=30)


def _decontaminate(pack: Path, out: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "medrl", "decontaminate", str(TRAIN), "--pack", str(pack), "--out", str(out)]
    command += ["--options-field", "options", "--batch-size", "16", "--processes", "2", "--engine", "ray", *extra]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)


def _assert_same_as_local(pack: Path, expected: list[bytes], out: Path, env: dict[str, str], *extra: str) -> None:
    done = _decontaminate(pack, out, env, *extra)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert [(out / name).read_bytes() for name in OUTPUTS] == expected


def test_a_running_cluster_is_used_only_when_asked(
    head_port: int, ray_env: dict[str, str], pack: Path, expected: list[bytes], tmp_path: Path
) -> None:
    """With a cluster running, no address starts a private local Ray (plain `ray.init()` would attach to it and
    refuse num_cpus); `--ray-address auto`, the head's address, or RAY_ADDRESS attach to it."""
    head = f"127.0.0.1:{head_port}"
    _assert_same_as_local(pack, expected, tmp_path / "private", ray_env)
    _assert_same_as_local(pack, expected, tmp_path / "auto", ray_env, "--ray-address", "auto")
    _assert_same_as_local(pack, expected, tmp_path / "head", ray_env, "--ray-address", head)
    _assert_same_as_local(pack, expected, tmp_path / "from-env", {**ray_env, "RAY_ADDRESS": head})


def test_a_stale_cluster_record_does_not_break_the_default(
    ray_env: dict[str, str], pack: Path, expected: list[bytes], tmp_path: Path
) -> None:
    """The record a crashed Ray leaves behind names a cluster that is gone; the default run never reads it."""
    _cluster_record(ray_env).parent.mkdir(parents=True)
    _cluster_record(ray_env).write_text("127.0.0.1:1")
    _assert_same_as_local(pack, expected, tmp_path / "out", ray_env)


def test_an_unreachable_cluster_is_one_line_and_exit_2(ray_env: dict[str, str], pack: Path, tmp_path: Path) -> None:
    done = _decontaminate(pack, tmp_path / "out", {**ray_env, **FAST_GIVE_UP}, "--ray-address", "127.0.0.1:1")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "127.0.0.1:1" in errors[0] and "ray start --head" in errors[0], done.stderr
