"""Benchmark packs: normalised benchmark items on disk, one Parquet file per benchmark plus a manifest.

The manifest records, per benchmark, the split, row count, the sha256 of every source file and of the normalised
content, so a report can say exactly what a training set was checked against. It holds no timestamps: importing
the same files twice gives a byte-identical manifest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from medrl import __version__
from medrl.benchmarks import BenchmarkItem, load_benchmark_dir
from medrl.errors import MedrlError
from medrl.writers import write_json_atomic, write_parquet_atomic

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


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _item_row(item: BenchmarkItem) -> dict:
    return {
        "benchmark": item.benchmark,
        "split": item.split,
        "item_id": item.item_id,
        "question": item.question,
        "options": [{"letter": letter, "text": text} for letter, text in item.options],
        "answer": item.answer,
        "context": item.context,
    }


def content_sha256(items: list[BenchmarkItem]) -> str:
    """A hash of the normalised items, independent of file encoding and layout."""
    digest = hashlib.sha256()
    for item in items:
        digest.update(json.dumps(_item_row(item), ensure_ascii=False, sort_keys=True).encode("utf-8"))
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
    sources: tuple[tuple[str, str], ...]  # (file name, sha256)

    def to_dict(self) -> dict:
        return {
            "splits": list(self.splits),
            "rows": self.rows,
            "expected_rows": self.expected_rows,
            "content_sha256": self.content_sha256,
            "file": f"{self.name}.parquet",
            "sources": [{"file": name, "sha256": digest} for name, digest in self.sources],
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


def _read_manifest(pack: Path) -> dict:
    path = pack / MANIFEST
    if not path.exists():
        raise MedrlError(f"{pack}: not a benchmark pack (no {MANIFEST}); create one with `medrl benchmarks import`")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise MedrlError(f"{path}: corrupt manifest ({error}); re-run `medrl benchmarks import`") from None


def import_benchmarks(source: str | Path, pack: str | Path, allow_partial: bool = False) -> list[BenchmarkEntry]:
    """Normalise every `<benchmark>/` directory under `source` into `pack`, merging with benchmarks already there.

    A known benchmark whose row count differs from its official count is an error unless `allow_partial`
    (a sample or an edited copy would silently weaken every later contamination check).
    """
    source, pack = Path(source), Path(pack)
    if not source.is_dir():
        raise MedrlError(f"{source}: not a directory; expected <benchmark>/<split files> directories inside")
    directories = sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not directories:
        raise MedrlError(f"{source}: no benchmark directories inside; lay files out as <benchmark>/<split>.<ext>")
    pack.mkdir(parents=True, exist_ok=True)
    manifest = _read_manifest(pack) if (pack / MANIFEST).exists() else {"benchmarks": {}}
    entries = []
    for directory in directories:
        specs, loaded = load_benchmark_dir(directory)
        items = [item for split_items in loaded for item in split_items]
        expected = specs[0].expected_rows
        if expected is not None and len(items) != expected and not allow_partial:
            raise MedrlError(
                f"{directory}: {len(items)} rows but the official {directory.name} split has {expected}; "
                "use the complete file, or pass --allow-partial for a deliberate sample"
            )
        files = sorted({name for spec in specs for name in spec.files})
        entry = BenchmarkEntry(
            name=directory.name,
            splits=tuple(dict.fromkeys(spec.split for spec in specs)),
            rows=len(items),
            expected_rows=expected,
            content_sha256=content_sha256(items),
            sources=tuple((name, sha256_file(directory / name)) for name in files),
        )
        table = pa.Table.from_pylist([_item_row(item) for item in items], schema=ITEM_SCHEMA)
        write_parquet_atomic(table, pack / f"{entry.name}.parquet")
        manifest["benchmarks"][entry.name] = entry.to_dict()
        entries.append(entry)
    manifest["benchmarks"] = dict(sorted(manifest["benchmarks"].items()))
    manifest.update(format="medrl-pack", format_version=PACK_FORMAT_VERSION, medrl_version=__version__)
    write_json_atomic(pack / MANIFEST, {key: manifest[key] for key in sorted(manifest)})
    return entries


def load_pack(pack: str | Path) -> BenchmarkPack:
    pack = Path(pack)
    manifest = _read_manifest(pack)
    items: list[BenchmarkItem] = []
    for name, entry in manifest["benchmarks"].items():
        path = pack / entry["file"]
        if not path.exists():
            raise MedrlError(f"{path}: listed in the manifest but missing; re-run `medrl benchmarks import`")
        for row in pq.read_table(path).to_pylist():
            items.append(
                BenchmarkItem(
                    benchmark=name,
                    split=row["split"],
                    item_id=row["item_id"],
                    question=row["question"],
                    options=tuple((option["letter"], option["text"]) for option in row["options"]),
                    answer=row["answer"],
                    context=row["context"],
                )
            )
    if not items:
        raise MedrlError(f"{pack}: the pack holds no benchmark items")
    return BenchmarkPack(pack, manifest, items)
