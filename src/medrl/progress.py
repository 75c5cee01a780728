"""Progress of the stages that can take more than a second: rows done of total, rate and ETA.

Jobs (`decontaminate`, `build`) report through a `Progress`, which is silent; the command line passes a
`TerminalProgress`: a live rich bar on a TTY, a log line every few seconds otherwise (a run under nohup or in CI
shows it is alive), and a one-line summary per stage in both cases. A total that is an estimate (a JSONL file's
rows guessed from its size) is shown with `~` and grows if the estimate was short.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress

# Every progress line starts so, like medrl's notes: logs can be filtered for them.
PREFIX = "medrl: "


class Progress:
    """The silent progress a job reports to by default; subclasses show it."""

    @contextmanager
    def stage(self, name: str, total: int | None = None, estimated: bool = False) -> Iterator[Progress]:
        """Announce a stage of `total` rows (None: not counted in rows); `advance` it as rows are done."""
        self.start(name, total, estimated)
        completed = False
        try:
            yield self
            completed = True
        finally:
            self.finish(completed)

    def start(self, name: str, total: int | None, estimated: bool) -> None:
        """A stage begins."""

    def advance(self, rows: int) -> None:
        """`rows` more rows of the current stage are done."""

    def finish(self, completed: bool = True) -> None:
        """The current stage ended (`completed` False: by an error, which is reported on its own)."""


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


class TerminalProgress(Progress):
    """Progress on a console: a rich bar when `live` (a TTY), else a status line every `interval` seconds."""

    def __init__(self, console: Console, live: bool, interval: float = 5.0) -> None:
        self.console = console
        self.live = live
        self.interval = interval
        self.lock = threading.Lock()
        self.name = ""
        self.total: int | None = None
        self.estimated = False
        self.done = 0
        self.started = 0.0
        self.bar: RichProgress | None = None
        self.task: TaskID | None = None
        self.ended = threading.Event()
        self.ticker: threading.Thread | None = None

    def start(self, name: str, total: int | None, estimated: bool) -> None:
        with self.lock:
            self.name, self.total, self.estimated, self.done = name, total, estimated, 0
            self.started = time.perf_counter()
        if self.live:
            self.bar = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[counts]}"),
                TimeRemainingColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task(name, total=total, counts=self._counts())
        else:
            self.ended.clear()
            self.ticker = threading.Thread(target=self._tick, daemon=True)
            self.ticker.start()

    def advance(self, rows: int) -> None:
        with self.lock:
            self.done += rows
            if self.total is not None and self.done > self.total:
                self.total = self.done  # the estimate was short
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, completed=self.done, total=self.total, counts=self._counts())

    def finish(self, completed: bool = True) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
        if self.ticker is not None:
            self.ended.set()
            self.ticker.join()
            self.ticker = None
        if not completed:
            return
        elapsed = time.perf_counter() - self.started
        if self.total is None:
            line = f"{PREFIX}{self.name}: done in {_seconds(elapsed)}"
        else:
            rate = self.done / elapsed if elapsed > 0 else 0.0
            line = f"{PREFIX}{self.name}: {_count(self.done)} rows in {_seconds(elapsed)} ({_count(rate)} rows/s)"
        self.console.print(line, highlight=False, style="dim")

    def _counts(self) -> str:
        """`1,200 of ~50,000 rows, 3,400 rows/s` (rows, total and rate so far)."""
        if self.total is None:
            return ""
        elapsed = time.perf_counter() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        total = f"{'~' if self.estimated else ''}{_count(self.total)}"
        return f"{_count(self.done)} of {total} rows, {_count(rate)} rows/s"

    def status(self) -> str:
        """One log line: the stage, rows done of total with the share, rate and ETA (or the time elapsed)."""
        with self.lock:
            elapsed = time.perf_counter() - self.started
            if self.total is None:
                return f"{PREFIX}{self.name}: {_seconds(elapsed)} elapsed"
            rate = self.done / elapsed if elapsed > 0 else 0.0
            share = self.done / self.total if self.total else 1.0
            eta = (self.total - self.done) / rate if rate > 0 else None
            left = _seconds(eta) if eta is not None else "unknown"
            return f"{PREFIX}{self.name}: {self._counts()} ({share:.0%}), ETA {left}"

    def _tick(self) -> None:
        while not self.ended.wait(self.interval):
            self.console.print(self.status(), highlight=False)
