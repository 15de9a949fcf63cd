"""What happened while answering one question: a typed, versioned record saved as a JSON line + PNGs.

A `Trace` holds every memory draft, how the final memory was rendered, and one `BudgetAnswer` per
visual-token budget (the image actually sent, the tokens it cost, the answer). Images travel with the
trace in memory and are written next to the JSON line by `TraceWriter`, which appends one line per
finished question so that nothing already answered is lost if a later question fails.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from memocr.errors import InputError

SCHEMA_VERSION = 1


@dataclass
class DraftStep:
    """One drafting turn: the chunk it read and the memory it wrote (which replaced the previous one)."""

    chunk_index: int
    chunk_tokens: int
    memory: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    prefill_seconds: float | None = None
    decode_seconds: float | None = None


@dataclass
class RenderInfo:
    """The final memory rendered once, before it is fitted to each budget."""

    profile: str
    input_format: str
    width: int
    height: int
    content_width: int
    content_height: int
    clipped_px: int
    seconds: float
    image_path: str | None = None
    image: Image.Image | None = field(default=None, repr=False, compare=False)


@dataclass
class BudgetAnswer:
    """The answer turn at one budget: what the model saw, what it cost, what it said."""

    budget: int
    response: str
    answer: str | None
    prompt_tokens: int
    completion_tokens: int
    answer_seconds: float
    # Visual modes: the fitted image and its cost counted by the processor's rule; what the model or
    # server reported it consumed, where it reports it.
    image_width: int | None = None
    image_height: int | None = None
    visual_tokens: int | None = None
    reported_image_tokens: int | None = None
    fit_seconds: float | None = None
    ocr_text: str | None = None
    ocr_seconds: float | None = None
    prefill_seconds: float | None = None
    decode_seconds: float | None = None
    # Text mode: how many tokens of the memory the model was shown.
    memory_tokens: int | None = None
    image_path: str | None = None
    image: Image.Image | None = field(default=None, repr=False, compare=False)


@dataclass
class Trace:
    question_id: str
    question: str
    mode: str
    model: str
    prompts: dict[str, str]
    chunk_tokens: int
    document_tokens: int
    steps: list[DraftStep]
    final_memory: str
    render: RenderInfo | None
    answers: list[BudgetAnswer]
    seconds: float
    timings: dict[str, float]
    golds: list[str] | None = None
    schema_version: int = SCHEMA_VERSION

    def answer_for(self, budget: int) -> BudgetAnswer:
        for answer in self.answers:
            if answer.budget == budget:
                return answer
        raise KeyError(f"no answer at budget {budget}; budgets answered: {[a.budget for a in self.answers]}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; images are left out (they are saved as files)."""
        return _without_images(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trace:
        if data.get("schema_version") != SCHEMA_VERSION:
            raise InputError(f"trace schema {data.get('schema_version')} is not {SCHEMA_VERSION}")
        data = dict(data)
        data["steps"] = [DraftStep(**step) for step in data["steps"]]
        data["render"] = RenderInfo(**data["render"]) if data["render"] else None
        data["answers"] = [BudgetAnswer(**answer) for answer in data["answers"]]
        return cls(**data)


def _without_images(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_images(item) for key, item in value.items() if key != "image"}
    if isinstance(value, list):
        return [_without_images(item) for item in value]
    return value


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "question"


class TraceWriter:
    """Appends traces to ``DIR/traces.jsonl`` and writes their images under ``DIR/<question_id>/``."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / "traces.jsonl"

    def write(self, trace: Trace) -> Path:
        """Save the trace's images and append its JSON line; returns the question's image folder."""
        folder = self.directory / _safe_name(trace.question_id)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "memory.md").write_text(trace.final_memory, encoding="utf-8")
        if trace.render is not None and trace.render.image is not None:
            trace.render.image_path = str((folder / "rendered.png").relative_to(self.directory))
            trace.render.image.save(folder / "rendered.png")
        for answer in trace.answers:
            if answer.image is not None:
                name = f"budget-{answer.budget}.png"
                answer.image_path = str((folder / name).relative_to(self.directory))
                answer.image.save(folder / name)
        with self.path.open("a", encoding="utf-8") as stream:
            stream.write(json.dumps(trace.to_dict(), ensure_ascii=False) + "\n")
        return folder


def read_traces(path: str | Path) -> list[Trace]:
    """Load every trace of a ``traces.jsonl`` file (images stay on disk, referenced by path)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [Trace.from_dict(json.loads(line)) for line in lines if line.strip()]
