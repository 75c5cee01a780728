"""One run at a time per output directory.

Two runs into the same `--out` would each swap in a whole output set and the last to finish would silently win,
so a run holds a lock on `<out>.lock`, beside `--out` (outside the output set, which a commit replaces). The lock is
`fcntl.flock`: the kernel releases it when the holding process ends, however it ends, so the lock of a killed run
is simply free to take and no pid has to be judged alive or dead. The holder writes its pid, host and start time
into the file for the message a second run prints. The file is removed when the run ends; a run that opened it just
before the removal finds that it locked a file no longer at that path, and tries again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from medrl.errors import MedrlError


def lock_path(out: str | Path) -> Path:
    """The lock file of `out`: `<out>.lock` in its parent, through symlinks (every spelling of --out agrees)."""
    final = Path(os.path.realpath(out))
    return final.with_name(f"{final.name}.lock")


def _still_there(fd: int, path: Path) -> bool:
    """The locked file is still the one at `path` (not removed by a run that just ended)."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _holder(fd: int) -> str:
    """Who holds the lock, from what it wrote into the file."""
    try:
        held = json.loads(os.pread(fd, 4096, 0))
        return f"pid {held['pid']} on host {held['host']}, started {held['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "its details are not written yet"


@contextlib.contextmanager
def out_locked(out: str | Path) -> Iterator[Path]:
    """Hold the lock of `out` while the block runs; another run holding it is an error naming that run."""
    path = lock_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise MedrlError(
                f"--out {out} is in use by another medrl run ({holder}; lock {path}); wait for it to end or "
                "choose another --out"
            ) from None
        if _still_there(fd, path):
            break
        os.close(fd)
    try:
        held = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.now().astimezone().isoformat("T", "seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(held).encode() + b"\n", 0)
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)
