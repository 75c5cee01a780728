"""Output sets: everything one run writes into `--out`, replaced as one.

A run writes its files into a staging directory beside `--out` (same filesystem), then swaps the staging directory
and `--out` with one atomic rename (Linux `renameat2(RENAME_EXCHANGE)`), and deletes the previous set. Whatever
happens to the process (an error, SIGTERM, SIGKILL, a full disk), `--out` holds the complete previous set or the
complete new one, never a mix. Entries of `--out` that the job does not own (a user's own files) are carried into
the new set as hard links. Staging directories left by killed runs are deleted by the next run that writes beside
them. Where the exchange is unsupported (an old kernel or an exotic filesystem), `--out` is replaced by two renames
and a run killed between them leaves the previous set under `.<out>.medrl-<pid>-<token>-old`, which the next run
puts back.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType

from medrl.errors import MedrlError

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(first: Path, second: Path) -> bool:
    """Atomically swap two paths; False when the system cannot (the caller falls back)."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(second))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _link_tree(source: Path, target: Path) -> None:
    """`source` at `target` without copying data where the filesystem allows (hard links)."""

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    if source.is_dir() and not source.is_symlink():
        shutil.copytree(source, target, symlinks=True, copy_function=link)
    elif source.is_symlink():
        os.symlink(os.readlink(source), target)
    else:
        link(str(source), str(target))


@contextlib.contextmanager
def scratch_directory(out: str | Path) -> Iterator[Path]:
    """A private directory beside `out` (on the disk the outputs go to) for the run's temporary files, such as a
    piped input's copy; removed when the block ends, or by the next run into `out` if this one is killed."""
    final = Path(os.path.realpath(out))
    final.parent.mkdir(parents=True, exist_ok=True)
    directory = final.parent / f".{final.name}.medrl-{os.getpid()}-{secrets.token_hex(4)}-input"
    directory.mkdir()
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


class OutputSet:
    """The staging area of one run's outputs; `commit()` swaps it in as `out`, anything else discards it.

    `owns(name)` tells which entries of `out` belong to the job's output set (replaced or removed by a new set);
    every other entry is carried over unchanged.
    """

    def __init__(self, out: str | Path, owns: Callable[[str], bool], what: str = "--out") -> None:
        # Through symlinks: an --out that links to a directory keeps its link, and the directory gets the new set.
        self.out = Path(os.path.realpath(out))
        self.owns = owns
        if self.out.exists() and not self.out.is_dir():
            raise MedrlError(f"{what} {self.out} is a file; give a directory (it is created if missing)")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        # What runs stage beside `out`: `-old`, a previous set a fallback swap moved aside; `-input`, a scratch
        # directory (`scratch_directory`).
        self._pattern = re.compile(rf"\.{re.escape(self.out.name)}\.medrl-(\d+)-[0-9a-f]+(-old|-input)?")
        self._recover_stale()
        self.stage = self.out.parent / f".{self.out.name}.medrl-{os.getpid()}-{secrets.token_hex(4)}"
        self.stage.mkdir()
        self.committed = False

    def path(self, name: str) -> Path:
        """Where the run writes its output `name` (inside the staging directory)."""
        return self.stage / name

    def final_path(self, name: str) -> Path:
        """Where output `name` will be once the set is committed."""
        return self.out / name

    def files(self) -> list[Path]:
        """Every file staged so far, relative to the set, sorted."""
        return sorted(path.relative_to(self.stage) for path in self.stage.rglob("*") if path.is_file())

    def _recover_stale(self) -> None:
        """Delete staging directories of runs that died; put back a previous set a killed fallback swap left."""
        for entry in self.out.parent.iterdir():
            found = self._pattern.fullmatch(entry.name)
            if not found or _alive(int(found.group(1))):
                continue
            if found.group(2) == "-old" and not self.out.exists():
                entry.rename(self.out)
            else:
                shutil.rmtree(entry, ignore_errors=True)

    def commit(self) -> None:
        if self.out.is_dir():
            for entry in self.out.iterdir():
                if not self.owns(entry.name) and not os.path.lexists(self.stage / entry.name):
                    _link_tree(entry, self.stage / entry.name)
        if not self.out.exists():
            self.stage.rename(self.out)
        elif _exchange(self.stage, self.out):
            shutil.rmtree(self.stage, ignore_errors=True)  # now the previous set
        else:
            previous = self.stage.with_name(f"{self.stage.name}-old")
            self.out.rename(previous)
            self.stage.rename(self.out)
            shutil.rmtree(previous, ignore_errors=True)
        self.committed = True

    def abort(self) -> None:
        """Discard the staged outputs; `out` keeps the previous set. Never raises."""
        with contextlib.suppress(OSError):
            shutil.rmtree(self.stage, ignore_errors=True)

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if not self.committed:
            self.abort()


def refuse_inputs_in(outputs: OutputSet, inputs: list[Path], what: str = "input", out_inside: bool = False) -> None:
    """An input that is (inside) an output of the run would be replaced while it is read: refuse it. Unless
    `out_inside`, an `--out` inside an input directory is refused too (the input would change as it is read)."""
    out = outputs.out.resolve()
    for path in inputs:
        resolved = Path(path).resolve()
        if resolved == out or out in resolved.parents:
            first = resolved.relative_to(out).parts[:1] if resolved != out else ()
            if not first or outputs.owns(first[0]):
                raise MedrlError(
                    f"{what} {path} would be replaced by this run's outputs in {out}; choose another --out"
                )
        elif resolved in out.parents and not out_inside:
            raise MedrlError(f"--out {out} lies inside the {what} {path}; choose an --out outside it")
