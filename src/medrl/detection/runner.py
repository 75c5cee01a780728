"""The one detection runner: batches of checked texts -> an engine -> per-row verdicts, in input order.

`detect_batch` is the pure per-batch function every engine runs: it loops over the stage registry with no
per-stage code. `DetectionRunner` picks the engine (this process, worker processes, or Ray actors), sets the
workers up from the pack's index cache, and is used alike by `decontaminate` and `build`.
"""

from __future__ import annotations

import gc
import os
import signal
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np

from medrl.benchmarks.pack import BenchmarkPack, load_pack
from medrl.config import DecontaminationConfig
from medrl.detection.decide import Match, Verdict, decide, expand_hits
from medrl.detection.index import PackIndex, ensure_index_cached, load_or_build_index
from medrl.detection.joined import JOINED, JoinedTexts
from medrl.detection.paragraphs import Paragraphs, split_paragraphs
from medrl.detection.stages import CLASS_STRENGTH, StageBatch
from medrl.engine import run_local, run_processes, run_ray

# Inputs over this size use one worker process per core by default: below it, starting workers costs more.
AUTO_PROCESSES_BYTES = 16 * 2**20

Key = TypeVar("Key")
# A checked text of every row of a batch, or of some rows by their offset in the batch (a chat's i-th message: rows
# with fewer messages have none, and a row with thousands of messages costs its own rows, not the batch's).
Column = list[str] | dict[int, str]
# Per label, the rows' folded options from an options column (see `detect_batch`).
LabelOptions = dict[str, list[frozenset[str]]]
# What engines move between processes: a batch's checked texts per label, the options of the labels an options column
# describes, and its row count.
Payload = tuple[dict[str, Column], LabelOptions, int]
Result = tuple[list[Verdict], dict[str, float]]
# Below every confidence class's strength: a row with no match yet.
_NONE = min(CLASS_STRENGTH.values()) - 1


def detect_batch(
    texts: dict[str, Column],
    index: PackIndex,
    config: DecontaminationConfig,
    options: LabelOptions | None = None,
    row_count: int | None = None,
) -> Result:
    """Verdicts for one batch of rows (given as their checked texts per label; `row_count` is needed when every
    column is sparse), plus seconds per stage. A sparse column's missing rows are not examined (an empty text is,
    as the reference method scores it).

    `options` holds, for the labels an options column describes (the row's question), each row's folded options;
    every other text is judged with the options written in it. A reasoning trace or an answer is not the question
    the row's options belong to: judged with them, a benchmark question it restates would look like the same stem
    with other options (a different question). The fields' joined text is judged with the question's options.

    Unless `run_all_stages` is set, a stage skips the rows whose class it cannot change: rows already holding a
    match of its confidence class or a stronger one. A certain-class stage still examines a row that only a
    review-class stage flagged, so a verbatim copy that a rewrite rule saw first is still found as certain (and
    `--review keep` never keeps it); a row's decision and class are those `run_all_stages` gives.
    """
    if row_count is None:
        row_count = len(next(column for column in texts.values() if isinstance(column, list)))
    joined = JoinedTexts.of(texts, row_count) if config.joins_fields() else None
    options = dict(options or {})
    if joined is not None:  # checked last: a row a field already shows is not searched again (see `joined`)
        texts = {**texts, JOINED: joined.texts}
        question_options = next((options[label] for label in texts if label in options), None)
        if question_options is not None:
            options[JOINED] = question_options
    found: list[list[tuple[int, Match]]] = [[] for _ in range(row_count)]
    matched: list[dict[str, list[np.ndarray]]] = [{} for _ in range(row_count)]
    strongest = [_NONE] * row_count  # per row: the strongest class of its matches so far
    fields: list[dict[str, None]] = [{} for _ in range(row_count)]  # per row: the texts that matched, in order
    seconds: dict[str, float] = {}
    run = config.run_context()
    paragraphs: Paragraphs | None = None  # split when a stage that checks them first runs
    paragraph_options: LabelOptions = {}  # per paragraph column: its text's label's, else its own (or the next's)
    for stage in config.enabled():
        settings = config.stages[stage.name]
        started = time.perf_counter()
        strength = CLASS_STRENGTH[stage.confidence]
        columns: dict[str, Column] = dict(texts)
        if stage.checks_paragraphs:
            if paragraphs is None:
                paragraphs = split_paragraphs({label: texts[label] for label in texts if label != JOINED})
                paragraph_options = {
                    name: known
                    if (known := options.get(paragraphs.parent[name])) is not None
                    else paragraphs.options(name, row_count)
                    for name in paragraphs.texts
                }
            columns.update(paragraphs.texts)  # after the whole texts: a row found whole is not searched again
        for field, column in columns.items():
            entries = column.items() if isinstance(column, dict) else enumerate(column)
            rows = [r for r, _ in entries if config.run_all_stages or strongest[r] < strength]
            if not rows:
                continue
            label, shift, given = field, None, options.get(field)
            if paragraphs is not None and field in paragraphs.parent:
                label, shift = paragraphs.parent[field], paragraphs.start[field]
                given = paragraph_options[field]
            row_options = [given[r] for r in rows] if given is not None else None
            batch = StageBatch([column[r] for r in rows], row_options, run, shift is not None)
            results = stage.hits(batch, index.stages[stage.name], settings)
            for row, result in zip(rows, results, strict=True):
                if len(result.ids):
                    row_found = expand_hits(result.hits, stage.name, label, index)
                    if shift is not None:
                        row_found = [(item, match.shifted(shift[row])) for item, match in row_found]
                    found[row].extend(row_found)
                    matched[row].setdefault(stage.name, []).append(index.items_of(stage.name, result.ids))
                    strongest[row] = max(strongest[row], strength)
                    fields[row][label] = None
        seconds[stage.name] = time.perf_counter() - started
    if joined is not None:
        found, fields = joined.placed(found, fields)
    verdicts = [
        decide(
            row_found,
            {m: np.concatenate(a) for m, a in row_matched.items()},
            config.max_matches_per_row,
            index,
            tuple(row_fields),
        )
        for row_found, row_matched, row_fields in zip(found, matched, fields, strict=True)
    ]
    return verdicts, seconds


