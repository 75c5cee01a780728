"""Benchmark packs: normalised benchmark items on disk, one Parquet file per benchmark plus a manifest.

The manifest records, per benchmark, the split, row count, the official count, where the rows came from (each
local file's path and sha256, or the hub id, config, split and resolved revision) and the sha256 of the
normalised content, so a report can say exactly what a training set was checked against and `verify` can tell
when anything drifted. It holds no timestamps: importing the same files twice gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from medrl._version import __version__
from medrl.benchmarks.hub import DatasetsHubLoader, HubLoader
from medrl.benchmarks.loaders import BenchmarkItem, LoadedSplit, load_benchmark_dir, read_rows, to_items
from medrl.benchmarks.registry import REGISTRY, BenchmarkSpec, FieldMap, SplitPolicy, get_spec
from medrl.errors import MedrlError
from medrl.io.files import sha256_file
from medrl.io.output_set import OutputSet
from medrl.io.writers import write_json_atomic, write_parquet_atomic
from medrl.settings import Setting, merge, read_settings, require

MANIFEST = "manifest.json"
PACK_FORMAT_VERSION = 1

ITEM_SCHEMA = pa.schema(
    [
        ("benchmark", pa.string()),
        ("split", pa.string()),
        ("item_id", pa.string()),
        ("question", pa.string()),
        ("options", pa.list_(pa.struct([("letter", pa.string()), ("text", pa.string())]))),
        ("answer", pa.string()),
        ("context", pa.string()),
    ]
)


def item_row(item: BenchmarkItem) -> dict:
    return {
        "benchmark": item.benchmark,
        "split": item.split,
        "item_id": item.item_id,
        "question": item.question,
        "options": [{"letter": letter, "text": text} for letter, text in item.options],
        "answer": item.answer,
        "context": item.context,
    }


def content_sha256(items: Sequence[BenchmarkItem]) -> str:
    """A hash of the normalised items, independent of file encoding and layout."""
    digest = hashlib.sha256()
    for item in items:
        digest.update(json.dumps(item_row(item), ensure_ascii=False, sort_keys=True).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


@dataclass(frozen=True)
class BenchmarkEntry:
    """One benchmark's manifest entry."""

    name: str
    splits: tuple[str, ...]
    rows: int
    expected_rows: int | None
    content_sha256: str
    sources: tuple[dict, ...]  # {"path", "sha256"} per local file, or {"hub_id", "config", "split", "revision"}
    origin: str  # "local" | "hub" | "user"

    def to_dict(self) -> dict:
        return {
            "splits": list(self.splits),
            "rows": self.rows,
            "expected_rows": self.expected_rows,
            "partial": self.expected_rows is not None and self.rows != self.expected_rows,
            "content_sha256": self.content_sha256,
            "file": f"{self.name}.parquet",
            "origin": self.origin,
            "sources": list(self.sources),
        }


@dataclass(frozen=True)
class BenchmarkPack:
    """A loaded pack: its directory, manifest and every item in manifest order."""

    path: Path
    manifest: dict
    items: list[BenchmarkItem]

    @property
    def manifest_sha256(self) -> str:
        return sha256_file(self.path / MANIFEST)

    def summary(self) -> dict:
        """What a report records about the pack it checked against: the manifest's hash, the item count and, per
        benchmark, its splits, rows (and the official count), content hash and sources."""
        keys = ("splits", "rows", "expected_rows", "partial", "content_sha256", "sources")
        return {
            "path": str(self.path),
            "manifest_sha256": self.manifest_sha256,
            "items": len(self.items),
            "benchmarks": {
                name: {key: entry.get(key) for key in keys} for name, entry in self.manifest["benchmarks"].items()
            },
        }


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_FIX = "re-import it with `medrl benchmarks import` (or `fetch`/`add`), or restore the pack from a copy"


