"""Rollout generation in batches: concurrent model calls of the local engine generated together.

`memocr ask` and the transformers backend (`memocr.models.hf.HfModel`) generate one request at a time,
which on a CPU spends most of each step on per-token overhead. A training step starts ``n`` rollouts of
every question at once, and their drafting calls (then their answer calls) arrive together.
`BatchedGeneration` wraps the `HfModel` the local engine uses: text-only calls are queued and, once
no new call has come for ``gather_seconds``, up to ``max_batch`` of them are generated in one
left-padded ``generate``. Calls with an image go to the wrapped model one at a time as before.

Each row is sampled with its own generator seeded from its call's ``SamplingParams.seed``, with the
call's own temperature and top-p (greedy at temperature 0), by a logits processor that leaves the
generator only one token to pick. So a sample does not depend on which calls shared its batch, up to
the rounding of padded matrix products. The log-probs returned are the raw ones (before temperature
and top-p), like `HfModel`'s, and each row stops at its own end token and ``max_tokens``.
"""

from __future__ import annotations

import asyncio
import copy
import time
from dataclasses import dataclass
from typing import Any

from memocr.models.base import (
    ChatModel,
    Completion,
    Message,
    SamplingParams,
    Usage,
    context_overflow,
    message_images,
    take_traits,
)
from memocr.train.loss import token_logprobs


@dataclass
class _Request:
    ids: list[int]
    sampling: SamplingParams
    future: asyncio.Future
    started: float


class _RowSampler:
    """A logits processor: picks each row's next token with the row's own settings and generator, and
    returns scores where only that token is finite (so greedy decoding takes it)."""

    def __init__(self, samplings: list[SamplingParams], generators: list[Any]) -> None:
        self.samplings = samplings
        self.generators = generators

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        picked = torch.full_like(scores, float("-inf"))
        for row, sampling in enumerate(self.samplings):
            logits = scores[row].float()
            if sampling.temperature <= 0:
                token = int(logits.argmax())
            else:
                probs = torch.softmax(logits / sampling.temperature, dim=-1)
                if sampling.top_p < 1:
                    ordered, order = probs.sort(descending=True)
                    before = ordered.cumsum(0) - ordered  # mass of the more likely tokens
                    ordered[before >= sampling.top_p] = 0  # the first token always stays
                    probs = torch.zeros_like(probs).scatter_(0, order, ordered)
                token = int(torch.multinomial(probs, 1, generator=self.generators[row]))
            picked[row, token] = 0.0
        return picked


class BatchedGeneration(ChatModel):
    """`HfModel` (``base``) with concurrent text-only calls generated in batches (module docstring)."""

    def __init__(self, base: Any, max_batch: int, gather_seconds: float = 0.05) -> None:
        self.base = base
        self.max_batch = max_batch
        self.gather_seconds = gather_seconds
        take_traits(self, base)
        self._queue: list[_Request] = []
        self._worker: asyncio.Task | None = None
        self.batches: list[int] = []  # rows of each batch generated, for reports

    @property
    def model(self) -> Any:
        return self.base.model

    @model.setter
    def model(self, model: Any) -> None:
        self.base.model = model

    @property
    def tokenizer(self) -> Any:
        return self.base.tokenizer

    @property
    def context_length(self) -> int | None:
        return self.base.context_length

    def count_prompt_tokens(self, messages: list[Message]) -> int | None:
        return self.base.count_prompt_tokens(messages)

    async def chat(self, messages: list[Message], sampling: SamplingParams) -> Completion:
        if self.max_batch == 1 or message_images(messages):
            return await self.base.chat(messages, sampling)
        started = time.perf_counter()
        inputs = await asyncio.to_thread(self.base._inputs, messages)
        ids = inputs["input_ids"][0].tolist()
        context = self.base.context_length
        if context is not None and len(ids) + sampling.max_tokens > context:
            raise context_overflow(
                self.name, prompt_tokens=len(ids), max_tokens=sampling.max_tokens, context_length=context
            )
        future = asyncio.get_running_loop().create_future()
        self._queue.append(_Request(ids, sampling, future, started))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._queue:
            # Wait for the rest of this wave of calls: until the queue stops growing or is full.
            while len(self._queue) < self.max_batch:
                waiting = len(self._queue)
                await asyncio.sleep(self.gather_seconds)
                if len(self._queue) == waiting:
                    break
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            try:
                results = await asyncio.to_thread(self._generate, batch)
            except Exception as error:
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(error)
                continue
            for request, completion in zip(batch, results, strict=True):
                if not request.future.done():
                    request.future.set_result(completion)

    def _generate(self, batch: list[_Request]) -> list[Completion]:
        import torch
        from transformers import LogitsProcessorList

        model = self.base.model
        config = model.generation_config
        eos = config.eos_token_id
        ends = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        pad = config.pad_token_id if config.pad_token_id is not None else min(ends, default=0)
        width = max(len(request.ids) for request in batch)
        device = self.base.device
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, request in enumerate(batch):
            ids[row, width - len(request.ids) :] = torch.tensor(request.ids)
            mask[row, width - len(request.ids) :] = 1
        generators = []
        for request in batch:
            generator = torch.Generator()
            if request.sampling.seed is not None:
                generator.manual_seed(request.sampling.seed)
            else:
                generator.seed()
            generators.append(generator)
        sampler = _RowSampler([request.sampling for request in batch], generators)
        # Greedy over the sampler's one finite score per row: no sampling or warping of transformers'.
        generation = copy.deepcopy(config)
        generation.max_new_tokens = max(request.sampling.max_tokens for request in batch)
        generation.do_sample = False
        generation.temperature = generation.top_p = generation.top_k = None
        generation.pad_token_id = pad
        generation.return_dict_in_generate = True
        generation.output_logits = any(request.sampling.logprobs for request in batch)
        with self.base._lock, torch.inference_mode():
            output = model.generate(
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                logits_processor=LogitsProcessorList([sampler]),
                generation_config=generation,
            )
        self.batches.append(len(batch))
        generated = output.sequences[:, width:].cpu()
        if generation.output_logits:
            logits = torch.stack(output.logits, dim=1).cpu()  # [rows, steps, vocab], raw
        completions = []
        for row, request in enumerate(batch):
            tokens = generated[row].tolist()[: request.sampling.max_tokens]
            for position, token in enumerate(tokens):
                if token in ends:
                    tokens = tokens[: position + 1]
                    break
            keep = request.sampling.logprobs
            logprobs = (
                token_logprobs(logits[row, : len(tokens)], torch.tensor(tokens)).tolist() if keep else None
            )
            completions.append(
                Completion(
                    text=self.base.tokenizer.decode(tokens, skip_special_tokens=True),
                    usage=Usage(prompt_tokens=len(request.ids), completion_tokens=len(tokens)),
                    seconds=time.perf_counter() - request.started,
                    prompt_ids=list(request.ids) if keep else None,
                    completion_ids=tokens if keep else None,
                    logprobs=logprobs,
                )
            )
        return completions
