"""Index a benchmark pack once per run for the enabled stages, and cache the index in the pack as plain arrays.

Identical benchmark question texts (MedQA 4- and 5-option share theirs) are indexed and scored once by the
text-based stages, then expanded back to every item that carries them, so evidence still names each item.

The cache (`<pack>/.index-cache/<key>.npz`) holds only numpy arrays, read with `allow_pickle=False`: nothing in it
can run code. Its key covers the pack's manifest, the enabled stages' settings and the indexing code; inside, a
header names the key and the pack content it indexes, and every array is checked against the pack on load. A
cache that fails any check is rebuilt (noted on stderr). The newest few entries are kept, older ones pruned.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medrl.benchmarks.loaders import BenchmarkItem
from medrl.benchmarks.pack import BenchmarkPack
from medrl.config import DecontaminationConfig
from medrl.detection.arrays import ArrayReader, CacheInvalid, encode_lists, encode_strings
from medrl.detection.stages import STAGES, StageIndex, TextTable
from medrl.detection.stages.base import Stage, StageSettings

CACHE_DIR = ".index-cache"
CACHE_FORMAT = 1
KEEP_CACHE_ENTRIES = 4  # per pack: a few presets' indexes; older entries are deleted when a new one is written
_STALE_TEMP_SECONDS = 3600  # a temporary cache file this old belongs to a run that died


@dataclass(frozen=True)
class PackIndex:
    """The pack's items, its unique question texts, and each enabled stage's part of the index (by stage name)."""

    items: tuple[BenchmarkItem, ...]
    table: TextTable
    stages: dict[str, StageIndex]

    def hit_items(self, method: str) -> tuple[tuple[int, ...], ...]:
        """Per unit of a stage's index (a hit's `text_id`): the pack items carrying it."""
        return self.stages[method].unit_items

    def items_of(self, method: str, ids: np.ndarray | list[int]) -> np.ndarray:
        """Pack item indices carrying the given hit ids of a stage."""
        table = self.hit_items(method)
        return np.fromiter((item for i in np.asarray(ids).tolist() for item in table[i]), dtype=np.int64)


def text_table(items: Sequence[BenchmarkItem]) -> TextTable:
    text_ids: dict[str, int] = {}
    text_items: list[list[int]] = []
    for item_index, item in enumerate(items):
        text_id = text_ids.setdefault(item.question, len(text_ids))
        if text_id == len(text_items):
            text_items.append([])
        text_items[text_id].append(item_index)
    return TextTable(tuple(text_ids), tuple(tuple(ids) for ids in text_items))


def build_index(items: Sequence[BenchmarkItem], config: DecontaminationConfig) -> PackIndex:
    table = text_table(items)
    stages = {stage.name: stage.index(items, table, config.stages[stage.name]) for stage in config.enabled()}
    return PackIndex(tuple(items), table, stages)


# --- the cache ----------------------------------------------------------------------------------------------------


def cache_key(pack: BenchmarkPack, config: DecontaminationConfig) -> str:
    """Same pack content, same stage settings and same indexing code give the same key."""
    settings = {stage.name: _index_settings(stage, config.settings(stage.name)) for stage in STAGES}
    digest = hashlib.sha256(pack.manifest_sha256.encode())
    digest.update(repr(settings).encode())
    for source in sorted(Path(__file__).parent.rglob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:32]


def _index_settings(stage: Stage, settings: StageSettings | None) -> object:
    return None if settings is None else stage.index_settings(settings)


def _header(pack: BenchmarkPack, key: str) -> dict:
    content = {name: entry.get("content_sha256") for name, entry in sorted(pack.manifest["benchmarks"].items())}
    return {"format": CACHE_FORMAT, "key": key, "items": len(pack.items), "content_sha256": content}


def _to_arrays(index: PackIndex, header: dict) -> dict[str, np.ndarray]:
    arrays = {"header": np.frombuffer(json.dumps(header, sort_keys=True).encode(), dtype=np.uint8)}
    arrays |= {f"table/{name}": value for name, value in encode_strings("texts", index.table.texts).items()}
    arrays |= {f"table/{name}": value for name, value in encode_lists("text_items", index.table.text_items).items()}
    for name, part in index.stages.items():
        arrays |= {f"{name}/{key}": value for key, value in part.to_arrays().items()}
    return arrays


def _from_arrays(
    arrays: dict[str, np.ndarray], pack: BenchmarkPack, config: DecontaminationConfig, header: dict
) -> PackIndex:
    if arrays.get("header") is None or arrays["header"].dtype != np.uint8:
        raise CacheInvalid("no header")
    try:
        found = json.loads(arrays["header"].tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CacheInvalid("unreadable header") from None
    if found != header:
        raise CacheInvalid("it indexes other pack content or settings")
    items = tuple(pack.items)

    def part(prefix: str) -> ArrayReader:
        start = f"{prefix}/"
        return ArrayReader({name[len(start) :]: value for name, value in arrays.items() if name.startswith(start)})

    table_reader = part("table")
    texts = table_reader.strings("texts")
    table = TextTable(tuple(texts), table_reader.lists("text_items", len(items), len(texts)))
    if table != text_table(items):
        raise CacheInvalid("its question texts are not the pack's")
    stages = {
        stage.name: stage.load_index(part(stage.name), table, config.stages[stage.name], len(items))
        for stage in config.enabled()
    }
    return PackIndex(items, table, stages)


def _cache_path(pack: BenchmarkPack, key: str) -> Path:
    return pack.path / CACHE_DIR / f"{key}.npz"


def _note(message: str) -> None:
    print(f"medrl: note: {message}", file=sys.stderr)


def prepare_stages(config: DecontaminationConfig) -> None:
    """Give each enabled stage its chance to check what it needs from outside the pack (`Stage.prepare`: a model)
    before any index is built: a missing model or extra fails in a second, not after minutes of indexing."""
    for stage in config.enabled():
        stage.prepare(config.stages[stage.name])


def load_or_build_index(pack: BenchmarkPack, config: DecontaminationConfig) -> PackIndex:
    """The pack's index for these settings, from the pack's cache when present and valid, else built and cached.

    Building takes seconds (tokenising every benchmark question); loading a fraction of that. A pack on a
    read-only disk is simply indexed every run.
    """
    prepare_stages(config)
    key = cache_key(pack, config)
    path = _cache_path(pack, key)
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as stored:
                arrays = {name: stored[name] for name in stored.files}
            index = _from_arrays(arrays, pack, config, _header(pack, key))
            os.utime(path)  # most recently used: kept longest by pruning
            return index
        except (CacheInvalid, OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
            _note(f"index cache {path} is invalid ({error}); rebuilding it")
    return _build_and_cache(pack, config, key)


def ensure_index_cached(pack: BenchmarkPack, config: DecontaminationConfig) -> None:
    """Make sure a cache entry for these settings exists, without loading it: the parent of worker processes calls
    this so that its workers load the index instead of each building it (each worker still validates it)."""
    prepare_stages(config)
    key = cache_key(pack, config)
    path = _cache_path(pack, key)
    try:
        with np.load(path, allow_pickle=False) as stored:
            if json.loads(stored["header"].tobytes().decode()) == _header(pack, key):
                return
    except (OSError, ValueError, KeyError, EOFError, UnicodeDecodeError, zipfile.BadZipFile):
        pass
    _build_and_cache(pack, config, key)


def _build_and_cache(pack: BenchmarkPack, config: DecontaminationConfig, key: str) -> PackIndex:
    index = build_index(pack.items, config)
    path = _cache_path(pack, key)
    tmp = path.with_name(f".{key}.{os.getpid()}.tmp.npz")
    try:
        path.parent.mkdir(exist_ok=True)
        np.savez(tmp, **_to_arrays(index, _header(pack, key)))  # type: ignore[arg-type]  # numpy's stub: allow_pickle
        os.replace(tmp, path)
        prune_cache(path.parent, keep=path)
    except OSError:
        tmp.unlink(missing_ok=True)
    return index


def prune_cache(directory: Path, keep: Path) -> None:
    """Delete all but the `KEEP_CACHE_ENTRIES` most recently used entries (always keeping `keep`), caches of older
    formats, and temporary files of runs that died."""
    now = time.time()
    entries, doomed = [], []
    for path in directory.iterdir():
        try:
            modified = path.stat().st_mtime
        except OSError:
            continue
        if path.name.startswith("."):
            if now - modified > _STALE_TEMP_SECONDS:
                doomed.append(path)
        elif path.suffix != ".npz":
            doomed.append(path)  # e.g. the pickles of medrl <= 0.1, which are never loaded
        elif path != keep:
            entries.append((modified, path))
    doomed += [path for _, path in sorted(entries, reverse=True)[KEEP_CACHE_ENTRIES - 1 :]]
    for path in doomed:
        with contextlib.suppress(OSError):
            path.unlink()
