"""Traces as JSON: a round trip keeps every field, leaves images out of the line and on the trace."""

from __future__ import annotations

import json

from PIL import Image

from memocr.trace import BudgetAnswer, DraftStep, RenderInfo, Trace, TraceError, TraceWriter, read_traces


def make_trace() -> Trace:
    image = Image.new("RGB", (56, 28), "white")
    return Trace(
        question_id="q1",
        question="Where?",
        mode="visual",
        model="scripted",
        prompts={"draft": "draft-markdown-layout@v1", "answer": "answer-image@v1"},
        chunk_tokens=5,
        document_tokens=12,
        steps=[DraftStep(0, 5, "# A", 10, 2, 0.1), DraftStep(1, 5, "# B\n\nbody", 12, 3, 0.2, 0.05, 0.15)],
        final_memory="# B\n\nbody",
        render=RenderInfo("full", "markdown", 1152, 40, 1100, 38, 0, 0.3, image=image),
        answers=[BudgetAnswer(16, "\\boxed{B}", "B", 20, 3, 0.4, 56, 28, 2, image=image)],
        seconds=1.0,
        timings={"drafting": 0.3},
        golds=["B"],
        settings={"seed": 7, "adjustments": ["chunk lowered"]},
        chunks_total=2,
        error=TraceError("answering", "ModelError", "gone", budget=64),
    )


def test_round_trip_keeps_every_field_and_leaves_images_out_of_the_json():
    trace = make_trace()
    data = trace.to_dict()
    assert '"image":' not in json.dumps(data)
    assert trace.render.image is not None and trace.answers[0].image is not None  # the trace keeps them
    again = Trace.from_dict(json.loads(json.dumps(data)))
    trace.render.image = trace.answers[0].image = None
    assert again == trace


def test_writer_saves_images_beside_the_line_and_reads_back(tmp_path):
    folder = TraceWriter(tmp_path).write(make_trace())
    assert Image.open(folder / "rendered.png").size == (56, 28)
    assert Image.open(folder / "budget-16.png").size == (56, 28)
    (saved,) = read_traces(tmp_path / "traces.jsonl")
    assert saved.answers[0].image_path == "q1/budget-16.png" and saved.render.image_path == "q1/rendered.png"
    assert [step.memory for step in saved.steps] == ["# A", "# B\n\nbody"]
