"""Any OpenAI-compatible chat server (vLLM, SGLang, ...): how real VLMs such as MemOCR-7B are served.

Images go out as base64 PNG data URLs at exactly the fitted size, and every request carries
`mm_processor_kwargs` with min/max pixels from `memocr.budget.processor_kwargs`, so the server's
processor does not resize them (vLLM ignores top-level `min_pixels`/`max_pixels`). The visual-token
budget therefore holds on the server as we computed it.

Context length: from the `context_length` option, else from the server's `GET /v1/models` (vLLM
reports `max_model_len` per model). A request that does not fit is the server's to refuse: vLLM counts
the prompt exactly (chat template and image tokens included) and answers 400 before generating, which
becomes a `ContextLengthError` naming the numbers. The prompt is not counted here first: that would
cost a tokenizer round trip on every request and could only approximate the server's own count.

Token log-probabilities (`SamplingParams.logprobs`, for training) are asked for with `logprobs: true`
and vLLM's `return_token_ids` / `return_tokens_as_token_ids`. The completion's ids and log-probs are
required (a reply without them is a `ModelError`); the prompt's ids come from vLLM's
`prompt_token_ids` and stay None on a server that does not send them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import io
import os
import re
import ssl
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx
from PIL import Image

from memocr.budget import processor_kwargs
from memocr.errors import ContextLengthError, ModelError, ModelUnavailableError
from memocr.models.base import (
    ChatModel,
    Completion,
    Message,
    SamplingParams,
    Tokenizer,
    Usage,
    content_parts,
    context_overflow,
    logprobs_unavailable,
    message_images,
)

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
# Failures to connect, or connections the server dropped: another attempt may well succeed. A read
# timeout is not among them: the server got the request and was too slow, and would be as slow again.
RETRY_ERRORS = (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ConnectTimeout)
UNREACHABLE_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout)
MAX_BACKOFF_SECONDS = 30.0
# GET /v1/models is metadata, asked outside any request; an unreachable host must not stall for long.
METADATA_TIMEOUT_SECONDS = 10.0
# vLLM's wordings: "This model's maximum context length is 4096 tokens ... your request has 5000 input
# tokens", "... (4000 in the messages, 1000 in the completion)", "The decoder prompt (length 5000) is
# longer than the maximum model length of 4096".
CONTEXT_ERROR = re.compile(r"context length|maximum model length", re.IGNORECASE)
SERVER_CONTEXT = re.compile(r"maximum (?:context|model) length (?:is|of) (\d+)")
SERVER_PROMPT = re.compile(r"(\d+) input tokens|\((\d+) in the messages|prompt \(length (\d+)\)")


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every client: building one costs milliseconds of CPU, and a client is
    opened per burst of requests (see `OpenAICompat._session`)."""
    return httpx.create_ssl_context()


def png_data_url(image: Image.Image) -> str:
    """`image` as a lossless PNG data URL, same pixel size (fast compression: it is decoded at once)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def to_openai_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Our messages in the OpenAI wire format (image parts become `image_url` parts)."""
    wire = []
    for message in messages:
        if isinstance(message["content"], str):
            wire.append({"role": message["role"], "content": message["content"]})
            continue
        parts = []
        for part in content_parts(message):
            if part["type"] == "image":
                parts.append({"type": "image_url", "image_url": {"url": png_data_url(part["image"])}})
            else:
                parts.append({"type": "text", "text": part["text"]})
        wire.append({"role": message["role"], "content": parts})
    return wire


def server_root(base_url: str) -> str:
    """The server's root URL (vLLM serves /tokenize there, beside /v1)."""
    root = base_url.rstrip("/")
    return root.removesuffix("/v1")


