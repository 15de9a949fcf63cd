"""Batched rollout generation: the same tokens and log-probs as one call at a time, seeds per call."""

from __future__ import annotations

import asyncio

import pytest
import torch

from memocr.errors import ContextLengthError
from memocr.models.base import SamplingParams
from memocr.models.hf import HfModel
from memocr.models.tiny import build_tiny_qwen2_5_vl
from memocr.train.batched import BatchedGeneration

PROMPTS = ["Where was Orsa Thelwick born?", "Kelvaford " * 12 + "is a town.", "Hi"]


@pytest.fixture(scope="module")
def hf(tmp_path_factory: pytest.TempPathFactory) -> HfModel:
    return HfModel(build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("tiny") / "model"))


def ask(model, prompts: list[str], samplings: list[SamplingParams]):
    async def go():
        calls = [
            model.chat([{"role": "user", "content": text}], sampling)
            for text, sampling in zip(prompts, samplings, strict=True)
        ]
        return await asyncio.gather(*calls)

    return asyncio.run(go())


def test_greedy_calls_generated_together_match_one_at_a_time(hf: HfModel) -> None:
    samplings = [SamplingParams(max_tokens=m, temperature=0.0, logprobs=True) for m in (6, 3, 8)]
    batched = BatchedGeneration(hf, max_batch=8)
    together = ask(batched, PROMPTS, samplings)
    alone = [ask(hf, [text], [sampling])[0] for text, sampling in zip(PROMPTS, samplings, strict=True)]
    assert batched.batches == [3]
    for one, other, sampling in zip(together, alone, samplings, strict=True):
        assert one.completion_ids == other.completion_ids
        assert len(one.completion_ids) <= sampling.max_tokens
        assert one.prompt_ids == other.prompt_ids and one.text == other.text
        assert one.usage.completion_tokens == len(one.completion_ids)
        assert torch.allclose(torch.tensor(one.logprobs), torch.tensor(other.logprobs), atol=1e-4)


def test_a_sample_depends_on_its_seed_not_on_its_batch(hf: HfModel) -> None:
    sampling = SamplingParams(max_tokens=8, temperature=1.0, top_p=0.9, seed=11, logprobs=True)
    batched = BatchedGeneration(hf, max_batch=8)
    (alone,) = ask(batched, PROMPTS[:1], [sampling])
    others = [SamplingParams(max_tokens=8, temperature=1.0, seed=s) for s in (1, 2)]
    together = ask(batched, PROMPTS, [sampling, *others])
    assert together[0].completion_ids == alone.completion_ids
    assert together[1].completion_ids is None  # no log-probs asked for: no ids either, as HfModel
    reseeded = ask(batched, PROMPTS[:1], [SamplingParams(max_tokens=8, temperature=1.0, seed=12)])
    assert batched.batches == [1, 3, 1] and reseeded[0].text != alone.text


def test_waves_larger_than_the_batch_are_split_and_errors_reach_every_caller(hf: HfModel) -> None:
    batched = BatchedGeneration(hf, max_batch=2)
    results = ask(batched, PROMPTS, [SamplingParams(max_tokens=2, temperature=0.0)] * 3)
    assert sorted(batched.batches) == [1, 2] and all(r.usage.completion_tokens <= 2 for r in results)
    with pytest.raises(ContextLengthError, match="does not fit the context"):
        ask(batched, ["x " * 200_000], [SamplingParams(max_tokens=2)])
