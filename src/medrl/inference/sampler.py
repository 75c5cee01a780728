"""K samples for each of many prompts: the cache first, then the endpoint for what is missing.

A prompt's samples 0..K-1 are asked for in blocks: a request for samples a..b carries `n = b - a + 1` and
`seed = seed + a`. A server that returns fewer choices than `n` (llama.cpp's server ignores `n`) keeps the first
choice as sample a and is asked one sample per request from then on (sample i with `seed + i`), so sample i means the
same request whichever way it was asked. Every response is stored in the cache as it arrives: after a fault or a
kill, a rerun asks only for the samples still missing, and a complete rerun sends no request at all (it does not
even connect).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from medrl.inference.cache import ResponseCache, sample_key
from medrl.inference.client import ChatClient, Completion, EndpointConfig, SamplingParams, Usage


def sample_prompts(
    prompts: list[list[dict]],
    samples: int,
    endpoint: EndpointConfig,
    params: SamplingParams,
    cache: ResponseCache,
    advance: Callable[[int], object] = lambda rows: None,
) -> tuple[list[list[Completion]], Usage]:
    """`samples` completions of every prompt (a list of chat messages), in sample order, and what was asked of the
    endpoint. `advance` is called with 1 as each prompt's samples are all in."""
    started = time.perf_counter()
    usage = Usage()
    keys = [[sample_key(endpoint.model, messages, params, index) for index in range(samples)] for messages in prompts]
    cached = cache.get([key for row in keys for key in row])
    results: list[list[Completion | None]] = [[cached.get(key) for key in row] for row in keys]
    usage.samples_cached = len(cached)
    missing = [row for row, found in enumerate(results) if None in found]
    advance(len(prompts) - len(missing))
    if missing:
        asyncio.run(_fetch(prompts, keys, results, missing, endpoint, params, cache, usage, advance))
    usage.seconds["total"] = time.perf_counter() - started
    return [[completion for completion in row if completion is not None] for row in results], usage


async def _fetch(
    prompts: list[list[dict]],
    keys: list[list[str]],
    results: list[list[Completion | None]],
    missing: list[int],
    endpoint: EndpointConfig,
    params: SamplingParams,
    cache: ResponseCache,
    usage: Usage,
    advance: Callable[[int], object],
) -> None:
    """Fill the missing samples of the `missing` rows, `endpoint.concurrency` rows at a time."""
    async with ChatClient(endpoint, usage) as client:

        async def fill(row: int) -> None:
            found = results[row]
            while None in found:
                first = found.index(None)
                block = 1
                if usage.n_per_request is not False:
                    while first + block < len(found) and found[first + block] is None:
                        block += 1
                choices = await client.complete(prompts[row], params, block, params.seed + first)
                if block > 1 and len(choices) < block:
                    usage.n_per_request = False
                elif block > 1 and usage.n_per_request is None:
                    usage.n_per_request = True
                taken = choices[:block]
                usage.samples_requested += len(taken)
                cache.put((keys[row][first + offset], completion) for offset, completion in enumerate(taken))
                found[first : first + len(taken)] = taken
            advance(1)

        queue = iter(missing)

        async def worker() -> None:
            for row in queue:  # one iterator shared by the workers: each takes the next row
                await fill(row)

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(endpoint.concurrency, len(missing))):
                    group.create_task(worker())
        except ExceptionGroup as failures:
            raise _first(failures) from None


def _first(group: BaseExceptionGroup) -> BaseException:
    """The first failure inside (possibly nested) exception groups, raised alone so the CLI reports one line."""
    first = group.exceptions[0]
    return _first(first) if isinstance(first, BaseExceptionGroup) else first
