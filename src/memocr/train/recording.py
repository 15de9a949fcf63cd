"""A `ChatModel` that records what a trainer needs from every call it passes to the real engine.

The agent is given a `RecordingModel` around the generation engine (memocr's transformers backend, or
a vLLM server through the OpenAI-compatible one) and runs exactly as at inference. Every call is
sent with token log-probs switched on (`SamplingParams.logprobs`) and kept as a `Call`: the
messages, the sampling, and the completion with its prompt ids, completion ids and log-probs. The
image a reading turn saw is the one in its messages, already fitted to the budget by the agent.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from memocr.models.base import ChatModel, Completion, Message, SamplingParams, message_images, take_traits


@dataclass
class Call:
    messages: list[Message]
    sampling: SamplingParams
    completion: Completion

    @property
    def image(self) -> Any:
        images = message_images(self.messages)
        return images[0] if images else None


class RecordingModel(ChatModel):
    """Wraps a generation engine: every call asks for log-probs and is kept in ``calls``."""

    def __init__(self, engine: ChatModel) -> None:
        self.engine = engine
        take_traits(self, engine)
        self.calls: list[Call] = []

    @property
    def tokenizer(self) -> Any:
        return self.engine.tokenizer

    @property
    def context_length(self) -> int | None:
        return self.engine.context_length

    def count_prompt_tokens(self, messages: list[Message]) -> int | None:
        return self.engine.count_prompt_tokens(messages)

    async def chat(self, messages: list[Message], sampling: SamplingParams) -> Completion:
        completion = await self.engine.chat(messages, dataclasses.replace(sampling, logprobs=True))
        self.calls.append(Call(messages, sampling, completion))
        return completion
