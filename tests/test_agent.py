"""The memory agent's loop, modes and budgets, with a scripted model and the real renderer."""

from __future__ import annotations

import asyncio
import re

import numpy as np
import pytest

from memocr.agent import AgentSettings, MemoryAgent, Question, QuestionFailed
from memocr.budget import visual_tokens
from memocr.errors import ModelError
from memocr.prompts import DRAFT_MARKDOWN_LAYOUT, DRAFT_MARKDOWN_PLAIN, INITIAL_MEMORY
from memocr.render import AsyncRenderer
from memocr.trace import TraceWriter, read_traces
from scripted_model import ScriptedModel

DOCUMENT = " ".join(f"w{i}" for i in range(23))  # 23 tokens for the word tokenizer


def drafting_reply(prompt: str, images: list) -> str:
    """Draft: a heading naming the last word of the chunk; answer: the memory's heading, boxed."""
    if "<article>" in prompt or "<section>" in prompt:
        chunk = re.search(r"<(article|section)>\n(.*?)\n</\1>", prompt, re.S).group(2)
        return f"```markdown\n# Seen {chunk.split()[-1]}\n\nsome **details**\n```"
    return "The answer is \\boxed{w22}"


def run(coroutine):
    return asyncio.run(coroutine)


async def answer_with_renderer(model, settings, question, budgets):
    async with AsyncRenderer(pages=1) as renderer:
        agent = MemoryAgent(model, settings, renderer)
        return await agent.answer(question, budgets)


def test_chunks_are_drafted_in_order_and_each_memory_overwrites_the_last():
    model = ScriptedModel(drafting_reply)
    settings = AgentSettings(mode="visual", chunk_tokens=5)
    trace = run(answer_with_renderer(model, settings, Question(DOCUMENT, "Which word is last?"), [64]))

    drafts = [call for call in model.calls if "<article>" in call["prompt"]]
    assert len(drafts) == 5 == len(trace.steps)
    assert [step.chunk_tokens for step in trace.steps] == [5, 5, 5, 5, 3]
    assert f"<memory>\n{INITIAL_MEMORY}\n</memory>" in drafts[0]["prompt"]
    for previous, call in zip(trace.steps, drafts[1:], strict=False):
        assert f"<memory>\n{previous.memory}\n</memory>" in call["prompt"]
    assert "<article>\nw0 w1 w2 w3 w4\n</article>" in drafts[0]["prompt"]
    assert "Which word is last?" in drafts[0]["prompt"]
    # The wrapping fence is stripped; the final memory is the last draft.
    assert trace.final_memory == "# Seen w22\n\nsome **details**"
    assert all(call["sampling"].max_tokens == trace.settings["max_memory_tokens"] == 2048 for call in drafts)
    assert trace.document_tokens == 23


def test_one_drafting_pass_serves_every_budget_within_its_token_budget():
    model = ScriptedModel(drafting_reply)
    budgets = [1024, 256, 64, 16, 4, 1]
    settings = AgentSettings(mode="visual", chunk_tokens=10)
    trace = run(answer_with_renderer(model, settings, Question(DOCUMENT, "q?"), budgets))

    drafts = [call for call in model.calls if "<article>" in call["prompt"]]
    answers = [call for call in model.calls if "<article>" not in call["prompt"]]
    assert len(drafts) == 3 and len(answers) == len(budgets)
    assert [answer.budget for answer in trace.answers] == budgets
    for answer in trace.answers:
        assert answer.answer == "w22"
        assert answer.visual_tokens == visual_tokens(answer.image_width, answer.image_height) <= answer.budget
        assert answer.image.size == (answer.image_width, answer.image_height)
    # The answer turn sees the image and the question only, never the memory text.
    for call in answers:
        assert len(call["images"]) == 1 and "Seen w22" not in call["prompt"]
        assert "<problem>\nq?\n</problem>" in call["prompt"]
    sent_sizes = sorted(call["images"][0].size for call in answers)
    assert sent_sizes == sorted((a.image_width, a.image_height) for a in trace.answers)
    assert trace.render is not None and trace.render.width > 0 and trace.render.clipped_px == 0


