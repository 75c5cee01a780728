"""An OpenAI-compatible chat-completions client: bounded concurrency, timeouts, retries with backoff, `n` samples.

Why httpx and not the `openai` package: medrl needs the raw response (how many choices came back, to tell whether
the server honours `n`; `finish_reason`; `usage`) and its own retry policy (every attempt counted for the report,
`Retry-After` honoured, a failure turned into one line naming the setting to fix). The `openai` package is itself
built on httpx and would add pydantic models and a second retry layer in between; httpx alone gives async
connection pooling with per-phase timeouts and nothing to work around.

The API key is read from the environment only (`MEDRL_API_KEY`, else `OPENAI_API_KEY`) and sent as a bearer
token; it is never stored in settings, caches or reports.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

import httpx

from medrl.errors import MedrlError

API_KEY_VARIABLES = ("MEDRL_API_KEY", "OPENAI_API_KEY")
# Waits between attempts: `backoff` seconds doubled each attempt, with jitter, at most this long.
_MAX_WAIT = 30.0
_CONNECT_TIMEOUT = 10.0


def api_key_from_env() -> str | None:
    """The first of MEDRL_API_KEY and OPENAI_API_KEY that is set and not empty."""
    return next((os.environ[name] for name in API_KEY_VARIABLES if os.environ.get(name)), None)


@dataclass(frozen=True)
class EndpointConfig:
    """Where and how to ask. `url` is the API's base URL as OpenAI clients take it (`http://host:8000/v1`; a URL
    without a path gets `/v1`)."""

    url: str
    model: str
    concurrency: int = 8  # requests in flight at once
    timeout: float = 600.0  # seconds to wait for one response (a long generation on a busy server)
    max_attempts: int = 5  # per request, on 429, 5xx, unreadable responses and connection errors
    backoff: float = 0.5  # seconds before the first retry; doubles each time
    # The command's option prefix, for messages that name the option to fix: "pass-rate" (build's
    # --pass-rate-endpoint), "" (eval's --endpoint).
    flags: str = "pass-rate"

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise MedrlError(
                f"{self.label} {self.url!r} is not an http(s) URL; give the server's base URL, e.g. "
                f"{self.option('endpoint')} http://127.0.0.1:8000/v1"
            )
        if parts.username or parts.password:
            raise MedrlError(
                f"the {self.label} URL holds a user name or password: give the URL without them and the API "
                f"key in {' or '.join(API_KEY_VARIABLES)} (settings and reports are written to disk, the key never is)"
            )
        if not self.model.strip():
            raise MedrlError(f"the model name is empty; give {self.option('model')} NAME (what the server serves)")
        for name in ("concurrency", "max_attempts"):
            if getattr(self, name) < 1:
                raise MedrlError(f"{self.label} {name} must be >= 1, got {getattr(self, name)}")
        if not self.timeout > 0 or self.backoff < 0:
            raise MedrlError(f"{self.label} timeout must be > 0 and backoff >= 0, got {self.timeout}, {self.backoff}")

    @property
    def label(self) -> str:
        return f"{self.flags} endpoint".strip()

    def option(self, name: str) -> str:
        """The command-line option `name` of this use (`--pass-rate-model`, `--model`)."""
        return f"--{self.flags}-{name}" if self.flags else f"--{name}"

    def base_url(self) -> str:
        url = self.url.rstrip("/")
        return url + "/v1" if urlsplit(url).path in ("", "/") else url


@dataclass(frozen=True)
class SamplingParams:
    """The sampling settings sent with every request (and part of every cache key)."""

    temperature: float = 1.0
    max_tokens: int = 1024
    top_p: float = 1.0
    seed: int = 0  # request for samples i.. of a prompt carries seed + i

    def __post_init__(self) -> None:
        if not 0 <= self.temperature <= 2:
            raise MedrlError(f"temperature must be between 0 and 2, got {self.temperature}")
        if self.max_tokens < 1:
            raise MedrlError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if not 0 < self.top_p <= 1:
            raise MedrlError(f"top_p must be in (0, 1], got {self.top_p}")


def sampling_record(endpoint: EndpointConfig, samples: int, params: SamplingParams) -> dict:
    """What was asked of whom, as reports record it: the endpoint's URL (never the API key), the model, the samples
    per prompt and the sampling settings."""
    return {
        "endpoint": endpoint.base_url(),
        "model": endpoint.model,
        "samples": samples,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "max_tokens": params.max_tokens,
        "seed": params.seed,
    }


@dataclass(frozen=True)
class Completion:
    """One sampled completion; `finish_reason` is "length" when it was cut at max_tokens."""

    text: str
    finish_reason: str


@dataclass
class Usage:
    """What a run asked of the endpoint, for the build report: HTTP requests (retries included), samples taken
    from the cache, tokens the server reported."""

    requests: int = 0
    retries: int = 0
    samples_requested: int = 0
    samples_cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    n_per_request: bool | None = None  # whether the server honoured `n` (None: not asked)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The counts (the seconds are reported with the step that took them)."""
        return {name: value for name, value in asdict(self).items() if name != "seconds"}


class _Retry(Exception):
    """A failed attempt worth repeating: the reason for the final message, and the server's Retry-After."""

    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.wait = wait


