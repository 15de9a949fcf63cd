"""Fault injection: a model that writes hostile memories, run through the whole agent and `memocr ask`.

Every memory in `hostile.HOSTILE` is drafted by a scripted model, rendered by real Chromium and
answered at budgets 1, 16 and 1024. Each run must answer every budget with an image that the
Qwen2-VL processor itself accepts at no more than B tokens. Nothing may hang, crash the process or
leak a traceback.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable

import numpy as np
import pytest
from PIL import Image
from transformers.models.qwen2_vl import image_processing_pil_qwen2_vl as pil_processing

from hostile import HOSTILE, SAMPLE
from memocr.agent import AgentSettings, MemoryAgent, Question, QuestionFailed
from memocr.budget import processor_kwargs
from memocr.cli import main
from memocr.render import FULL, AsyncRenderer
from scripted_model import ScriptedModel

BUDGETS = [1, 16, 1024]
DOCUMENT = " ".join(f"w{i}" for i in range(30))  # three chunks of 10 words for the word tokenizer


def processor_tokens(image: Image.Image) -> int:
    processor = pil_processing.Qwen2VLImageProcessorPil(**processor_kwargs([image]))
    grid_thw = processor(images=[image.convert("RGB")], return_tensors="np")["image_grid_thw"][0]
    return int(np.prod(grid_thw)) // 4


def writes(memory: str):
    def reply(prompt: str, images: list) -> str:
        drafting = "<article>" in prompt or "<section>" in prompt
        return memory if drafting else "\\boxed{fact}"

    return reply


def run_all(mode: str, names: Iterable[str]) -> dict[str, tuple[ScriptedModel, object]]:
    """The named hostile memories through one agent run each; name -> (model, trace or QuestionFailed)."""

    async def go():
        outcomes = {}
        async with AsyncRenderer(pages=2) as renderer:
            for name in names:
                model = ScriptedModel(writes(HOSTILE[name]))
                agent = MemoryAgent(model, AgentSettings(mode=mode, chunk_tokens=10), renderer)
                question = Question(DOCUMENT, "Which fact?", question_id=name)
                try:
                    outcomes[name] = (model, await asyncio.wait_for(agent.answer(question, BUDGETS), 120))
                except QuestionFailed as failed:
                    outcomes[name] = (model, failed)
        return outcomes

    return asyncio.run(go())


@pytest.fixture(scope="module", params=["visual", "visual-html"])
def outcomes(request):
    """The whole corpus through the Markdown path, a sample through the HTML one."""
    return run_all(request.param, HOSTILE if request.param == "visual" else SAMPLE)


@pytest.mark.chromium
@pytest.mark.slow
def test_every_hostile_memory_is_answered_within_every_budget(outcomes):
    for name, (model, outcome) in outcomes.items():
        assert not isinstance(outcome, QuestionFailed), (name, outcome.trace.error)
        assert [answer.budget for answer in outcome.answers] == BUDGETS, name
        sent = [call["images"][0] for call in model.calls if call["images"]]
        assert len(sent) == len(BUDGETS), name
        for answer, image in zip(outcome.answers, sent, strict=True):
            assert image.size == (answer.image_width, answer.image_height), name
            assert processor_tokens(image) == answer.visual_tokens <= answer.budget, (name, answer.budget)
            assert answer.answer == "fact", name
        render = outcome.render  # the capture is bounded whatever the memory says
        assert render.width <= FULL.max_width and render.height <= FULL.max_height, name
    # What could never be drawn is said in the trace, not dropped silently.
    assert outcomes["short_lines_200k"][1].render.omitted_chars > 0  # both in the sample
    assert outcomes["text_100kb"][1].render.omitted_chars == 0


def test_text_mode_reads_every_hostile_memory_within_its_budget():
    async def go():
        results = {}
        for name, memory in HOSTILE.items():
            model = ScriptedModel(writes(memory))
            agent = MemoryAgent(model, AgentSettings(mode="text", chunk_tokens=10))
            results[name] = (model, await agent.answer(Question(DOCUMENT, "q?"), BUDGETS))
        return results

    for name, (model, trace) in asyncio.run(go()).items():
        for answer in trace.answers:
            assert answer.memory_tokens <= answer.budget, name
        shown = [call["prompt"] for call in model.calls if "<section>" not in call["prompt"]]
        assert len(shown) == len(BUDGETS), name


@pytest.mark.chromium
@pytest.mark.slow
@pytest.mark.parametrize("name", ["list_3000_items", "html_width_60000", "word_200k", "special_tokens"])
def test_memocr_ask_answers_a_hostile_memory_without_a_traceback(name, tmp_path, monkeypatch, capsys):
    model = ScriptedModel(writes(HOSTILE[name]))
    monkeypatch.setattr("memocr.models.load_model", lambda spec: model)
    doc = tmp_path / "doc.md"
    doc.write_text(DOCUMENT)
    args = ["ask", "--doc", str(doc), "--question", "Which fact?", "--chunk-tokens", "10"]
    code = main([*args, *[f"--budget={b}" for b in BUDGETS], "--trace-dir", str(tmp_path / "runs")])
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in err, err
    for budget in BUDGETS:
        assert f"budget {budget:>5}: fact" in out
    (line,) = (tmp_path / "runs" / "traces.jsonl").read_text().splitlines()
    trace = json.loads(line)
    assert all(answer["visual_tokens"] <= answer["budget"] for answer in trace["answers"])