def test_the_models_suggested_profile_is_used_unless_the_user_chose_one():
    question = Question(DOCUMENT, "Which word is last?")
    suggesting = ScriptedModel(drafting_reply)
    suggesting.suggested_profile = "compact"
    traces = [
        run(answer_with_renderer(model, AgentSettings(chunk_tokens=50, profile=profile), question, [64]))
        for model, profile in (
            (suggesting, None),
            (suggesting, "full"),
            (ScriptedModel(drafting_reply), None),
        )
    ]
    assert [trace.render.profile for trace in traces] == ["compact", "full", "full"]
    assert traces[0].render.height < traces[1].render.height == traces[2].render.height  # smaller body text


def test_text_mode_shows_the_first_b_tokens_of_the_memory_and_no_image():
    memory = " ".join(f"m{i}" for i in range(40))
    model = ScriptedModel(lambda prompt, images: memory if "<section>" in prompt else "\\boxed{m0}")
    agent = MemoryAgent(model, AgentSettings(mode="text", chunk_tokens=50))
    trace = run(agent.answer(Question(DOCUMENT, "q?"), [16, 64]))

    answer_calls = [call for call in model.calls if "<section>" not in call["prompt"]]
    by_budget = {answer.budget: answer for answer in trace.answers}
    assert by_budget[16].memory_tokens == 16 and by_budget[64].memory_tokens == 40
    prompts = {len(re.findall(r"\bm\d+\b", call["prompt"])): call for call in answer_calls}
    assert set(prompts) == {16, 40}
    assert "m15" in prompts[16]["prompt"] and "m16" not in prompts[16]["prompt"]
    assert all(not call["images"] for call in model.calls)
    assert trace.render is None and by_budget[16].visual_tokens is None


@pytest.mark.slow
def test_plain_mode_drafts_without_layout_instructions():
    model = ScriptedModel(drafting_reply)
    plain = run(
        answer_with_renderer(
            model, AgentSettings(mode="visual-plain", chunk_tokens=50), Question(DOCUMENT, "q"), [64]
        )
    )
    draft = model.calls[0]["prompt"]
    assert DRAFT_MARKDOWN_PLAIN.text.split("{memory}")[1].split("The updated")[0].strip() in draft
    assert "headings near the top" not in draft

    layout = ScriptedModel(drafting_reply)
    with_layout = run(
        answer_with_renderer(
            layout, AgentSettings(mode="visual", chunk_tokens=50), Question(DOCUMENT, "q"), [64]
        )
    )
    assert "headings near the top" in layout.calls[0]["prompt"]
    # Traces name the prompt versions they were drafted with.
    assert plain.prompts["draft"] == DRAFT_MARKDOWN_PLAIN.id == "draft-markdown-plain@v1"
    assert with_layout.prompts["draft"] == DRAFT_MARKDOWN_LAYOUT.id


def test_html_mode_renders_the_memory_as_html():
    html = '```html\n<h1 style="color:#ff0000">Kestrel Ford</h1>\n```'
    model = ScriptedModel(lambda prompt, images: html if "<article>" in prompt else "\\boxed{Kestrel Ford}")
    trace = run(
        answer_with_renderer(
            model, AgentSettings(mode="visual-html", chunk_tokens=50), Question(DOCUMENT, "q"), [1024]
        )
    )
    assert "```html" in model.calls[0]["prompt"]
    pixels = np.asarray(trace.render.image.convert("RGB")).reshape(-1, 3).astype(int)
    red = (pixels[:, 0] > 200) & (pixels[:, 1] < 60) & (pixels[:, 2] < 60)
    assert red.sum() > 100  # the heading is drawn in red, not shown as source code
    assert trace.render.input_format == "html"
    assert trace.answers[0].answer == "Kestrel Ford"


def test_think_blocks_are_dropped_from_the_memory():
    model = ScriptedModel(
        lambda prompt, images: "<think>plan</think>\n# Memory" if "<section>" in prompt else "x"
    )
    trace = run(
        MemoryAgent(model, AgentSettings(mode="text", chunk_tokens=50)).answer(Question(DOCUMENT, "q"), [8])
    )
    assert trace.final_memory == "# Memory"
    assert trace.answers[0].answer is None


