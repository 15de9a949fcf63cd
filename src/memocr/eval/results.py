"""The evaluation's result records: one JSON line per question × mode × budget, appended durably.

A run directory holds ``results.jsonl`` (these records), ``drafts.jsonl`` (one `DraftRecord` per
question × mode once its memory is final, so that a resumed run can answer missing budgets from it
without drafting again) and the per-question trace folders. Records are only ever appended (through
`memocr.store`); a reader keeps the last record of each key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memocr import store

RESULT_SCHEMA_VERSION = 1
RESULTS_FILE = "results.jsonl"
DRAFTS_FILE = "drafts.jsonl"
CONFIG_FILE = "config.yaml"


@dataclass
class ResultRecord:
    """One answer, scored. ``error`` is set (and the scores are None) when the question failed."""

    question_id: str
    dataset: str
    length: int  # documents in the context (num_docs): 50/200/800 ≈ 10K/30K/100K tokens
    mode: str
    budget: int
    prediction: str | None  # the answer extracted from ``response`` by the run's scoring rule
    response: str
    golds: list[str]
    em: float | None
    f1: float | None
    sub_em: float | None
    model: str
    scoring: str
    visual_tokens: int | None = None  # visual modes: tokens the fitted image costs
    memory_tokens: int | None = None  # text mode: tokens of the memory shown
    image_width: int | None = None
    image_height: int | None = None
    document_tokens: int = 0
    chunks: int = 0
    # Seconds: "draft" (the whole drafting pass, shared by every budget of the question × mode),
    # "render", "fit", "answer", "ocr" where they apply.
    seconds: dict[str, float] = field(default_factory=dict)
    prompts: dict[str, str] = field(default_factory=dict)
    seed: int | None = None
    trace: str | None = None  # the question's trace folder, relative to the run directory
    error: dict[str, Any] | None = None  # {"stage", "type", "message"}
    question: str = ""
    schema_version: int = RESULT_SCHEMA_VERSION

    @property
    def key(self) -> tuple[str, str, int, str, str, int]:
        return result_key(self.dataset, self.length, self.question_id, self.mode, self.budget)

    @property
    def failed(self) -> bool:
        return self.error is not None


def result_key(dataset: str, length: int, question_id: str, mode: str, budget: int) -> tuple:
    return ("result", dataset, length, question_id, mode, budget)


@dataclass
class DraftRecord:
    """A question × mode whose drafting finished: the final memory every budget is answered from."""

    question_id: str
    dataset: str
    length: int
    mode: str
    question: str
    golds: list[str]
    final_memory: str
    model: str
    document_tokens: int
    chunks: int
    draft_seconds: float
    supporting_facts: list[str] = field(default_factory=list)
    trace: str | None = None
    schema_version: int = RESULT_SCHEMA_VERSION

    @property
    def key(self) -> tuple:
        return ("draft", self.dataset, self.length, self.question_id, self.mode)


def read_results(run_dir: str | Path) -> list[ResultRecord]:
    """The run's result records, the last one of each key, in the order keys first appeared."""
    return store.read_latest(Path(run_dir) / RESULTS_FILE, ResultRecord)


def read_drafts(run_dir: str | Path) -> list[DraftRecord]:
    """The run's finished drafts, the last one of each question × mode."""
    return store.read_latest(Path(run_dir) / DRAFTS_FILE, DraftRecord)
