"""A scripted `ChatModel` for agent tests: a word-level tokenizer and replies chosen by the test."""

from __future__ import annotations

import time
from collections.abc import Callable

from memocr.models.base import (
    ChatModel,
    Completion,
    Message,
    SamplingParams,
    Usage,
    content_parts,
    message_images,
)


class WordTokenizer:
    """One token per whitespace-separated word; decoding joins words with single spaces."""

    def __init__(self) -> None:
        self.vocabulary: dict[str, int] = {}
        self.words: list[str] = []

    def encode(self, text: str) -> list[int]:
        ids = []
        for word in text.split():
            if word not in self.vocabulary:
                self.vocabulary[word] = len(self.words)
                self.words.append(word)
            ids.append(self.vocabulary[word])
        return ids

    def decode(self, ids: list[int]) -> str:
        return " ".join(self.words[i] for i in ids)


Reply = Callable[[str, list], str]
"""``reply(prompt_text, images) -> response text``."""


class ScriptedModel(ChatModel):
    """Records every call (prompt text, images, `SamplingParams`); answers with
    ``reply(prompt, images)`` (which may raise, to inject a fault). ``context_length`` is the window it
    declares (None: unknown)."""

    def __init__(self, reply: Reply, name: str = "scripted", context_length: int | None = None) -> None:
        self.name = name
        self.reply = reply
        self._context_length = context_length
        self.calls: list[dict] = []
        self._tokenizer = WordTokenizer()

    @property
    def tokenizer(self) -> WordTokenizer:
        return self._tokenizer

    @property
    def context_length(self) -> int | None:
        return self._context_length

    async def chat(self, messages: list[Message], sampling: SamplingParams) -> Completion:
        started = time.perf_counter()
        prompt = "".join(p["text"] for m in messages for p in content_parts(m) if p["type"] == "text")
        images = message_images(messages)
        self.calls.append({"prompt": prompt, "images": images, "sampling": sampling})
        text = self.reply(prompt, images)
        usage = Usage(prompt_tokens=len(prompt.split()), completion_tokens=len(text.split()))
        return Completion(text=text, usage=usage, seconds=time.perf_counter() - started)


class IdModel(ScriptedModel):
    """The scripted model plus what a trainer needs: token ids and log-probs when asked for."""

    async def chat(self, messages: list[Message], sampling: SamplingParams) -> Completion:
        done = await super().chat(messages, sampling)
        if sampling.logprobs:
            done.prompt_ids = self.tokenizer.encode(self.calls[-1]["prompt"])
            done.completion_ids = self.tokenizer.encode(done.text)
            done.logprobs = [-0.5] * len(done.completion_ids)
        return done
