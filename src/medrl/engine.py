"""Engines map a pure per-batch function over batches, in order. Detection code never imports from here."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


def run_local(function: Callable[[In], Out], batches: Iterable[In]) -> Iterator[tuple[In, Out]]:
    """In-process engine: each batch with its result, lazily, so memory stays one batch deep."""
    for batch in batches:
        yield batch, function(batch)
