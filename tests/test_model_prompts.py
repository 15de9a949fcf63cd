"""Prompts a model suggests (the embedded tiers' small-model variants and system message) replace the
standard ones in every turn, count towards the context plan, and are recorded in the trace."""

from __future__ import annotations

import asyncio
from types import MappingProxyType

from memocr.agent import AgentSettings, MemoryAgent, Question
from memocr.prompts import (
    ANSWER_FROM_TEXT,
    ANSWER_FROM_TEXT_BRIEF,
    BRIEF_PROMPTS,
    DRAFT_TEXT,
    DRAFT_TEXT_BRIEF,
    INITIAL_MEMORY,
    SYSTEM_SOURCE_ONLY,
    PromptTemplate,
    last_section,
)
from scripted_model import ScriptedModel

DOCUMENT = " ".join(f"w{i}" for i in range(60))


class RecordingModel(ScriptedModel):
    """Keeps the messages of every call as sent."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.messages: list[list[dict]] = []

    async def chat(self, messages, sampling):
        self.messages.append(messages)
        return await super().chat(messages, sampling)


def reply(prompt: str, images: list) -> str:
    return "notes" if "<section>" in prompt else "\\boxed{w7}"


def run(model: RecordingModel, **settings):
    agent = MemoryAgent(model, AgentSettings(mode="text", chunk_tokens=20, **settings))
    return asyncio.run(agent.answer(Question(DOCUMENT, "Which word?"), [16, 64]))


def test_suggested_prompts_and_system_message_are_sent_and_recorded():
    model = RecordingModel(reply)
    model.suggested_prompts = MappingProxyType(BRIEF_PROMPTS)
    model.system_prompt = SYSTEM_SOURCE_ONLY
    trace = run(model)
    assert trace.prompts == {
        "draft": DRAFT_TEXT_BRIEF.id,
        "answer": ANSWER_FROM_TEXT_BRIEF.id,
        "system": SYSTEM_SOURCE_ONLY.id,
    }
    assert len(model.messages) == 3 + 2  # three chunks, two budgets
    for messages in model.messages:
        assert [m["role"] for m in messages] == ["system", "user"]
        assert messages[0]["content"] == SYSTEM_SOURCE_ONLY.text
    drafts, answers = model.messages[:3], model.messages[3:]
    assert all("Start with a line `Looking for: ...`" in m[1]["content"][0]["text"] for m in drafts)
    assert all("for example \\boxed{Paris}" in m[1]["content"][0]["text"] for m in answers)
    assert trace.answers[0].answer == "w7"


def test_the_system_message_counts_in_the_context_plan():
    plain = RecordingModel(reply, context_length=1000)
    with_system = RecordingModel(reply, context_length=1000)
    with_system.system_prompt = SYSTEM_SOURCE_ONLY
    settings = AgentSettings(mode="text", max_memory_tokens=64, max_answer_tokens=16)
    fitted_plain = MemoryAgent(plain, settings).plan("Which word?", [64]).chunk_tokens
    fitted_system = MemoryAgent(with_system, settings).plan("Which word?", [64]).chunk_tokens
    assert fitted_plain - fitted_system == len(SYSTEM_SOURCE_ONLY.text.split())


def test_without_suggestions_the_standard_prompts_are_sent_alone():
    model = RecordingModel(reply)
    trace = run(model)
    assert trace.prompts == {"draft": DRAFT_TEXT.id, "answer": ANSWER_FROM_TEXT.id}
    assert all([m["role"] for m in messages] == ["user"] for messages in model.messages)


LAST = PromptTemplate(
    "draft-text-last-test",
    1,
    "This is the last section. " * 20
    + "<problem>{question}</problem><memory>{memory}</memory><section>{chunk}</section>",
)


def test_a_suggested_last_section_prompt_drafts_the_last_chunk_only():
    model = RecordingModel(reply)
    model.suggested_prompts = MappingProxyType({last_section(DRAFT_TEXT.name): LAST})
    trace = run(model)
    drafts = [messages[0]["content"][0]["text"] for messages in model.messages[:3]]
    assert [text.startswith("This is the last section.") for text in drafts] == [False, False, True]
    assert trace.prompts == {"draft": DRAFT_TEXT.id, "draft_last": LAST.id, "answer": ANSWER_FROM_TEXT.id}


def test_the_longer_of_the_drafting_prompts_sets_the_context_plan():
    plain = RecordingModel(reply, context_length=1000)
    with_last = RecordingModel(reply, context_length=1000)
    with_last.suggested_prompts = MappingProxyType({last_section(DRAFT_TEXT.name): LAST})
    settings = AgentSettings(mode="text", max_memory_tokens=64, max_answer_tokens=16)
    fitted_plain = MemoryAgent(plain, settings).plan("Which word?", [64]).chunk_tokens
    fitted_last = MemoryAgent(with_last, settings).plan("Which word?", [64]).chunk_tokens

    def words(template: PromptTemplate) -> int:
        return len(template.format(question="", chunk="", memory=INITIAL_MEMORY).split())

    assert words(LAST) > words(DRAFT_TEXT)
    assert fitted_plain - fitted_last == words(LAST) - words(DRAFT_TEXT)
