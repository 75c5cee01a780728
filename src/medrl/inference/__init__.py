"""Sampling a policy model through an OpenAI-compatible chat endpoint (vLLM, SGLang, llama.cpp's server, hosted
APIs), with an on-disk response cache so an interrupted run resumes and a rerun asks nothing.

* `client`: the HTTP client (bounded concurrency, timeouts, retries with backoff, `n` samples per request).
* `cache`: the crash-safe response cache (SQLite in WAL mode).
* `sampler`: K samples for each of many prompts, from the cache first, then from the endpoint.
"""

from medrl.inference.cache import ResponseCache
from medrl.inference.client import (
    ChatClient,
    Completion,
    EndpointConfig,
    SamplingParams,
    Usage,
    api_key_from_env,
    sampling_record,
)
from medrl.inference.sampler import sample_prompts

__all__ = [
    "ChatClient",
    "Completion",
    "EndpointConfig",
    "ResponseCache",
    "SamplingParams",
    "Usage",
    "api_key_from_env",
    "sample_prompts",
    "sampling_record",
]
