"""Any OpenAI-compatible chat server (vLLM, SGLang, ...): how real VLMs such as MemOCR-7B are served.

Images go out as base64 PNG data URLs at exactly the fitted size, and every request carries
`mm_processor_kwargs` with min/max pixels from `memocr.budget.processor_kwargs`, so the server's
processor does not resize them (vLLM ignores top-level `min_pixels`/`max_pixels`). The visual-token
budget therefore holds on the server as we computed it.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import time
from typing import Any

import httpx
from PIL import Image

from memocr.budget import processor_kwargs
from memocr.errors import ModelError, ModelUnavailableError
from memocr.models.base import (
    ChatModel,
    Completion,
    Message,
    Tokenizer,
    Usage,
    content_parts,
    message_images,
)

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_BACKOFF_SECONDS = 30.0


def png_data_url(image: Image.Image) -> str:
    """`image` as a lossless PNG data URL, same pixel size."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
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


class ServerTokenizer:
    """vLLM's `/tokenize` and `/detokenize`: the served model's own tokenizer, nothing to install."""

    def __init__(self, base_url: str, model: str, *, headers: dict[str, str], timeout: float):
        self._root = server_root(base_url)
        self._model = model
        self._client = httpx.Client(base_url=self._root, headers=headers, timeout=timeout)

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


class OpenAICompat(ChatModel):
    """A model behind an OpenAI-compatible `/v1/chat/completions` endpoint.

    Requests are retried with exponential backoff on 429, 5xx and connection errors (at most
    `max_retries` times) and at most `max_concurrency` run at once. The API key, if any, comes from
    the standard `OPENAI_API_KEY` environment variable.
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
    ):
        """`tokenizer`: None uses the server's /tokenize (vLLM); a spec `hf:///path` loads a local one."""
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = model
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_concurrency = max_concurrency
        api_key = os.environ.get("OPENAI_API_KEY")
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._tokenizer_option = tokenizer
        self._tokenizer: Tokenizer | None = None
        # httpx connections and asyncio semaphores belong to one event loop; they are made per loop.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._semaphore: asyncio.Semaphore | None = None

    @property
    def tokenizer(self) -> Tokenizer:
        if self._tokenizer is None:
            option = self._tokenizer_option
            if option is None:
                self._tokenizer = ServerTokenizer(
                    self.base_url, self.model, headers=self._headers, timeout=self.timeout
                )
            elif isinstance(option, str):
                from memocr.models.hf import HfTokenizer
                from memocr.models.spec import local_path

                self._tokenizer = HfTokenizer.from_path(local_path(option, scheme="hf"))
            else:
                self._tokenizer = option
        return self._tokenizer

    def _session(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._client is None or self._semaphore is None:
            self._client = httpx.AsyncClient(
                base_url=self.base_url + "/", headers=self._headers, timeout=self.timeout
            )
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
            self._loop = loop
        return self._client, self._semaphore

    async def chat(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> Completion:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai_messages(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
            "top_p": top_p,
        }
        if seed is not None:
            body["seed"] = seed
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
        return Completion(
            text=choice["message"].get("content") or "",
            usage=Usage(
                prompt_tokens=usage.get("prompt_tokens", 0),
                completion_tokens=usage.get("completion_tokens", 0),
                image_tokens=details.get("image_tokens"),
            ),
            seconds=seconds,
        )

    async def _post_with_retries(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        client, semaphore = self._session()
        url = f"{self.base_url}/{path}"
        attempts = self.max_retries + 1
        async with semaphore:
            for attempt in range(attempts):
                last = attempt == attempts - 1
                try:
                    response = await client.post(path, json=body)
                except (httpx.ConnectError, httpx.ConnectTimeout) as err:
                    if last:
                        raise ModelUnavailableError(
                            f"cannot reach the model server at {url} ({err or type(err).__name__}) after "
                            f"{attempts} attempts: start it (e.g. `vllm serve <model>`) or check the spec's "
                            "host and port"
                        ) from err
                except httpx.TransportError as err:
                    if last:
                        raise ModelError(
                            f"no answer from {url} after {attempts} attempts "
                            f"({type(err).__name__}, timeout {self.timeout:g} s)"
                        ) from err
                else:
                    if not response.is_error:
                        return response.json()
                    if last or response.status_code not in RETRY_STATUS:
                        raise ModelError(
                            f"{url} answered {response.status_code} "
                            f"(attempt {attempt + 1} of {attempts}): {response.text[:500]}"
                        )
                await asyncio.sleep(min(self.backoff * 2**attempt, MAX_BACKOFF_SECONDS))
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def aclose(self) -> None:
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = None
        if self._tokenizer is not None and hasattr(self._tokenizer, "close"):
            self._tokenizer.close()