@pytest.mark.slow
def test_many_questions_at_once_keep_their_order_and_are_saved_as_they_finish(tmp_path):
    model = ScriptedModel(drafting_reply)
    writer = TraceWriter(tmp_path)
    questions = [Question(DOCUMENT, f"question {i}?", question_id=f"q{i}", golds=["w22"]) for i in range(4)]

    async def go():
        async with AsyncRenderer(pages=2) as renderer:
            agent = MemoryAgent(model, AgentSettings(chunk_tokens=12), renderer)
            return await agent.answer_many(questions, [64, 16], concurrency=3, on_done=writer.write)

    traces = run(go())
    assert [trace.question_id for trace in traces] == ["q0", "q1", "q2", "q3"]
    saved = {trace.question_id: trace for trace in read_traces(tmp_path / "traces.jsonl")}
    assert set(saved) == {"q0", "q1", "q2", "q3"}
    again = saved["q2"]
    assert again.answer_for(16).answer == "w22" and again.golds == ["w22"]
    assert (tmp_path / again.render.image_path).exists()
    assert (tmp_path / again.answer_for(64).image_path).exists()
    assert again.steps[0].memory == traces[2].steps[0].memory


def test_visual_modes_require_a_renderer_and_budgets_are_checked():
    model = ScriptedModel(drafting_reply)
    with pytest.raises(ValueError, match="renderer"):
        MemoryAgent(model, AgentSettings(mode="visual"))
    agent = MemoryAgent(model, AgentSettings(mode="text"))
    with pytest.raises(ValueError, match="budget"):
        run(agent.answer(Question(DOCUMENT, "q"), [0]))
    with pytest.raises(ValueError, match="mode"):
        AgentSettings(mode="pictures")


def failing_at_draft(number: int, error: Exception):
    """Drafts like `drafting_reply` but raises ``error`` on drafting turn ``number`` (1-based)."""
    drafts = 0

    def reply(prompt: str, images: list) -> str:
        nonlocal drafts
        if "<article>" in prompt or "<section>" in prompt:
            drafts += 1
            if drafts == number:
                raise error
        return drafting_reply(prompt, images)

    return reply


def test_a_model_error_mid_drafting_keeps_every_finished_draft():
    model = ScriptedModel(failing_at_draft(3, ModelError("server answered 500")))
    saved: list = []

    async def go():
        async with AsyncRenderer(pages=1) as renderer:
            agent = MemoryAgent(model, AgentSettings(chunk_tokens=5), renderer)
            await agent.answer(Question(DOCUMENT, "q?", question_id="q1"), [64], on_step=saved.append)

    with pytest.raises(QuestionFailed) as raised:
        run(go())
    failed = raised.value
    assert "drafting chunk 3 of 5 failed: server answered 500" in str(failed)
    assert failed.exit_code == 1 and isinstance(failed.cause, ModelError)
    trace = failed.trace
    assert [step.chunk_index for step in trace.steps] == [0, 1] == [step.chunk_index for step in saved]
    assert trace.final_memory == "# Seen w9\n\nsome **details**"
    assert trace.error.stage == "drafting" and trace.error.chunk_index == 2
    assert trace.error.type == "ModelError" and trace.error.traceback is None
    assert trace.answers == [] and trace.render is None and trace.chunks_total == 5


def test_a_bug_in_a_backend_is_recorded_with_its_traceback():
    model = ScriptedModel(failing_at_draft(1, KeyError("choices")))
    agent = MemoryAgent(model, AgentSettings(mode="text", chunk_tokens=50))
    with pytest.raises(QuestionFailed) as raised:
        run(agent.answer(Question(DOCUMENT, "q?"), [8]))
    error = raised.value.trace.error
    assert error.type == "KeyError" and "KeyError: 'choices'" in error.traceback


def test_an_answer_failure_keeps_the_answers_at_earlier_budgets():
    def reply(prompt: str, images: list) -> str:
        if "<article>" not in prompt and images and images[0].width * images[0].height < 20 * 784:
            raise ModelError("image too small for this server")
        return drafting_reply(prompt, images)

    async def go():
        async with AsyncRenderer(pages=1) as renderer:
            agent = MemoryAgent(ScriptedModel(reply), AgentSettings(chunk_tokens=50), renderer)
            await agent.answer(Question(DOCUMENT, "q?"), [256, 64, 16])

    with pytest.raises(QuestionFailed, match="answering at budget 16 failed") as raised:
        run(go())
    trace = raised.value.trace
    assert [answer.budget for answer in trace.answers] == [256, 64]
    assert trace.render is not None and trace.error.budget == 16 and len(trace.steps) == 1