def check_benchmark_name(name: object, where: str = "benchmark name") -> str:
    """Benchmark names become file names in the pack: letters, digits, `_`, `.`, `-`; no path separators."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise MedrlError(
            f"{where} {name!r} is not allowed: use 1-100 letters, digits, '_', '.' or '-', starting with a letter "
            "or digit (it names a file in the pack)"
        )
    return name


_ENTRY_TYPES = {"splits": list, "rows": int, "content_sha256": str, "file": str, "origin": str, "sources": list}


def _check_manifest(manifest: object, path: Path) -> dict:
    """The manifest's structure, checked before anything in it is used (one line naming what is wrong)."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("benchmarks"), dict):
        raise MedrlError(f"{path}: malformed manifest (no `benchmarks` table); {_FIX}")
    for name, entry in manifest["benchmarks"].items():
        check_benchmark_name(name, f"{path}: benchmark name")
        if not isinstance(entry, dict):
            raise MedrlError(f"{path}: malformed manifest: benchmark {name!r} is not a table; {_FIX}")
        for key, kind in _ENTRY_TYPES.items():
            if not isinstance(entry.get(key), kind) or isinstance(entry.get(key), bool):
                raise MedrlError(f"{path}: malformed manifest: benchmark {name!r} has no valid `{key}`; {_FIX}")
        if entry["file"] != f"{name}.parquet":
            raise MedrlError(f"{path}: malformed manifest: benchmark {name!r} names file {entry['file']!r}; {_FIX}")
    return manifest


def _read_manifest(pack: Path) -> dict:
    path = pack / MANIFEST
    if pack.exists() and not pack.is_dir():
        raise MedrlError(f"{pack}: not a directory; --pack names a benchmark pack directory")
    if not path.is_file():
        raise MedrlError(f"{pack}: not a benchmark pack (no {MANIFEST}); create one with `medrl benchmarks import`")
    try:
        manifest = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise MedrlError(f"{path}: corrupt manifest ({error}); {_FIX}") from None
    return _check_manifest(manifest, path)


def _check_count(name: str, rows: int, expected: int | None, allow_partial: bool, where: str) -> None:
    """A wrong count silently weakens every later contamination check, so it is an error unless asked for."""
    if expected is not None and rows != expected and not allow_partial:
        raise MedrlError(
            f"{where}: {rows} rows but the official {name} split has {expected}; "
            "use the complete data, or pass --allow-partial for a deliberate sample"
        )


def _save(pack: Path, entries: list[tuple[BenchmarkEntry, list[BenchmarkItem]]]) -> list[BenchmarkEntry]:
    """Write each benchmark's Parquet file, then merge the entries into the manifest (added or replaced by name)."""
    for entry, items in entries:  # checked before anything is written
        check_benchmark_name(entry.name)
        if not items:
            raise MedrlError(f"{entry.name}: no items were read; a benchmark needs at least one question")
    manifest = _read_manifest(pack) if (pack / MANIFEST).exists() else {"benchmarks": {}}
    written = {f"{entry.name}.parquet" for entry, _ in entries}
    # The new files and the manifest replace the old ones as one set: a run killed half-way leaves the old pack.
    with OutputSet(pack, lambda name: name == MANIFEST or name in written, "--pack") as staged:
        for entry, items in entries:
            table = pa.Table.from_pylist([item_row(item) for item in items], schema=ITEM_SCHEMA)
            write_parquet_atomic(table, staged.path(f"{entry.name}.parquet"))
            manifest["benchmarks"][entry.name] = entry.to_dict()
        manifest["benchmarks"] = dict(sorted(manifest["benchmarks"].items()))
        manifest.update(format="medrl-pack", format_version=PACK_FORMAT_VERSION, medrl_version=__version__)
        write_json_atomic(staged.path(MANIFEST), {key: manifest[key] for key in sorted(manifest)})
        staged.commit()
    return [entry for entry, _ in entries]


def _local_entry(loaded: list[LoadedSplit], name: str, allow_partial: bool) -> tuple[BenchmarkEntry, list]:
    items = [item for split in loaded for item in split.items]
    expected = loaded[0].policy.expected_rows if len(loaded) == 1 else None
    _check_count(name, len(items), expected, allow_partial, str(loaded[0].files[0].parent))
    files = sorted({path.resolve() for split in loaded for path in split.files})
    entry = BenchmarkEntry(
        name=name,
        splits=tuple(split.policy.name for split in loaded),
        rows=len(items),
        expected_rows=expected,
        content_sha256=content_sha256(items),
        sources=tuple({"path": str(path), "sha256": sha256_file(path)} for path in files),
        origin="local",
    )
    return entry, items


