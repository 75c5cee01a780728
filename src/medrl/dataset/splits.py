"""Train / validation / test splits that stay put across reruns and added sources, and never split a duplicate
cluster.

The split key of a row is its exact-duplicate key (`medrl.dataset.dedup.exact_key`: the normalised question and
the sorted normalised option texts), so it depends on the problem alone, not on file names, row order or ids. Each
duplicate cluster (rows linked by exact or near duplication, directly or through dropped rows) is placed by the
key of its earliest row: `position = first 8 bytes of sha256(key) / 2**64`, a number in [0, 1) that the same
problem always gets. With fractions, a cluster goes to `val` when position < val_fraction, else to `test` when
position < val_fraction + test_fraction, else to the train split: a rerun puts every row where it was, and rows
of an appended source never move earlier rows (unless a new row links two earlier clusters, which then share the
earlier one's side). With sizes, each split takes the not yet placed clusters of lowest position while they fit
(`val_size` rows at most): adding rows can then move a row out of a size-limited split, never into it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from medrl.dataset.dedup import exact_key
from medrl.dataset.sources import TrainingRecord
from medrl.detection.text import plain_words
from medrl.errors import MedrlError

VAL, TEST = "val", "test"  # held-out split names: file names (val.parquet), DatasetDict keys, card configs


@dataclass(frozen=True)
class HeldOut:
    """How many rows one held-out split gets: a fraction of the clusters, or at most `size` rows (not both)."""

    name: str
    fraction: float = 0.0
    size: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.fraction < 1:
            raise MedrlError(f"{self.name}_fraction must be in [0, 1), got {self.fraction}")
        if self.size < 0:
            raise MedrlError(f"{self.name}_size must be >= 0, got {self.size}")
        if self.fraction and self.size:
            raise MedrlError(f"give {self.name}_fraction or {self.name}_size, not both")

    @property
    def requested(self) -> bool:
        return bool(self.fraction or self.size)


def position(key: str) -> float:
    """The key's place in [0, 1): the first 8 bytes of its sha256."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_splits(
    kept: Sequence[TrainingRecord],
    clusters: Mapping[int, int],
    records: Mapping[int, TrainingRecord],
    train: str,
    held_out: Sequence[HeldOut],
) -> dict[str, list[TrainingRecord]]:
    """{split name: its kept rows in input order}: the train split, then each requested held-out split.

    `clusters` names each kept row's duplicate cluster by its earliest row_id; `records` holds every record by
    row_id (the earliest row of a cluster may have been dropped as a duplicate)."""
    members: dict[int, list[TrainingRecord]] = {}
    for record in kept:
        members.setdefault(clusters[record.row_id], []).append(record)
    # Placed by the plain normalisation, which later releases keep as it is: better disguise-proof matching must not
    # move a row across splits when a user rebuilds with a newer medrl.
    places = {root: position(exact_key(records[root], plain_words)) for root in members}
    side: dict[int, str] = {}
    start = 0.0
    for split in held_out:
        if split.fraction:
            side.update(
                {
                    root: split.name
                    for root, place in places.items()
                    if root not in side and place < start + split.fraction
                }
            )
            start += split.fraction
        elif split.size:
            taken = 0
            for root in sorted((root for root in places if root not in side), key=lambda root: (places[root], root)):
                if taken + len(members[root]) <= split.size:
                    side[root] = split.name
                    taken += len(members[root])
    result: dict[str, list[TrainingRecord]] = {train: []}
    result.update({split.name: [] for split in held_out if split.requested})
    for record in kept:
        result[side.get(clusters[record.row_id], train)].append(record)
    return result