@pytest.mark.slow
def test_one_failing_question_does_not_stop_the_others(tmp_path):
    def reply(prompt: str, images: list) -> str:
        if "poison" in prompt:
            raise ModelError("refused")
        return drafting_reply(prompt, images)

    writer = TraceWriter(tmp_path)
    questions = [
        Question(DOCUMENT, f"{word} {i}?", question_id=f"q{i}")
        for i, word in enumerate(["ok", "poison", "ok"])
    ]

    async def go():
        async with AsyncRenderer(pages=1) as renderer:
            agent = MemoryAgent(ScriptedModel(reply), AgentSettings(chunk_tokens=50), renderer)
            return await agent.answer_many(questions, [64], on_done=writer.write)

    traces = run(go())
    assert [trace.failed for trace in traces] == [False, True, False]
    saved = {trace.question_id: trace for trace in read_traces(tmp_path / "traces.jsonl")}
    assert saved["q1"].error.message == "refused" and saved["q1"].error.stage == "drafting"
    assert saved["q0"].answers[0].answer == "w22" and saved["q2"].error is None


def test_trace_folders_never_collide(tmp_path):
    writer = TraceWriter(tmp_path)
    first, second = writer.start("ask-20261125-120000"), writer.start("ask-20261125-120000")
    assert first.folder != second.folder and first.folder.is_dir() and second.folder.is_dir()


@pytest.mark.slow
def test_answer_from_memory_renders_the_given_memory_and_never_drafts():
    model = ScriptedModel(drafting_reply)
    memory = "# Kestrel Ford\n\nThe bridge was built in **1794**."

    async def go():
        async with AsyncRenderer(pages=1) as renderer:
            agent = MemoryAgent(model, AgentSettings(chunk_tokens=5), renderer)
            return await agent.answer_from_memory(Question("", "Where?"), memory, [256, 16])

    trace = run(go())
    assert trace.steps == [] and trace.final_memory == memory
    assert len(model.calls) == 2 and all(len(call["images"]) == 1 for call in model.calls)
    assert trace.render is not None and trace.render.content_height > 0
    assert [a.budget for a in trace.answers] == [256, 16]
    assert all(a.visual_tokens <= a.budget for a in trace.answers)


def test_attempt_returns_a_failed_trace_instead_of_raising_and_uses_the_question_seed():
    model = ScriptedModel(drafting_reply, context_length=64)
    agent = MemoryAgent(model, AgentSettings(mode="text", chunk_tokens=5000))
    failed = run(agent.attempt(Question(DOCUMENT, "q?"), [16]))
    assert failed.error is not None and failed.error.stage == "planning"
    assert failed.error.type == "ContextLengthError" and model.calls == []

    agent = MemoryAgent(ScriptedModel(drafting_reply), AgentSettings(mode="text", chunk_tokens=5, seed=1))
    trace = run(agent.attempt(Question(DOCUMENT, "q?", seed=1234), [16]))
    assert trace.error is None and trace.settings["seed"] == 1234
    assert {call["sampling"].seed for call in agent.model.calls} == {1234}


def test_ask_image_sends_an_answer_turn_with_the_image_as_given():
    from PIL import Image

    from memocr.models.base import SamplingParams
    from memocr.prompts import PromptTemplate

    class WithSystem(ScriptedModel):
        system_prompt = PromptTemplate("test-system", 1, "Be brief. ")  # comes first, as in every turn

    model = WithSystem(drafting_reply)
    agent = MemoryAgent(model, AgentSettings(), AsyncRenderer(pages=1))  # never started: not used
    image = Image.new("RGB", (1000, 700), "white")  # larger than any budget: it must not be fitted
    sampling = SamplingParams(max_tokens=8, seed=5)
    done = run(agent.ask_image(image, agent.answer_prompt("Where?"), sampling))
    assert done.text == "The answer is \\boxed{w22}"
    (call,) = model.calls
    assert call["images"] == [image] and call["sampling"] == sampling
    assert "<problem>\nWhere?\n</problem>" in call["prompt"]
    assert call["prompt"].startswith("Be brief. ")