def import_benchmarks(
    source: str | Path, pack: str | Path, allow_partial: bool = False, splits: dict[str, str] | None = None
) -> list[BenchmarkEntry]:
    """Normalise every `<benchmark>/` directory under `source` into `pack`, merging with benchmarks already there.

    `splits` overrides a benchmark's default split policy by name (e.g. {"pubmedqa": "pqa_l"}).
    """
    source, pack = Path(source), Path(pack)
    if not source.is_dir():
        raise MedrlError(f"{source}: not a directory; expected <benchmark>/<split files> directories inside")
    directories = sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not directories:
        raise MedrlError(f"{source}: no benchmark directories inside; lay files out as <benchmark>/<split>.<ext>")
    splits = splits or {}
    entries = [
        _local_entry(load_benchmark_dir(directory, splits.get(directory.name)), directory.name, allow_partial)
        for directory in directories
    ]
    return _save(pack, entries)


def fetch_benchmarks(
    names: Sequence[str],
    pack: str | Path,
    loader: HubLoader | None = None,
    splits: dict[str, str] | None = None,
    revisions: dict[str, str] | None = None,
    allow_partial: bool = False,
) -> list[BenchmarkEntry]:
    """Load registry benchmarks from the hub (or `loader`), pinning the resolved revision in the manifest."""
    loader = loader or DatasetsHubLoader()
    splits, revisions = splits or {}, revisions or {}
    specs = [get_spec(name) for name in names] or [spec for spec in REGISTRY.values() if spec.hub_id]
    entries = []
    for spec in specs:
        policy = spec.split(splits.get(spec.name))
        if spec.hub_id is None or policy.hub_split is None:
            raise MedrlError(f"{spec.name} has no hub source for split {policy.name!r}: {spec.notes}")
        rows, sources = [], []
        for config in spec.hub_configs:
            config_rows, revision = loader.load(spec.hub_id, config, policy.hub_split, revisions.get(spec.name))
            rows.extend(config_rows)
            sources.append({"hub_id": spec.hub_id, "config": config, "split": policy.hub_split, "revision": revision})
        if policy.keep is not None:
            rows = [row for row in rows if policy.keep(row)]
        items = to_items(spec, policy, rows, f"{spec.hub_id} {policy.hub_split}")
        _check_count(spec.name, len(items), policy.expected_rows, allow_partial, spec.hub_id)
        entry = BenchmarkEntry(
            spec.name, (policy.name,), len(items), policy.expected_rows, content_sha256(items), tuple(sources), "hub"
        )
        entries.append((entry, items))
    return _save(Path(pack), entries)


def add_benchmark(
    pack: str | Path, name: str, file: str | Path, fields: FieldMap, split: str = "test"
) -> BenchmarkEntry:
    """A user-defined benchmark from one file with an explicit field mapping: a first-class pack member."""
    file = Path(file)
    if not file.exists():
        raise MedrlError(f"{file}: no such file")
    spec = BenchmarkSpec(name, name, (SplitPolicy(split, None, "user-defined"),), (fields,), "user", "user")
    rows = read_rows([file])
    items = to_items(spec, spec.splits[0], rows, str(file))
    source = {"path": str(file.resolve()), "sha256": sha256_file(file)}
    entry = BenchmarkEntry(name, (split,), len(items), None, content_sha256(items), (source,), "user")
    return _save(Path(pack), [(entry, items)])[0]


BENCHMARK_SPEC_SETTINGS: dict[str, Setting] = {
    "file": Setting((str,), path=True),
    **dict.fromkeys(("name", "question_field", "options_field", "answer_field", "id_field", "split"), Setting((str,))),
}


def benchmark_spec(
    spec_file: str | Path | None = None,
    *,
    name: str | None = None,
    file: str | Path | None = None,
    question_field: str | None = None,
    options_field: str | None = None,
    answer_field: str | None = None,
    id_field: str | None = None,
    split: str | None = None,
) -> dict:
    """Keyword arguments for `add_benchmark` (but the pack) from a spec TOML (keys: `BENCHMARK_SPEC_SETTINGS`, `file`
    relative to the TOML) with the given values (not None) on top: `benchmarks add --spec` and its flags."""
    values = read_settings(spec_file, BENCHMARK_SPEC_SETTINGS, "benchmark spec") if spec_file else {}
    given = {"name": name, "file": file, "question_field": question_field, "options_field": options_field}
    values = merge(values, given | {"answer_field": answer_field, "id_field": id_field, "split": split})
    require("benchmarks add", values, {"name": "NAME", "file": "--file FILE"}, "--spec")
    fields = FieldMap(
        question=values.get("question_field", "question"),
        options=values.get("options_field"),
        answer=values.get("answer_field"),
        item_id=values.get("id_field"),
    )
    return {
        "name": values["name"],
        "file": Path(values["file"]),
        "fields": fields,
        "split": values.get("split", "test"),
    }