def split_credentials(url: str) -> tuple[str, httpx.BasicAuth | None]:
    """`url` without its userinfo (`user:password@`), and that userinfo as HTTP basic auth."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    clean = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return clean, httpx.BasicAuth(unquote(parts.username), unquote(parts.password or ""))


class ServerTokenizer:
    """vLLM's `/tokenize` and `/detokenize`: the served model's own tokenizer, nothing to install."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        headers: dict[str, str],
        auth: httpx.BasicAuth | None,
        timeout: float,
    ):
        self._root = server_root(base_url)
        self._model = model
        self._client = httpx.Client(
            base_url=self._root, headers=headers, auth=auth, timeout=timeout, verify=_tls()
        )

    def encode(self, text: str) -> list[int]:
        body = {"model": self._model, "prompt": text, "add_special_tokens": False}
        return self._post("/tokenize", body)["tokens"]

    def decode(self, ids: list[int]) -> str:
        return self._post("/detokenize", {"model": self._model, "tokens": list(ids)})["prompt"]

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._client.post(path, json=body)
        except httpx.TransportError as err:
            raise ModelUnavailableError(f"cannot reach {self._root}{path}: {err}") from err
        if response.status_code == 404:
            raise ModelError(
                f"{self._root} has no {path} endpoint (vLLM has one); give the model a local tokenizer, "
                "e.g. load_model('openai://...?model=...&tokenizer=hf:///path/to/model')"
            )
        if response.is_error:
            raise ModelError(f"{self._root}{path} answered {response.status_code}: {response.text[:300]}")
        return response.json()

    def close(self) -> None:
        self._client.close()


@dataclass
class _LoopSession:
    """The HTTP client and concurrency limit of one event loop, and how many requests use them."""

    client: httpx.AsyncClient
    slots: asyncio.Semaphore
    users: int = 0


