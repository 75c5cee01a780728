"""A small OpenAI-compatible chat server for tests: answers known in advance, faults on demand, and a log of every
request it answered (so tests count requests on the server side).

    python tests/openai_server.py --log FILE [--fail N --status 500] [--garbage N] [--length] [--no-n]
                                  [--hang-after N] [--models a,b] [--delay S]

It binds 127.0.0.1 on a free port and prints the port on its first line. A user message holding `[[solve K]]` is
answered `\\boxed{A}` for samples 0..K-1 and `\\boxed{B}` for the others (sample = the request's seed plus the
choice's index), so a row labelled A has pass rate K / samples exactly; other messages get `\\boxed{A}`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_SOLVE = re.compile(r"\[\[solve (\d+)\]\]")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", required=True)
    parser.add_argument("--fail", type=int, default=0, help="the first N chat requests get --status")
    parser.add_argument("--status", type=int, default=500)
    parser.add_argument("--garbage", type=int, default=0, help="the first N chat requests get a body that is no JSON")
    parser.add_argument("--length", action="store_true", help="every completion cut at max_tokens, no box")
    parser.add_argument("--no-n", action="store_true", help="one choice whatever n asks")
    parser.add_argument("--hang-after", type=int, default=-1, help="answer N requests, then never answer again")
    parser.add_argument("--models", default="fake-model")
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    lock = threading.Lock()
    state = {"chat": 0, "answered": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms delayed-ACK stalls

        def log_message(self, format: str, *values: object) -> None:
            pass

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                models = [{"id": name, "object": "model"} for name in args.models.split(",")]
                self._send(200, json.dumps({"object": "list", "data": models}).encode())
            else:
                self._send(404, b'{"error": {"message": "not found"}}')

        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                state["chat"] += 1
                number = state["chat"]
                hang = 0 <= args.hang_after <= state["answered"]
            if hang:
                time.sleep(3600)
            if number <= args.fail:
                retry = {"error": {"message": f"injected {args.status}"}}
                self._send(args.status, json.dumps(retry).encode())
                return
            if number <= args.fail + args.garbage:
                self._send(200, b"<html>upstream proxy error</html>")
                return
            if request["model"] not in args.models.split(","):
                missing = {"error": {"message": f"The model `{request['model']}` does not exist."}}
                self._send(404, json.dumps(missing).encode())
                return
            time.sleep(args.delay)
            prompt = request["messages"][-1]["content"]
            solved = _SOLVE.search(prompt)
            seed, n = int(request.get("seed", 0)), 1 if args.no_n else int(request.get("n", 1))
            choices = []
            for index in range(n):
                letter = "A" if solved is None or seed + index < int(solved.group(1)) else "B"
                text = "The answer is" if args.length else f"Reasoning. \\boxed{{{letter}}}"
                choice = {"index": index, "message": {"role": "assistant", "content": text}}
                choices.append(choice | {"finish_reason": "length" if args.length else "stop"})
            usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": 3 * n}
            body = {"object": "chat.completion", "model": request["model"], "choices": choices, "usage": usage}
            with lock:
                state["answered"] += 1
                entry = {
                    "prompt": hashlib.sha256(prompt.encode()).hexdigest(),
                    "seed": seed,
                    "n": n,
                    "auth": self.headers.get("Authorization"),
                }
                with open(args.log, "a", encoding="utf-8") as log:
                    log.write(json.dumps(entry) + "\n")
            self._send(200, json.dumps(body).encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