def _server_message(response: httpx.Response) -> str:
    """The error message an OpenAI-compatible server put in its body, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip()
    if isinstance(body, dict):
        error = body.get("error", body.get("detail", body))
        message = error.get("message", error) if isinstance(error, dict) else error
        return str(message)[:200]
    return str(body)[:200]


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return min(float(response.headers["retry-after"]), _MAX_WAIT)
    except (KeyError, ValueError):
        return None


def _choices(body: object) -> list[Completion]:
    """The completions of a chat-completion response body; ValueError when it is not one."""
    if not isinstance(body, dict) or not isinstance(body.get("choices"), list) or not body["choices"]:
        raise ValueError("no choices")
    completions = []
    for choice in sorted(body["choices"], key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0):
        message = choice.get("message") if isinstance(choice, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if content is not None and not isinstance(content, str):
            raise ValueError("message content is not text")
        text = (content or "").encode("utf-8", "replace").decode()  # a lone surrogate the JSON escaped
        completions.append(Completion(text, str(choice.get("finish_reason") or "stop")))
    return completions


class ChatClient:
    """Chat requests to one endpoint and model; use as an async context manager (it owns the connection pool).
    At most `concurrency` requests are in flight; each failed attempt is retried per `EndpointConfig`."""

    def __init__(self, endpoint: EndpointConfig, usage: Usage | None = None) -> None:
        self.endpoint = endpoint
        self.usage = usage or Usage()
        self.where = endpoint.base_url()
        self._limit = asyncio.Semaphore(endpoint.concurrency)
        self._model_check: asyncio.Task[None] | None = None
        key = api_key_from_env()
        self._http = httpx.AsyncClient(
            base_url=endpoint.base_url(),
            headers={"Authorization": f"Bearer {key}"} if key else {},
            timeout=httpx.Timeout(endpoint.timeout, connect=_CONNECT_TIMEOUT),
            limits=httpx.Limits(max_connections=endpoint.concurrency, max_keepalive_connections=endpoint.concurrency),
        )

    async def __aenter__(self) -> ChatClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    async def check_model(self) -> None:
        """Refuse a model the endpoint does not list (`GET /models`), naming those it serves; an endpoint without
        the listing is taken at its word. Asked once: concurrent callers all wait for that one answer (a caller
        that went ahead while the first waited would send requests for a model the endpoint may not serve)."""
        if self._model_check is None:
            self._model_check = asyncio.ensure_future(self._check_model())
        await asyncio.shield(self._model_check)

    async def _check_model(self) -> None:
        try:
            response = await self._http.get("/models")
        except httpx.HTTPError as error:
            raise MedrlError(
                f"{self.endpoint.label} {self.where} is unreachable ({type(error).__name__}: {error}); is the server "
                f"running, and is {self.endpoint.option('endpoint')} its base URL (e.g. http://127.0.0.1:8000/v1)?"
            ) from None
        if response.status_code in (401, 403):
            self._refuse(response)
        try:
            served = [entry["id"] for entry in response.json()["data"]] if response.is_success else None
        except (ValueError, KeyError, TypeError):
            served = None
        if served is not None and self.endpoint.model not in served:
            raise MedrlError(
                f"{self.endpoint.label} {self.where} does not serve model {self.endpoint.model!r}; it serves "
                f"{', '.join(map(repr, served[:10])) or 'nothing'}: fix {self.endpoint.option('model')}"
            )

    async def complete(self, messages: list[dict], params: SamplingParams, n: int, seed: int) -> list[Completion]:
        """Up to `n` completions of `messages` (fewer when the server ignores `n`), sampled with `seed`."""
        body = {
            "model": self.endpoint.model,
            "messages": messages,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_tokens,
            "n": n,
            "seed": seed,
        }
        async with self._limit:
            await self.check_model()
            for attempt in range(1, self.endpoint.max_attempts + 1):
                self.usage.requests += 1
                try:
                    completions = await self._attempt(body)
                except _Retry as retry:
                    if attempt == self.endpoint.max_attempts:
                        raise MedrlError(
                            f"{self.endpoint.label} {self.where}: {retry} on {attempt} attempts; check that the server "
                            f"is up and serving {self.endpoint.model!r} (answers received so far are cached: rerun "
                            "to resume)"
                        ) from None
                    self.usage.retries += 1
                    wait = self.endpoint.backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)
                    await asyncio.sleep(min(retry.wait if retry.wait is not None else wait, _MAX_WAIT))
                    continue
                return completions
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _attempt(self, body: dict) -> list[Completion]:
        try:
            started = time.perf_counter()
            response = await self._http.post("/chat/completions", json=body)
            self.usage.seconds["http"] = self.usage.seconds.get("http", 0.0) + time.perf_counter() - started
        except httpx.TimeoutException:
            raise _Retry(f"no response within {self.endpoint.timeout:g} s") from None
        except httpx.TransportError as error:
            raise _Retry(f"connection failed ({type(error).__name__}: {error})") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retry(f"HTTP {response.status_code} ({_server_message(response)})", _retry_after(response))
        if not response.is_success:
            self._refuse(response)
        try:
            payload = json.loads(response.content)
            completions = _choices(payload)
        except (ValueError, AttributeError) as error:
            raise _Retry(f"a response that is not a chat completion ({error}: {response.text[:80]!r})") from None
        usage = payload.get("usage")
        if isinstance(usage, dict):
            self.usage.prompt_tokens += int(usage.get("prompt_tokens") or 0)
            self.usage.completion_tokens += int(usage.get("completion_tokens") or 0)
        return completions

    def _refuse(self, response: httpx.Response) -> None:
        """A 4xx other than 429: the request itself is wrong, so it is not repeated."""
        code, message = response.status_code, _server_message(response)
        if code in (401, 403):
            fix = f"set the API key in {' or '.join(API_KEY_VARIABLES)}"
        elif code == 404:
            fix = (
                f"check {self.endpoint.option('model')} {self.endpoint.model!r} and that "
                f"{self.endpoint.option('endpoint')} ends in /v1"
            )
        else:
            fix = f"check {self.endpoint.option('model')} and the sampling settings (--max-tokens, --temperature)"
        raise MedrlError(f"{self.endpoint.label} {self.where}: HTTP {code} ({message}); {fix}")
