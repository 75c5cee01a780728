"""Engines map a pure per-batch function over batches and yield the results in input order.

Detection code never imports from here: the pipeline hands an engine a function and its inputs. `run_local` runs
in-process; `run_processes` spreads batches over worker processes on this machine (tokenising and n-gram counting
are Python-bound, so threads would serialise on the GIL); `run_ray` over Ray actors, locally or on a cluster.
Each worker is set up once by `initializer`; every engine yields results in input order.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from types import ModuleType
from typing import Any, TypeVar

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
    results in input order. On an error or interruption, queued batches are cancelled and the workers stopped at
    once instead of finishing work nobody will read."""
    pool = ProcessPoolExecutor(max_workers=processes, initializer=initializer, initargs=initargs)
    try:
        yield from _in_order(items, lambda _, value: pool.submit(function, value), Future.result, 2 * processes)
    except BaseException:
        # No public way to stop running workers. The pool's manager thread is joined (it sees its workers gone and
        # closes its pipes) so that nothing of the pool is left for interpreter exit, where CPython 3.11's
        # `_python_exit` would race that closing and print a traceback after a Ctrl-C.
        workers = list((getattr(pool, "_processes", None) or {}).values())
        manager = getattr(pool, "_executor_manager_thread", None)
        for worker in workers:
            worker.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        if manager is not None:
            manager.join(timeout=30)
        raise
    pool.shutdown(wait=True)


def _in_order(
    items: Iterable[tuple[Key, In]],
    submit: Callable[[int, In], Any],
    resolve: Callable[[Any], Out],
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
    """Ray engine: `processes` actors, each set up once by `initializer`, batches dealt round-robin, at most 2 per
    actor in flight, results in input order. Where they run is `_start_ray`'s choice; a Ray failure is a MedrlError.

    Needs `pip install 'medrl[ray]'`; on a cluster every node must see the pack path given to the initializer.
    """
    try:
        import ray
    except ImportError:
        raise MedrlError("the ray engine needs the ray extra: pip install 'medrl[ray]'") from None
    if not ray.is_initialized():
        _start_ray(ray, address, processes)

    @ray.remote
    class Worker:
        def __init__(self) -> None:
            # Kept for `run` to raise: a failed __init__ reaches the driver only as "the actor died", message lost.
            self.setup_error: Exception | None = None
            try:
                initializer(*initargs)
            except Exception as error:
                self.setup_error = error

        def run(self, value: In) -> Out:
            if self.setup_error is not None:
                raise self.setup_error
            return function(value)

    try:
        workers = [Worker.remote() for _ in range(processes)]  # type: ignore[attr-defined]  # made by ray.remote
        yield from _in_order(
            items, lambda position, value: workers[position % processes].run.remote(value), ray.get, 2 * processes
        )
    except ray.exceptions.RayTaskError as error:
        if isinstance(error.cause, MedrlError):  # the user's problem, seen by a worker: its own one-line message
            raise MedrlError(str(error.cause)) from None
        raise error.cause from error  # a bug: the worker's exception, as the other engines raise it
    except ray.exceptions.RayError as error:
        raise MedrlError(
            f"the Ray engine failed while running batches ({_first_line(error)}); see the Ray logs "
            "(session_latest/logs under Ray's temp dir, /tmp/ray by default), or run with --engine local"
        ) from None


def _start_ray(ray: ModuleType, address: str | None, processes: int) -> None:
    """Connect to the cluster the user names, else start a private local Ray with `processes` CPUs.

    Ray's own `ray.init()` attaches to whatever cluster `ray start` last recorded on this machine (even one that has
    since crashed), which makes a run depend on machine state, and then refuses num_cpus. So without `address` or
    RAY_ADDRESS this asks for "local", which never reads that record; "auto" or an address attaches, as in Ray.
    """
    if address:
        target, init_address = address, address
    elif os.environ.get("RAY_ADDRESS"):
        target, init_address = os.environ["RAY_ADDRESS"], None  # ray.init reads RAY_ADDRESS when address is None
    else:
        target, init_address = "local", "local"
    try:
        ray.init(
            address=init_address,
            num_cpus=processes if target == "local" else None,  # only a new cluster takes a size
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as error:
        reason = _first_line(error)
        if target == "local":
            message = f"cannot start a local Ray ({reason}); check that `ray start --head` works on this machine"
        elif address:
            message = (
                f"cannot connect to the Ray cluster at {address} ({reason}); start one with `ray start --head`, "
                "or leave out --ray-address to run a private local Ray"
            )
        else:
            message = (
                f"cannot connect to the Ray cluster at {target} named by RAY_ADDRESS ({reason}); start one with "
                "`ray start --head`, or unset RAY_ADDRESS to run a private local Ray"
            )
        raise MedrlError(message) from None


def _first_line(error: BaseException) -> str:
    """Ray's messages run over many lines (tracebacks, hints); a MedrlError is one."""
    return next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