_WORKER: dict = {}


def _exit_with_parent(parent: int) -> None:
    """Watch the parent process; exit as soon as it is gone (a killed parent leaves no worker waiting forever on a
    pipe nobody writes to)."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(1)


def _init_worker(pack: str, config: DecontaminationConfig, parent: int | None = None) -> None:
    """Set up a worker process once: the pack index comes from the on-disk cache the parent filled. A local worker
    process is given its parent's pid and exits when that parent dies."""
    if parent is not None:
        threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
        # The parent handles Ctrl-C (sent to the whole process group) and stops its workers with SIGTERM: a worker
        # neither reacts to SIGINT nor inherits the command line's SIGTERM handler, so it exits quietly.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if _WORKER.get("setup") == (pack, config):
        return  # forked from a parent that loaded this index: shared copy-on-write (see `DetectionRunner._forked`)
    _WORKER.update(setup=(pack, config), config=config, index=load_or_build_index(load_pack(pack), config))


def _detect_in_worker(payload: Payload) -> Result:
    return detect_batch(payload[0], _WORKER["index"], _WORKER["config"], payload[1], payload[2])


def resolve_processes(config: DecontaminationConfig, input_bytes: int) -> int:
    """`config.processes`, or when 0 (auto) one per core for inputs over `AUTO_PROCESSES_BYTES` (always for Ray)."""
    if config.processes:
        return config.processes
    if config.engine == "ray" or input_bytes > AUTO_PROCESSES_BYTES:
        return os.cpu_count() or 1
    return 1


class DetectionRunner:
    """Detection over batches with the configured engine.

    `DetectionRunner.for_pack` prepares the index (loads it in-process, or makes sure the cache exists for workers),
    the slow part of starting a run; `DetectionRunner(config, index)` runs in this process on an index at hand.
    """

    def __init__(
        self,
        config: DecontaminationConfig,
        index: PackIndex | None = None,
        pack: BenchmarkPack | None = None,
        processes: int = 1,
    ) -> None:
        self.config = config
        self.index = index  # None: batches go to `processes` workers, which load the index of `pack`
        self.pack = pack
        self.processes = processes

    @classmethod
    def for_pack(cls, pack: BenchmarkPack, config: DecontaminationConfig, input_bytes: int) -> DetectionRunner:
        processes = resolve_processes(config, input_bytes)
        if config.engine == "ray" or processes > 1:  # Ray actors load the index from the pack's cache; forked
            ensure_index_cached(pack, config)  # workers share the one `_forked` loads when the run starts
            return cls(config, pack=pack, processes=processes)
        return cls(config, load_or_build_index(pack, config), pack)

    def run(self, batches: Iterable[tuple[Key, Payload]]) -> Iterator[tuple[Key, Result]]:
        """(key, (verdicts, seconds per stage)) for each (key, payload), in input order; keys stay here."""
        # One fuzzy thread per worker; the pack path must be absolute for Ray actors on other nodes.
        if self.index is not None:
            index = self.index
            return run_local(lambda payload: detect_batch(payload[0], index, self.config, *payload[1:]), batches)
        assert self.pack is not None  # set whenever there is no index (see `for_pack`)
        setup = (str(Path(self.pack.path).resolve()), self.config.replace(workers=1))
        if self.config.engine == "ray":
            return run_ray(_detect_in_worker, batches, self.processes, _init_worker, setup, self.config.ray_address)
        return self._forked(batches, setup)

    def _forked(self, batches: Iterable[tuple[Key, Payload]], setup: tuple) -> Iterator[tuple[Key, Result]]:
        """The processes engine. Loaded here, the index (numpy arrays, the pack's items) is shared copy-on-write by
        the workers forked next instead of loaded by each; frozen, the garbage collector never writes to (and so
        copies) its objects. Workers not forked (a spawn or forkserver start method) load their own in
        `_init_worker`. Afterwards this process lets go of it (a library caller may run many checks)."""
        assert self.pack is not None
        for stage in self.config.enabled():
            stage.share_with_workers(self.config.stages[stage.name])
        _WORKER.update(setup=setup, config=setup[1], index=load_or_build_index(self.pack, setup[1]))
        gc.freeze()
        try:
            yield from run_processes(_detect_in_worker, batches, self.processes, _init_worker, (*setup, os.getpid()))
        finally:
            gc.unfreeze()
            _WORKER.clear()