def _read_items(pack: Path, name: str, entry: dict) -> list[BenchmarkItem]:
    path = pack / entry["file"]
    if not path.is_file():
        raise MedrlError(f"{path}: listed in the manifest but missing; {_FIX}")
    try:
        table = pq.read_table(path)
        if not set(ITEM_SCHEMA.names) <= set(table.schema.names):
            raise MedrlError(f"{path}: lacks the pack columns {ITEM_SCHEMA.names}; {_FIX}")
        table = table.select(ITEM_SCHEMA.names).cast(ITEM_SCHEMA)
    except (pa.ArrowException, OSError) as error:
        raise MedrlError(f"{path}: not a readable pack file ({error}); {_FIX}") from None
    return [
        BenchmarkItem(
            benchmark=name,
            split=row["split"] or "",
            item_id=row["item_id"] or "",
            question=row["question"] or "",
            options=tuple((option["letter"] or "", option["text"] or "") for option in row["options"] or ()),
            answer=row["answer"],
            context=row["context"],
        )
        for row in table.to_pylist()
    ]


def _check_items(name: str, entry: dict, items: list[BenchmarkItem]) -> list[str]:
    """How a benchmark's items differ from its manifest entry (empty: they match)."""
    problems = []
    if len(items) != entry["rows"]:
        problems.append(f"{name}: {len(items)} rows in the pack file, the manifest says {entry['rows']}")
    if content_sha256(items) != entry["content_sha256"]:
        problems.append(f"{name}: the pack file's content changed since import (content sha256 differs)")
    return problems


def load_pack(pack: str | Path) -> BenchmarkPack:
    """The pack's items, each benchmark checked against its manifest entry (rows and content hash) first: a pack
    changed after import would silently change answers, so it is an error naming the benchmark."""
    pack = Path(pack)
    manifest = _read_manifest(pack)
    items = []
    for name, entry in manifest["benchmarks"].items():
        loaded = _read_items(pack, name, entry)
        problems = _check_items(name, entry, loaded)
        if problems:
            raise MedrlError(
                f"{pack}: benchmark {problems[0]}; {_FIX} (`medrl benchmarks verify --pack {pack}` lists every drift)"
            )
        items.extend(loaded)
    if not items:
        raise MedrlError(f"{pack}: the pack holds no benchmark items; add some with `medrl benchmarks import`")
    return BenchmarkPack(pack, manifest, items)


@dataclass
class Verification:
    """What `verify` found: `problems` are drift (non-zero exit); `notes` are checks it could not make."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked: int = 0


def verify_pack(pack: str | Path) -> Verification:
    """Recompute every benchmark's rows and content hash, its source files' hashes, and compare the row counts with
    the manifest and with the registry's official counts."""
    pack = Path(pack)
    result = Verification()
    try:
        manifest = _read_manifest(pack)
    except MedrlError as error:
        result.problems.append(str(error))
        return result
    for name, entry in manifest["benchmarks"].items():
        result.checked += 1
        try:
            items = _read_items(pack, name, entry)
        except MedrlError as error:
            result.problems.append(f"{name}: cannot read the pack file ({error})")
            continue
        result.problems.extend(_check_items(name, entry, items))
        spec = REGISTRY.get(name)
        if spec is not None and entry["origin"] != "user" and entry["splits"]:
            expected = (
                spec.split(entry["splits"][0]).expected_rows
                if entry["splits"][0] in {p.name for p in spec.splits}
                else None
            )
            if expected is not None and entry["rows"] != expected:
                qualifier = " (imported with --allow-partial)" if entry.get("partial") else ""
                result.problems.append(f"{name}: {entry['rows']} rows, the official count is {expected}{qualifier}")
        for source in entry["sources"]:
            if not isinstance(source, dict) or not isinstance(source.get("path"), str):
                continue
            path = Path(source["path"])
            if not path.exists():
                result.notes.append(f"{name}: source {path} is not on this machine; its hash was not re-checked")
            elif sha256_file(path) != source.get("sha256"):
                result.problems.append(f"{name}: source file {path} changed since import (sha256 differs)")
    return result
