"""The response cache: every completion received, stored as it arrives, so a killed run resumes and a rerun asks
nothing.

SQLite in WAL mode: each response is committed on its own as it arrives, and a process killed at any moment (even
SIGKILL during a commit) leaves the database with every committed response and nothing half-written; the standard
library reads it, and the cache holds only text (no pickle; nothing read is executed). `synchronous=NORMAL` is
enough for that: only a power cut can lose the last commits, never corrupt the file.

A sample's key is the sha256 of (model, messages, sampling settings, sample index): another model, prompt,
temperature, max_tokens, top_p or seed is another sample. The endpoint's address is not in the key, so the same
model served elsewhere reuses the answers.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from medrl.errors import MedrlError
from medrl.inference.client import Completion, SamplingParams

_SCHEMA = "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, text TEXT NOT NULL, finish_reason TEXT NOT NULL)"
_CHUNK = 500  # keys per lookup (SQLite limits bound variables)


def sample_key(model: str, messages: list[dict], params: SamplingParams, index: int) -> str:
    """The cache key of sample `index` of `messages`."""
    identity = {
        "model": model,
        "messages": messages,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "max_tokens": params.max_tokens,
        "seed": params.seed,
        "index": index,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


class ResponseCache:
    """Completions by sample key in one SQLite file; use as a context manager."""

    def __init__(self, path: str | Path, option: str = "--cache") -> None:
        """`option` is the command's flag that chose `path`, for the message when the file is unusable."""
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
            self._db.execute("SELECT key, text, finish_reason FROM responses LIMIT 0")
        except (sqlite3.Error, OSError) as error:
            raise MedrlError(
                f"{self.path}: cannot use this file as the response cache ({error}); delete it or choose another "
                f"with {option}"
            ) from None

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self._db.close()

    def get(self, keys: list[str]) -> dict[str, Completion]:
        """The cached completions among `keys`."""
        found: dict[str, Completion] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key, text, finish_reason FROM responses WHERE key IN ({marks})"
            for key, text, reason in self._db.execute(query, chunk):
                found[key] = Completion(text, reason)
        return found

    def put(self, items: Iterable[tuple[str, Completion]]) -> None:
        """Store completions in one transaction (all of them or none)."""
        rows = [(key, completion.text, completion.finish_reason) for key, completion in items]
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?, ?)", rows)