class OpenAICompat(ChatModel):
    """A model behind an OpenAI-compatible `/v1/chat/completions` endpoint.

    At most `max_concurrency` requests run at once. Connection failures, 429 and 5xx are retried with
    exponential backoff (at most `max_retries` times, not holding a concurrency slot while waiting); a
    request the server does not answer within `timeout` seconds is an error at once. Credentials: a
    `user:password@` in `base_url` is sent as HTTP basic auth; otherwise `api_key`, else the standard
    `OPENAI_API_KEY` environment variable, is sent as a bearer token.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        tokenizer: str | Tokenizer | None = None,
        timeout: float = 600.0,
        max_retries: int = 4,
        backoff: float = 0.25,
        max_concurrency: int = 32,
        context_length: int = 0,
        api_key: str = "",
    ):
        """`tokenizer`: None uses the server's /tokenize (vLLM); a spec `hf:///path` loads a local one.
        `context_length`: tokens per request (prompt and completion); 0 asks the server."""
        self.base_url, self._auth = split_credentials(base_url.rstrip("/"))
        self.model = model
        self.name = model
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_concurrency = max_concurrency
        api_key = api_key or os.environ.get("OPENAI_API_KEY", "")
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._tokenizer_option = tokenizer
        self._tokenizer: Tokenizer | None = None
        self._tokenizer_lock = threading.Lock()
        self._context_length: int | None = context_length or None
        self._asked_server = bool(context_length)
        # httpx connections and asyncio semaphores belong to one event loop (see `_session`).
        self._sessions: dict[asyncio.AbstractEventLoop, _LoopSession] = {}

    @property
    def tokenizer(self) -> Tokenizer:
        with self._tokenizer_lock:  # questions plan in threads at once: build it only once
            return self._build_tokenizer()

    def _build_tokenizer(self) -> Tokenizer:
        if self._tokenizer is None:
            option = self._tokenizer_option
            if option is None:
                self._tokenizer = ServerTokenizer(
                    self.base_url, self.model, headers=self._headers, auth=self._auth, timeout=self.timeout
                )
            elif isinstance(option, str):
                from memocr.models.hf import HfTokenizer
                from memocr.models.spec import local_path

                self._tokenizer = HfTokenizer.from_path(local_path(option, scheme="hf"))
            else:
                self._tokenizer = option
        return self._tokenizer

    @property
    def context_length(self) -> int | None:
        """The `context_length` option, else the `max_model_len` the server reports for this model in
        `GET /v1/models` (asked once; None if it reports none, or cannot be reached this time)."""
        if not self._asked_server:
            try:
                response = httpx.get(
                    f"{self.base_url}/models",
                    verify=_tls(),
                    headers=self._headers,
                    auth=self._auth,
                    timeout=METADATA_TIMEOUT_SECONDS,
                )
            except httpx.TransportError:
                return None
            self._asked_server = True
            self._context_length = _served_context_length(response, self.model)
        return self._context_length

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[_LoopSession]:
        """The running loop's client and concurrency slots. A loop can end (e.g. `asyncio.run`) without
        telling us, and a client left open holds sockets of a dead loop; so the client is closed as soon
        as no request of its loop is in flight, and the next request opens a fresh one."""
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None:
            client = httpx.AsyncClient(
                base_url=self.base_url + "/",
                headers=self._headers,
                auth=self._auth,
                timeout=self.timeout,
                limits=httpx.Limits(max_connections=self.max_concurrency),
                verify=_tls(),
            )
            session = self._sessions[loop] = _LoopSession(client, asyncio.Semaphore(self.max_concurrency))
        session.users += 1
        try:
            yield session
        finally:
            session.users -= 1
            if session.users == 0:
                del self._sessions[loop]
                await session.client.aclose()

    async def chat(self, messages: list[Message], sampling: SamplingParams) -> Completion:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai_messages(messages),
            "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
        }
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        if sampling.logprobs:
            # vLLM's names: `return_token_ids` (vLLM >= 0.10.2) adds `prompt_token_ids` and
            # `choices[0].token_ids`; `return_tokens_as_token_ids` writes each logprob token as
            # "token_id:<id>", which gives the completion's ids on servers without the former.
            body.update(logprobs=True, return_token_ids=True, return_tokens_as_token_ids=True)
        images = message_images(messages)
        if images:
            body["mm_processor_kwargs"] = processor_kwargs(images)
        started = time.perf_counter()
        response = await self._post_with_retries("chat/completions", body)
        seconds = time.perf_counter() - started
        try:
            choice = response["choices"][0]
            usage = response.get("usage") or {}
        except (KeyError, IndexError, TypeError) as err:
            raise ModelError(f"{self.base_url} sent a reply without choices: {str(response)[:300]}") from err
        details = usage.get("prompt_tokens_details") or {}
        completion = Completion(
            text=choice["message"].get("content") or "",
            usage=Usage(
                prompt_tokens=usage.get("prompt_tokens", 0),
                completion_tokens=usage.get("completion_tokens", 0),
                image_tokens=details.get("image_tokens"),
            ),
            seconds=seconds,
        )
        if sampling.logprobs:
            completion.completion_ids, completion.logprobs = self._token_logprobs(choice)
            completion.prompt_ids = response.get("prompt_token_ids")
        return completion

    def _token_logprobs(self, choice: dict[str, Any]) -> tuple[list[int], list[float]]:
        """The completion's token ids and their log-probs from a choice (vLLM's fields, see `chat`).

        vLLM reports the log-probs of its `--logprobs-mode`, by default `raw_logprobs`: the model's
        own log-softmax before temperature and top-p, as the transformers backend does."""
        url = f"{self.base_url}/chat/completions"
        content = (choice.get("logprobs") or {}).get("content")
        if not isinstance(content, list):
            raise logprobs_unavailable(
                self.name,
                f"from {url}: its reply has no choices[0].logprobs.content (vLLM sends it for logprobs: "
                "true; this server may not support log-probabilities)",
            )
        try:
            logprobs = [float(entry["logprob"]) for entry in content]
            ids = choice.get("token_ids")
            if ids is None:
                tokens = [str(entry.get("token", "")) for entry in content]
                if not all(token.startswith("token_id:") for token in tokens):
                    raise logprobs_unavailable(
                        self.name,
                        f"with token ids from {url}: its reply has neither choices[0].token_ids (vLLM >= "
                        "0.10.2, return_token_ids) nor 'token_id:<id>' logprob tokens "
                        "(return_tokens_as_token_ids)",
                    )
                ids = [int(token.removeprefix("token_id:")) for token in tokens]
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ModelError(f"{self.name}: {url} sent malformed log-probs: {str(content)[:300]}") from err
        if len(ids) != len(logprobs):
            raise ModelError(
                f"{self.name}: {url} sent {len(ids)} completion token ids but {len(logprobs)} log-probs"
            )
        return ids, logprobs

    async def _post_with_retries(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.base_url}/{path}"
        attempts = self.max_retries + 1
        async with self._session() as session:
            for attempt in range(attempts):
                last = attempt == attempts - 1
                try:
                    async with session.slots:
                        response = await session.client.post(path, json=body)
                except RETRY_ERRORS as err:
                    if last:
                        raise self._connection_failed(url, attempts, err) from err
                except httpx.TimeoutException as err:
                    raise ModelError(
                        f"{url} sent no answer within the timeout of {self.timeout:g} s "
                        f"({type(err).__name__}; not retried, it would be as slow again): lower max_tokens "
                        "or the load on the server, or raise the model's timeout option"
                    ) from err
                except httpx.TransportError as err:
                    raise ModelError(f"request to {url} failed: {type(err).__name__}: {err}") from err
                else:
                    if not response.is_error:
                        return _json(response, url)
                    if response.is_client_error and CONTEXT_ERROR.search(response.text):
                        raise self._context_error(response.text, body["max_tokens"])
                    if last or response.status_code not in RETRY_STATUS:
                        raise ModelError(
                            f"{url} answered {response.status_code} "
                            f"(attempt {attempt + 1} of {attempts}): {response.text[:500]}"
                        )
                await asyncio.sleep(min(self.backoff * 2**attempt, MAX_BACKOFF_SECONDS))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _connection_failed(self, url: str, attempts: int, err: httpx.TransportError) -> ModelError:
        if isinstance(err, UNREACHABLE_ERRORS):
            return ModelUnavailableError(
                f"cannot reach the model server at {url} ({err or type(err).__name__}) after "
                f"{attempts} attempts: start it (e.g. `vllm serve <model>`) or check the spec's host and port"
            )
        return ModelError(f"the connection to {url} failed {attempts} times ({type(err).__name__}: {err})")

    def _context_error(self, server_message: str, max_tokens: int) -> ContextLengthError:
        """The server's refusal of a request too long for its context, with the numbers it gave."""
        context = SERVER_CONTEXT.search(server_message)
        prompt = SERVER_PROMPT.search(server_message)
        return context_overflow(
            self.name,
            prompt_tokens=int(next(g for g in prompt.groups() if g)) if prompt else None,
            max_tokens=max_tokens,
            context_length=int(context.group(1)) if context else self._context_length,
            detail=f" (the server said: {server_message[:300]})",
        )

    async def aclose(self) -> None:
        if self._tokenizer is not None and hasattr(self._tokenizer, "close"):
            self._tokenizer.close()


def _json(response: httpx.Response, url: str) -> dict[str, Any]:
    try:
        return response.json()
    except ValueError as err:
        raise ModelError(
            f"{url} answered {response.status_code} with a body that is not JSON: {response.text[:300]!r}"
        ) from err


def _served_context_length(response: httpx.Response, model: str) -> int | None:
    """`max_model_len` of `model` in a `GET /v1/models` answer, if the server gives one."""
    if response.is_error:
        return None
    try:
        entries = response.json()["data"]
    except (ValueError, KeyError, TypeError):
        return None
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("id") == model:
            length = entry.get("max_model_len")
            return length if isinstance(length, int) and length > 0 else None
    return None
