"""Engines map a pure per-batch function over batches and yield the results in input order.

Detection code never imports from here: the pipeline hands an engine a function and its inputs. `run_local` runs
in-process; `run_processes` spreads batches over worker processes on this machine (tokenising and n-gram counting
are Python-bound, so threads would serialise on the GIL); `run_ray` over Ray actors, locally or on a cluster.
Each worker is set up once by `initializer`; every engine yields results in input order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

from medrl.errors import MedrlError

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
        yield from _in_order(items, lambda _, value: pool.submit(function, value), Future.result, 2 * processes)


def _in_order(
    items: Iterable[tuple[Key, In]],
    submit: Callable[[int, In], object],
    resolve: Callable[[object], Out],
    in_flight: int,
) -> Iterator[tuple[Key, Out]]:
    """Submit inputs as they come, keep at most `in_flight` unresolved, and yield results in input order."""
    pending: deque = deque()
    for position, (key, value) in enumerate(items):
        pending.append((key, submit(position, value)))
        if len(pending) >= in_flight:
            done, handle = pending.popleft()
            yield done, resolve(handle)
    while pending:
        done, handle = pending.popleft()
        yield done, resolve(handle)


def run_ray(
    function: Callable[[In], Out],
    items: Iterable[tuple[Key, In]],
    processes: int,
    initializer: Callable[..., None],
    initargs: tuple,
    address: str | None = None,
) -> Iterator[tuple[Key, Out]]:
    """Ray engine: `processes` actors (on a cluster at `address`, else a local Ray), each set up once by
    `initializer`, batches dealt round-robin, at most 2 per actor in flight, results in input order.

    Needs `pip install 'medrl[ray]'`; on a cluster every node must see the pack path given to the initializer.
    """
    try:
        import ray
    except ImportError:
        raise MedrlError("the ray engine needs the ray extra: pip install 'medrl[ray]'") from None
    if not ray.is_initialized():
        ray.init(
            address=address,
            num_cpus=None if address else processes,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )

    @ray.remote
    class Worker:
        def __init__(self) -> None:
            initializer(*initargs)

        def run(self, value: In) -> Out:
            return function(value)

    workers = [Worker.remote() for _ in range(processes)]
    yield from _in_order(
        items, lambda position, value: workers[position % processes].run.remote(value), ray.get, 2 * processes
    )
