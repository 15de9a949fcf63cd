"""Prompts a model suggests (the embedded tiers' small-model variants and system message) replace the
standard ones in every turn, count towards the context plan, and are recorded in the trace."""

from __future__ import annotations

import asyncio
from types import MappingProxyType

from memocr.agent import AgentSettings, MemoryAgent, Question
from memocr.prompts import (
    ANSWER_FROM_IMAGE_BRIEF,
    ANSWER_FROM_TEXT,
    ANSWER_FROM_TEXT_BRIEF,
    BRIEF_PROMPTS,
    DRAFT_MARKDOWN_LEAD,
    DRAFT_TEXT,
    DRAFT_TEXT_BRIEF,
    HEADLINE_BRIEF,
    INITIAL_MEMORY,
    SYSTEM_SOURCE_ONLY,
    PromptTemplate,
    headline_key,
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
        "headline": HEADLINE_BRIEF.id,
        "answer": ANSWER_FROM_TEXT_BRIEF.id,
        "system": SYSTEM_SOURCE_ONLY.id,
    }
    assert len(model.messages) == 3 + 1 + 2  # three chunks, the headline, two budgets
    for messages in model.messages:
        assert [m["role"] for m in messages] == ["system", "user"]
        assert messages[0]["content"] == SYSTEM_SOURCE_ONLY.text
    drafts, headline, answers = model.messages[:3], model.messages[3], model.messages[4:]
    assert all("Start with a line `Looking for: ...`" in m[1]["content"][0]["text"] for m in drafts)
    assert headline[1]["content"][0]["text"].startswith("<memory>\nnotes\n</memory>")
    assert all("copied from the memory as it is written" in m[1]["content"][0]["text"] for m in answers)
    assert trace.final_memory == "Answer: w7\nnotes"
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


def test_a_draft_prompt_setting_replaces_the_drafting_prompt_of_markdown_modes_only():
    model = RecordingModel(reply)
    model.suggested_prompts = MappingProxyType(BRIEF_PROMPTS)
    settings = AgentSettings(mode="visual", draft_prompt="draft-markdown-lead")
    visual = MemoryAgent(model, settings, renderer=object())  # type: ignore[arg-type]  # never used here
    # The setting wins over the model's suggestion for drafting; the other turns keep the suggestions.
    assert visual.mode.draft_prompt is DRAFT_MARKDOWN_LEAD
    assert visual.mode.answer_prompt is ANSWER_FROM_IMAGE_BRIEF
    # A text memory has no Markdown to lay out: its drafting prompt stays the model's.
    trace = run(model, draft_prompt="draft-markdown-lead")
    assert trace.prompts["draft"] == DRAFT_TEXT_BRIEF.id
    assert all(
        "Start with a line `Looking for: ...`" in m[-1]["content"][0]["text"] for m in model.messages[:3]
    )


HEADLINE = PromptTemplate(
    "headline-test", 1, "HEADLINE " * 100 + "<problem>{question}</problem><memory>{memory}</memory>"
)


def headline_reply(prompt: str, images: list) -> str:
    if prompt.startswith("HEADLINE"):
        return "The answer is \\boxed{w7 and w8}"
    return "# Looking for: a word\n- notes" if "<section>" in prompt else "\\boxed{w7}"


def test_a_headline_turn_puts_the_answer_first_in_a_text_memory():
    model = RecordingModel(headline_reply)
    model.suggested_prompts = MappingProxyType({headline_key(DRAFT_TEXT.name): HEADLINE})
    trace = run(model)
    assert [step.headline for step in trace.steps] == [False, False, False, True]
    assert trace.final_memory == "Answer: w7 and w8\n# Looking for: a word\n- notes"
    assert trace.prompts == {"draft": DRAFT_TEXT.id, "headline": HEADLINE.id, "answer": ANSWER_FROM_TEXT.id}
    # The headline turn saw the problem and the words of the last draft (no Markdown marks), no chunk.
    headline_prompt = model.messages[3][0]["content"][0]["text"]
    assert (
        "<memory>Looking for: a word\nnotes</memory>" in headline_prompt
        and "<section>" not in headline_prompt
    )


def test_the_longer_of_the_drafting_and_headline_prompts_sets_the_context_plan():
    plain = RecordingModel(reply, context_length=1000)
    with_headline = RecordingModel(reply, context_length=1000)
    with_headline.suggested_prompts = MappingProxyType({headline_key(DRAFT_TEXT.name): HEADLINE})
    settings = AgentSettings(mode="text", max_memory_tokens=64, max_answer_tokens=16)
    fitted_plain = MemoryAgent(plain, settings).plan("Which word?", [64]).chunk_tokens
    fitted_headline = MemoryAgent(with_headline, settings).plan("Which word?", [64]).chunk_tokens

    def words(template: PromptTemplate) -> int:
        return len(template.format(question="", chunk="", memory=INITIAL_MEMORY).split())

    assert words(HEADLINE) > words(DRAFT_TEXT)
    assert fitted_plain - fitted_headline == words(HEADLINE) - words(DRAFT_TEXT)
