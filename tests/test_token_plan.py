"""Token settings fitted to a model's context window: unset values adapt, given values are checked."""

from __future__ import annotations

import asyncio

import pytest

from memocr.agent import AgentSettings, MemoryAgent, Question
from memocr.errors import ContextLengthError
from memocr.token_plan import FORMAT_MARGIN_TOKENS, MIN_CHUNK_TOKENS, PAPER_SETTINGS, plan_tokens
from scripted_model import ScriptedModel

UNSET = {"chunk_tokens": None, "max_memory_tokens": None, "max_answer_tokens": None}


def plan(requested=None, *, context=None, suggested=None, prompt=100, view=lambda memory: memory):
    return plan_tokens(
        {**UNSET, **(requested or {})},
        suggested=suggested or {},
        context_length=context,
        draft_prompt_tokens=prompt,
        answer_prompt_tokens=prompt,
        answer_view_tokens=view,
        model_name="m",
    )


def test_unset_settings_take_the_models_suggestion_then_the_papers():
    assert (plan().chunk_tokens, plan().max_memory_tokens, plan().max_answer_tokens) == (5000, 2048, 512)
    suggested = plan(suggested={"chunk_tokens": 2000, "max_memory_tokens": 256})
    assert (suggested.chunk_tokens, suggested.max_memory_tokens, suggested.max_answer_tokens) == (
        2000,
        256,
        512,
    )
    given = plan({"chunk_tokens": 700}, suggested={"chunk_tokens": 2000})
    assert given.chunk_tokens == 700 and given.adjustments == ()


def test_an_unset_chunk_shrinks_to_fit_and_every_request_then_fits():
    result = plan(context=8192)
    overhead = 100 + FORMAT_MARGIN_TOKENS
    assert result.max_memory_tokens == 2048
    assert result.chunk_tokens == 8192 - overhead - 2 * 2048
    assert result.draft_request_tokens == 8192
    assert result.answer_request_tokens <= 8192
    assert result.adjustments == (f"chunk_tokens 5000 -> {result.chunk_tokens}",)


def test_memory_shrinks_too_when_the_chunk_would_be_tiny():
    result = plan(context=2048)
    room = 2048 - 100 - FORMAT_MARGIN_TOKENS
    assert result.max_memory_tokens == room // 4
    assert result.chunk_tokens == room - 2 * (room // 4) >= room // 2
    assert result.draft_request_tokens <= 2048
    assert len(result.adjustments) == 2


def test_settings_the_user_gave_are_refused_with_the_numbers_to_change():
    with pytest.raises(ContextLengthError) as raised:
        plan({"chunk_tokens": 5000, "max_memory_tokens": 2048}, context=8192)
    message = str(raised.value)
    room = 8192 - 100 - FORMAT_MARGIN_TOKENS
    assert "8,192-token context of m" in message
    assert f"--chunk-tokens to at most {room - 4096:,}" in message
    assert f"--max-memory-tokens to at most {(room - 5000) // 2:,}" in message
    assert f"= {100 + FORMAT_MARGIN_TOKENS + 5000 + 4096:,} tokens" in message


def test_a_context_too_small_for_anything_is_refused_even_when_all_is_unset():
    with pytest.raises(ContextLengthError, match="drafting does not fit the 300-token context"):
        plan(context=300)
    # The smallest context that still fits: a chunk of the minimum size and the smallest memory.
    assert (
        plan(context=100 + FORMAT_MARGIN_TOKENS + MIN_CHUNK_TOKENS + 2 * 64).chunk_tokens >= MIN_CHUNK_TOKENS
    )


def test_the_answer_turn_is_checked_with_the_memory_as_shown():
    # A VLM pays the visual tokens of the largest budget in its context.
    with pytest.raises(ContextLengthError, match="answering does not fit"):
        plan({"max_answer_tokens": 512}, context=8192, view=lambda memory: 8000)
    fitted = plan(context=8192, view=lambda memory: 7900)
    assert fitted.max_answer_tokens == 8192 - 100 - FORMAT_MARGIN_TOKENS - 7900
    assert fitted.answer_request_tokens == 8192


def reply(prompt: str, images: list) -> str:
    return "# memory" if "<section>" in prompt else "\\boxed{x}"


def test_the_agent_refuses_settings_that_cannot_fit_before_any_model_call():
    model = ScriptedModel(reply, context_length=1000)
    agent = MemoryAgent(model, AgentSettings(mode="text", chunk_tokens=900, max_memory_tokens=200))
    with pytest.raises(ContextLengthError, match="1,000-token context of scripted"):
        asyncio.run(agent.answer(Question("word " * 5000, "q?"), [64]))
    assert model.calls == []


def test_the_agent_drafts_within_the_context_with_unset_settings():
    model = ScriptedModel(reply, context_length=1500)
    agent = MemoryAgent(model, AgentSettings(mode="text"))
    trace = asyncio.run(agent.answer(Question("word " * 5000, "q?"), [64]))
    chunk, memory = trace.settings["chunk_tokens"], trace.settings["max_memory_tokens"]
    assert chunk < PAPER_SETTINGS["chunk_tokens"] and memory < PAPER_SETTINGS["max_memory_tokens"]
    assert trace.settings["context_length"] == 1500 and trace.settings["adjustments"]
    drafts = [call for call in model.calls if "<section>" in call["prompt"]]
    assert len(drafts) == len(trace.steps) == -(-5000 // chunk)
    for call in drafts:
        assert len(call["prompt"].split()) + call["sampling"].max_tokens <= 1500


def test_a_question_too_long_for_the_context_fails_alone_in_a_batch():
    model = ScriptedModel(reply, context_length=1000)
    agent = MemoryAgent(model, AgentSettings(mode="text", chunk_tokens=300, max_memory_tokens=100))
    questions = [Question("word " * 600, "short?"), Question("word " * 600, "long " * 600 + "?")]
    short, long = asyncio.run(agent.answer_many(questions, [64]))
    assert short.error is None and len(short.steps) == 2
    assert long.error.stage == "planning" and long.error.type == "ContextLengthError"
    assert long.steps == [] and "1,000-token context" in long.error.message
