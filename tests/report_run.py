"""A fake evaluation run directory for the report tests: records, drafts and trace folders, no model."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from PIL import Image

from memocr import store
from memocr.eval.results import DRAFTS_FILE, RESULTS_FILE, DraftRecord, ResultRecord
from memocr.trace import DraftStep

HOSTILE_MEMORY = "# Facts\n<script>alert(1)</script>\n**Paris** is the capital & <b>bold</b>"


def result(
    question_id: str,
    *,
    dataset: str = "hotpotqa",
    length: int = 50,
    mode: str = "visual",
    budget: int = 1024,
    sub_em: float | None = 1.0,
    em: float | None = None,
    f1: float | None = None,
    error: dict | None = None,
    prediction: str | None = "Paris",
    golds: list[str] | None = None,
    trace: str | None = None,
    tokens: int | None = None,
    seconds: dict[str, float] | None = None,
    question: str = "",
) -> ResultRecord:
    failed = error is not None
    return ResultRecord(
        question_id=question_id,
        dataset=dataset,
        length=length,
        mode=mode,
        budget=budget,
        prediction=None if failed else prediction,
        response="" if failed else f"\\boxed{{{prediction}}}",
        golds=golds or ["Paris"],
        em=None if failed else (sub_em if em is None else em),
        f1=None if failed else (sub_em if f1 is None else f1),
        sub_em=None if failed else sub_em,
        model="fake://model",
        scoring="boxed",
        visual_tokens=None if mode == "text" else (tokens if tokens is not None else budget),
        memory_tokens=(tokens if tokens is not None else budget) if mode == "text" else None,
        image_width=None if mode == "text" else 28,
        image_height=None if mode == "text" else 28,
        seconds=seconds if seconds is not None else {"draft": 10.0, "answer": 2.0, "fit": 0.5},
        trace=trace,
        error=error,
        question=question,
    )


def png(path: Path, size: tuple[int, int] = (56, 28), color: str = "navy") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


def question_folder(run: Path, dataset: str, length: int, mode: str, question_id: str) -> str:
    return f"traces/{dataset}-{length}/{mode}/{question_id}"


def write_question(
    run: Path,
    question_id: str,
    *,
    dataset: str = "hotpotqa",
    length: int = 50,
    mode: str = "visual",
    budgets: dict[int, float | None],
    question: str = "What is the capital of France?",
    golds: list[str] | None = None,
    memories: list[str] | None = None,
    failed_budgets: tuple[int, ...] = (),
    resumed_budgets: tuple[int, ...] = (),
) -> None:
    """One question × mode with its drafts, final memory, images and one result per budget.

    ``budgets`` maps budget → sub-EM; budgets in ``failed_budgets`` get an error instead;
    those in ``resumed_budgets`` are answered in the second folder ``<id>-2``, as a resumed run does.
    """
    golds = golds or ["Paris"]
    memories = memories or ["# Draft one", "# Draft two", "# Final\n**Paris**"]
    folder = question_folder(run, dataset, length, mode, question_id)
    base = run / folder
    base.mkdir(parents=True, exist_ok=True)
    with (base / "steps.jsonl").open("w", encoding="utf-8") as stream:
        for index, memory in enumerate(memories):
            step = DraftStep(index, 100, memory, 500, 50, 1.5)
            stream.write(json.dumps(dataclasses.asdict(step)) + "\n")
    (base / "memory.md").write_text(memories[-1], encoding="utf-8")
    if mode != "text":
        png(base / "rendered.png", (120, 200), "white")
    store.append(
        run / DRAFTS_FILE,
        [
            DraftRecord(
                question_id=question_id,
                dataset=dataset,
                length=length,
                mode=mode,
                question=question,
                golds=golds,
                final_memory=memories[-1],
                model="fake://model",
                document_tokens=1000,
                chunks=len(memories),
                draft_seconds=4.5,
                trace=folder,
            )
        ],
    )
    for budget, score in budgets.items():
        answered_in = f"{folder}-2" if budget in resumed_budgets else folder
        error = None
        if budget in failed_budgets:
            error = {"stage": "answering", "type": "ModelError", "message": "server said 500 <oops>"}
        elif mode != "text":
            png(run / answered_in / f"budget-{budget}.png", (28 * max(1, budget // 64), 28))
        store.append(
            run / RESULTS_FILE,
            [
                result(
                    question_id,
                    dataset=dataset,
                    length=length,
                    mode=mode,
                    budget=budget,
                    sub_em=score,
                    error=error,
                    golds=golds,
                    trace=answered_in,
                )
            ],
        )


def make_run(run: Path) -> Path:
    """A small run: two datasets, two modes, two budgets, a failure, a resumed budget, a hostile memory."""
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.yaml").write_text("model: fake://model\nbudgets: [1024, 16]\n", encoding="utf-8")
    write_question(run, "q1", budgets={1024: 1.0, 16: 1.0}, memories=["# One", "# Two", HOSTILE_MEMORY])
    write_question(run, "q2", budgets={1024: 1.0, 16: 0.0}, resumed_budgets=(16,))
    write_question(run, "q1", mode="text", budgets={1024: 1.0, 16: 0.0})
    write_question(run, "q2", mode="text", budgets={1024: 0.0, 16: 0.0}, failed_budgets=(16,))
    write_question(run, "t1", dataset="triviaqa", budgets={1024: 1.0, 16: 1.0}, question="Who wrote it?")
    write_question(run, "t1", dataset="triviaqa", mode="text", budgets={1024: 1.0, 16: 1.0})
    return run
