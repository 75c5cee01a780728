"""Engines map a pure per-batch function over batches and yield the results in input order.

Detection code never imports from here: the pipeline hands an engine a function and its inputs. `run_local` runs
in-process; `run_processes` spreads batches over worker processes (tokenising and n-gram counting are
Python-bound, so threads would serialise on the GIL), each set up once by `initializer`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

Key = TypeVar("Key")
In = TypeVar("In")
Out = TypeVar("Out")


def run_local(function: Callable[[In], Out], items: Iterable[tuple[Key, In]]) -> Iterator[tuple[Key, Out]]:
    """In-process engine: each (key, input) gives (key, function(input)), lazily: memory stays one batch deep."""
    for key, value in items:
        yield key, function(value)


def run_processes(
    function: Callable[[In], Out],
    items: Iterable[tuple[Key, In]],
    processes: int,
    initializer: Callable[..., None],
    initargs: tuple,
) -> Iterator[tuple[Key, Out]]:
    """Process-pool engine: only inputs travel (keys stay here), at most 2 per process in flight (bounded memory),
    results in input order."""
    with ProcessPoolExecutor(max_workers=processes, initializer=initializer, initargs=initargs) as pool:
        pending: deque[tuple[Key, Future]] = deque()
        for key, value in items:
            pending.append((key, pool.submit(function, value)))
            if len(pending) >= 2 * processes:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
