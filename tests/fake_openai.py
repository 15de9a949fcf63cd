"""A small fake OpenAI-compatible server (FastAPI + uvicorn on 127.0.0.1) for backend tests.

It records every request, answers with a canned completion and usage, can fail with a status code a
given number of times, delays answers to expose concurrency, and offers vLLM's /tokenize and
/detokenize with a toy tokenizer (one id per character, the code point). Like vLLM it lists its model
in /v1/models with `max_model_len` (when `context_length` is set) and then refuses, with vLLM's 400
and wording, a request whose prompt (one token per character of text) plus max_tokens does not fit.
Asked for `logprobs`, it answers like vLLM: `choices[0].logprobs.content` with a log-prob per token
of the reply (one per character), tokens written as "token_id:<id>" under `return_tokens_as_token_ids`,
and under `return_token_ids` the reply's ids in `choices[0].token_ids` and the prompt's in
`prompt_token_ids`; `logprobs_served` and `token_ids_served` switch those off to play older or
other servers.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


@dataclass
class FakeState:
    reply: str = "\\boxed{Paris}"
    usage: dict[str, Any] = field(
        default_factory=lambda: {"prompt_tokens": 42, "completion_tokens": 5, "total_tokens": 47}
    )
    fail_times: int = 0
    fail_status: int = 503
    delay: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    tokenize_requests: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    # Set whenever no chat request is being answered (a client that gave up may leave one running).
    idle: threading.Event = field(default_factory=threading.Event)
    context_length: int | None = None
    # Chooses the reply from the request body instead of `reply`; raising ValueError answers 400.
    reply_fn: Callable[[dict[str, Any]], str] | None = None
    models_headers: list[dict[str, str]] = field(default_factory=list)  # one per GET /v1/models
    logprobs_served: bool = True  # False: `logprobs` is ignored, as by a server without them
    token_ids_served: bool = True  # False: `return_token_ids` is ignored, as by vLLM before 0.10.2

    def __post_init__(self) -> None:
        self.idle.set()


def prompt_text(body: dict[str, Any]) -> str:
    """The text of a chat request's messages, joined."""
    texts = []
    for message in body["messages"]:
        content = message["content"]
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        texts += [part["text"] for part in parts if part["type"] == "text"]
    return "".join(texts)


def prompt_tokens(body: dict[str, Any]) -> int:
    """The toy tokenizer's count of a chat request's prompt: one token per character of text."""
    return len(prompt_text(body))


def fake_logprob(position: int) -> float:
    """The log-prob the fake server reports for the reply's token at `position`."""
    return -0.25 * (position + 1)


def add_logprobs(answer: dict[str, Any], body: dict[str, Any], reply: str, state: FakeState) -> None:
    """vLLM's log-prob and token-id fields for `reply`, as far as `body` asks and `state` serves."""
    if not (body.get("logprobs") and state.logprobs_served):
        return
    as_ids = body.get("return_tokens_as_token_ids")
    answer["choices"][0]["logprobs"] = {
        "content": [
            {"token": f"token_id:{ord(ch)}" if as_ids else ch, "logprob": fake_logprob(i), "top_logprobs": []}
            for i, ch in enumerate(reply)
        ]
    }
    if body.get("return_token_ids") and state.token_ids_served:
        answer["choices"][0]["token_ids"] = [ord(ch) for ch in reply]
        answer["prompt_token_ids"] = [ord(ch) for ch in prompt_text(body)]


def context_error(body: dict[str, Any], context_length: int) -> str | None:
    """vLLM's message for a request that does not fit `context_length`, or None when it fits."""
    prompt, max_tokens = prompt_tokens(body), body["max_tokens"]
    if prompt > context_length:
        return (
            f"This model's maximum context length is {context_length} tokens. However, your request has "
            f"{prompt} input tokens. Please reduce the length of the input messages."
        )
    if prompt + max_tokens > context_length:
        return (
            f"'max_tokens' or 'max_completion_tokens' is too large: {max_tokens}. This model's maximum "
            f"context length is {context_length} tokens and your request has {prompt} input tokens "
            f"({max_tokens} > {context_length} - {prompt})."
        )
    return None


def build_app(state: FakeState) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        state.requests.append(body)
        state.headers.append(dict(request.headers))
        if state.fail_times > 0:
            state.fail_times -= 1
            return JSONResponse({"error": {"message": "overloaded"}}, status_code=state.fail_status)
        too_long = state.context_length and context_error(body, state.context_length)
        if too_long:
            error = {"object": "error", "message": too_long, "type": "BadRequestError", "code": 400}
            return JSONResponse(error, status_code=400)
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        state.idle.clear()
        try:
            await asyncio.sleep(state.delay)
        finally:
            state.in_flight -= 1
            if state.in_flight == 0:
                state.idle.set()
        try:
            reply = state.reply if state.reply_fn is None else state.reply_fn(body)
        except ValueError as error:
            return JSONResponse({"object": "error", "message": str(error), "code": 400}, status_code=400)
        answer = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply},
                    "finish_reason": "stop",
                }
            ],
            "usage": state.usage,
        }
        add_logprobs(answer, body, reply, state)
        return answer

    @app.get("/v1/models")
    async def models(request: Request):
        state.models_headers.append(dict(request.headers))
        entry: dict[str, Any] = {"id": "fake/MemOCR", "object": "model", "owned_by": "vllm"}
        if state.context_length:
            entry["max_model_len"] = state.context_length
        return {"object": "list", "data": [entry]}

    @app.post("/tokenize")
    async def tokenize(request: Request):
        body = await request.json()
        state.tokenize_requests.append(body)
        tokens = [ord(ch) for ch in body["prompt"]]
        return {"tokens": tokens, "count": len(tokens), "max_model_len": 32768}

    @app.post("/detokenize")
    async def detokenize(request: Request):
        body = await request.json()
        return {"prompt": "".join(chr(token) for token in body["tokens"])}

    return app


class FakeOpenAIServer:
    """Runs the fake app in a background thread; use as a context manager or call start/stop."""

    def __init__(self) -> None:
        self.state = FakeState()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(build_app(self.state), log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    @property
    def spec(self) -> str:
        return f"openai://127.0.0.1:{self.port}/v1?model=fake/MemOCR"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAIServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake OpenAI server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
