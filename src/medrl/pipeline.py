"""The decontamination job: read -> records -> index -> detect -> decide -> write + report.

`detect_batch` is the pure per-batch function every engine runs; `decontaminate` wires it to files.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from medrl.config import DEFAULT_PRESET, DecontaminationConfig, preset
from medrl.decide import MATCH_TYPE, Match, Verdict, decide, expand_hits
from medrl.detect import coverage_hits, fuzzy_hits, ngram_hits, rewrite_hits
from medrl.engine import run_local, run_processes, run_ray
from medrl.errors import MedrlError
from medrl.index import PackIndex, ensure_index_cached, load_or_build_index
from medrl.pack import load_pack, sha256_file
from medrl.readers import FORMATS, RowBatch, open_source
from medrl.records import field_options, field_texts
from medrl.report import Report, RunStats, benchmark_side, versions
from medrl.writers import RowWriter, open_writer, output_path, write_json_atomic

EVIDENCE_COLUMN = "contamination"


STAGES = ("coverage", "rewrite", "ngram", "fuzzy")


def detect_batch(
    texts: dict[str, list[str]],
    index: PackIndex,
    config: DecontaminationConfig,
    options: list[frozenset[str]] | None = None,
) -> tuple[list[Verdict], dict[str, float]]:
    """Verdicts for one batch of rows (given as their checked texts per field), plus seconds per stage.

    `options`: each row's folded option texts from `options_field` (None: options written in the text count).
    """
    row_count = len(next(iter(texts.values())))
    found: list[list[tuple[int, Match]]] = [[] for _ in range(row_count)]
    matched: list[dict[str, list[np.ndarray]]] = [{} for _ in range(row_count)]
    seconds: dict[str, float] = {}
    for method in STAGES:
        stage = getattr(config, method)
        if stage is None:
            continue
        started = time.perf_counter()
        rows = [r for r in range(row_count) if config.run_all_stages or not matched[r]]
        row_options = [options[r] for r in rows] if options is not None else None
        for field, column in texts.items():
            selected = [column[r] for r in rows]
            if method == "ngram":
                pairs = [ngram_hits(text, index, stage, config.max_matches_per_row) for text in selected]
                hits, ids = [hit for hit, _ in pairs], [ids for _, ids in pairs]
            else:
                if method == "fuzzy":
                    hits = fuzzy_hits(selected, index, stage, config.workers)
                elif method == "coverage":
                    hits = coverage_hits(selected, index.coverage, row_options)
                else:
                    hits = rewrite_hits(selected, index.rewrite, stage, row_options)
                ids = [[hit.text_id for hit in row_hits] for row_hits in hits]
            for row, row_hits, row_ids in zip(rows, hits, ids, strict=True):
                if len(row_ids):
                    found[row].extend(expand_hits(row_hits, method, field, index))
                    matched[row].setdefault(method, []).append(index.items_of(method, row_ids))
        seconds[method] = time.perf_counter() - started
    verdicts = [
        decide(row_found, {m: np.concatenate(a) for m, a in row_matched.items()}, config.max_matches_per_row, index)
        for row_found, row_matched in zip(found, matched, strict=True)
    ]
    return verdicts, seconds


# What the engines move between processes: a batch's checked texts per field and its rows' options.
Payload = tuple[dict[str, list[str]], list[frozenset[str]] | None]
_WORKER: dict = {}


def _init_worker(pack: str | Path, config: DecontaminationConfig) -> None:
    """Set up a worker process once: the pack index comes from the on-disk cache the parent filled."""
    _WORKER["config"] = config
    _WORKER["index"] = load_or_build_index(load_pack(pack), config)


def _detect_in_worker(payload: Payload) -> tuple[list[Verdict], dict[str, float]]:
    return detect_batch(payload[0], _WORKER["index"], _WORKER["config"], payload[1])


def _processes(config: DecontaminationConfig, path: Path) -> int:
    """`config.processes`, or when 0 (auto) one per core for inputs over 16 MB: below that, starting worker
    processes costs more than it saves."""
    if config.processes:
        return config.processes
    if config.engine == "ray":
        return os.cpu_count() or 1
    size = path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return (os.cpu_count() or 1) if size > 16 * 2**20 else 1


def _timed(batches: Iterator[RowBatch], stats: RunStats) -> Iterator[RowBatch]:
    """Count the time spent reading into stats.seconds["read"]."""
    while True:
        started = time.perf_counter()
        batch = next(batches, None)
        stats.seconds["read"] += time.perf_counter() - started
        if batch is None:
            return
        yield batch


def decontaminate(
    input: str | Path,
    pack: str | Path,
    out: str | Path,
    preset_name: str = DEFAULT_PRESET,
    *,
    config: DecontaminationConfig | None = None,
    fields: tuple[str, ...] | list[str] | None = None,
    input_format: str | None = None,
    output_format: str | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> Report:
    """Split `input` into `out/clean.*` and `out/removed.*` (with evidence) and write `out/report.json`.

    `config` overrides the preset; `fields` overrides the checked columns. `on_batch(rows)` is called after each
    batch (progress display).
    """
    started = time.perf_counter()
    config = config or preset(preset_name)
    if fields:
        config = config.replace(fields=tuple(fields))
    source = open_source(input, input_format)
    out_format = output_format or source.format
    if out_format not in FORMATS:
        raise MedrlError(f"unknown output format {out_format!r}; use one of {', '.join(FORMATS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stats = RunStats()

    index_started = time.perf_counter()
    benchmark_pack = load_pack(pack)
    processes = _processes(config, source.path)
    distributed = config.engine == "ray" or processes > 1
    if distributed:  # workers load the index from the pack's cache; this process never needs it
        ensure_index_cached(benchmark_pack, config)
    else:
        index = load_or_build_index(benchmark_pack, config)
    stats.seconds["index"] = time.perf_counter() - index_started

    schema, columns = source.arrow_schema(), source.column_names()
    clean_path, removed_path = output_path(out, "clean", out_format), output_path(out, "removed", out_format)
    writers: list[RowWriter] = []
    try:
        clean = open_writer(clean_path, out_format, schema, columns)
        writers.append(clean)
        removed = open_writer(removed_path, out_format, schema, columns, EVIDENCE_COLUMN, MATCH_TYPE)
        writers.append(removed)

        def records(batch: RowBatch) -> tuple[RowBatch, Payload]:
            options = field_options(batch, config.options_field, source.path) if config.options_field else None
            return batch, (field_texts(batch, config.fields, source.path), options)

        batches = (records(batch) for batch in _timed(source.batches(config.batch_size), stats))
        # One fuzzy thread per worker; the pack path must be absolute for Ray actors on other nodes.
        setup = (str(Path(pack).resolve()), config.replace(workers=1))
        if config.engine == "ray":
            engine = run_ray(_detect_in_worker, batches, processes, _init_worker, setup, config.ray_address)
        elif distributed:
            engine = run_processes(_detect_in_worker, batches, processes, _init_worker, setup)
        else:
            engine = run_local(lambda payload: detect_batch(payload[0], index, config, payload[1]), batches)
        for batch, (verdicts, seconds) in engine:
            stats.seconds.update(seconds)
            write_started = time.perf_counter()
            kept = [i for i, verdict in enumerate(verdicts) if not verdict.contaminated]
            flagged = [i for i, verdict in enumerate(verdicts) if verdict.contaminated]
            clean.write(batch, kept)
            removed.write(batch, flagged, [[m.to_dict() for m in verdicts[i].matches] for i in flagged])
            stats.add(verdicts)
            stats.seconds["write"] += time.perf_counter() - write_started
            if on_batch:
                on_batch(len(verdicts))
        for writer in writers:
            writer.commit()
    except BaseException:
        for writer in writers:
            writer.abort()
        raise

    stats.seconds["total"] = time.perf_counter() - started
    report = Report(
        input={"path": str(source.path), "format": source.format, "sha256": input_sha256(source.path)},
        outputs={"format": out_format, "clean": str(clean_path), "removed": str(removed_path)},
        input_rows=stats.input_rows,
        kept_rows=stats.kept_rows,
        removed_rows=stats.removed_rows,
        by_benchmark=dict(sorted(stats.by_benchmark.items())),
        by_method=dict(sorted(stats.by_method.items())),
        benchmark_items=benchmark_side(stats.items_found, benchmark_pack.items, benchmark_pack.manifest),
        config=config.to_dict(),
        pack={
            "path": str(benchmark_pack.path),
            "manifest_sha256": benchmark_pack.manifest_sha256,
            "items": len(benchmark_pack.items),
            "benchmarks": {
                name: {key: entry[key] for key in ("splits", "rows", "content_sha256", "sources")}
                for name, entry in benchmark_pack.manifest["benchmarks"].items()
            },
        },
        versions=versions(),
        seconds={key: round(value, 4) for key, value in sorted(stats.seconds.items())},
    )
    write_json_atomic(out / "report.json", report.to_dict())
    return report


def input_sha256(path: Path) -> str:
    """sha256 of the input file; for a directory, of its files' names and hashes in sorted order."""
    if path.is_file():
        return sha256_file(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path)}\0{sha256_file(file)}\n".encode())
    return digest.hexdigest()
