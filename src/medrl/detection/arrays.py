"""Index parts as plain numpy arrays: what the on-disk index cache holds, so loading it can never execute code.

Each stage index turns itself into a flat `{name: array}` dict and back. Strings, lists of strings and lists of
integer lists are stored as a value array plus offsets (CSR). `ArrayReader` checks every array it hands out (dtype,
shape, offsets increasing and in bounds), so a damaged or crafted cache is detected (`CacheInvalid`) instead of
giving wrong answers or crashing.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import numpy as np


class CacheInvalid(Exception):
    """A cache file whose arrays do not form a valid index; the caller rebuilds the index."""


Arrays = dict[str, np.ndarray]


def encode_strings(prefix: str, strings: Sequence[str]) -> Arrays:
    """Strings as one UTF-8 blob plus character offsets (lone surrogates pass through unchanged)."""
    lengths = np.fromiter((len(s) for s in strings), dtype=np.int64, count=len(strings))
    blob = "".join(strings).encode("utf-8", "surrogatepass")
    return {
        f"{prefix}.blob": np.frombuffer(blob, dtype=np.uint8),
        f"{prefix}.offsets": _offsets(lengths),
    }


def encode_lists(prefix: str, lists: Iterable[Sequence[int]], dtype: type = np.int64) -> Arrays:
    """Integer lists as one value array plus offsets."""
    every = list(lists)
    lengths = np.fromiter((len(entry) for entry in every), dtype=np.int64, count=len(every))
    values: np.ndarray = np.fromiter((v for entry in every for v in entry), dtype=dtype, count=int(lengths.sum()))
    return {f"{prefix}.values": values, f"{prefix}.offsets": _offsets(lengths)}


def encode_string_sets(prefix: str, sets: Sequence[frozenset[str]]) -> Arrays:
    """Sets of strings (sorted, so the bytes are deterministic) as flat strings plus offsets per set."""
    flat = [value for values in sets for value in sorted(values)]
    lengths = np.fromiter((len(values) for values in sets), dtype=np.int64, count=len(sets))
    return {**encode_strings(f"{prefix}.strings", flat), f"{prefix}.offsets": _offsets(lengths)}


def _offsets(lengths: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


class ArrayReader:
    """Validated access to a loaded `{name: array}` dict."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays

    def array(self, name: str, kind: str, length: int | None = None, ndim: int = 1) -> np.ndarray:
        """The named array; `kind` is a numpy dtype kind ("i", "u", "b", "f")."""
        value = self.arrays.get(name)
        if value is None:
            raise CacheInvalid(f"missing array {name}")
        if value.dtype.kind != kind or value.ndim != ndim or (length is not None and len(value) != length):
            raise CacheInvalid(f"array {name} has dtype {value.dtype} and shape {value.shape}")
        return value

    def offsets(self, name: str, total: int, count: int | None = None) -> np.ndarray:
        """Offsets that start at 0, never decrease and end at `total`."""
        offsets = self.array(name, "i", None if count is None else count + 1)
        if len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != total or np.any(np.diff(offsets) < 0):
            raise CacheInvalid(f"array {name} does not hold valid offsets")
        return offsets

    def indices(self, name: str, bound: int, kind: str = "i") -> np.ndarray:
        """An index array whose values all lie in [0, bound)."""
        values = self.array(name, kind)
        if len(values) and (values.min() < 0 or values.max() >= bound):
            raise CacheInvalid(f"array {name} indexes outside [0, {bound})")
        return values

    def strings(self, prefix: str, count: int | None = None) -> list[str]:
        blob = self.array(f"{prefix}.blob", "u")
        try:
            text = blob.tobytes().decode("utf-8", "surrogatepass")
        except UnicodeDecodeError as error:
            raise CacheInvalid(f"array {prefix}.blob is not UTF-8 ({error})") from None
        offsets = self.offsets(f"{prefix}.offsets", len(text), count).tolist()
        return [text[start:end] for start, end in itertools.pairwise(offsets)]

    def lists(self, prefix: str, bound: int, count: int | None = None) -> tuple[tuple[int, ...], ...]:
        values = self.indices(f"{prefix}.values", bound)
        offsets = self.offsets(f"{prefix}.offsets", len(values), count).tolist()
        flat = values.tolist()
        return tuple(tuple(flat[start:end]) for start, end in itertools.pairwise(offsets))

    def string_sets(self, prefix: str, count: int) -> tuple[frozenset[str], ...]:
        flat = self.strings(f"{prefix}.strings")
        offsets = self.offsets(f"{prefix}.offsets", len(flat), count).tolist()
        return tuple(frozenset(flat[start:end]) for start, end in itertools.pairwise(offsets))
