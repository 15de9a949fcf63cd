"""What happened while answering one question: a typed, versioned record saved as a JSON line + PNGs.

A `Trace` holds every memory draft, how the final memory was rendered, and one `BudgetAnswer` per
visual-token budget (the image actually sent, the tokens it cost, the answer). A question that failed
part-way still has a trace: what was done before the failure, and a `TraceError` saying where it
stopped and why. Images travel with the trace in memory and are written next to the JSON line by
`TraceWriter`, which appends one line per question so that nothing already answered is lost if a
later question fails. While a question runs, `RunRecorder` appends each memory draft to the
question's folder as soon as it is written, so even a killed process leaves its drafts behind.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from memocr import store
from memocr.errors import InputError

SCHEMA_VERSION = 2
# Version 1 traces lack `settings` and `error`; they load with those empty.
READABLE_SCHEMA_VERSIONS = (1, 2)


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
    # The closing turn that put the answer first (memocr.headline); it read no chunk.
    headline: bool = False


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
    # Characters past the layout window, never drawn; True when Markdown was drawn as plain text.
    omitted_chars: int = 0
    plain_text: bool = False
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
    # OCR reader: tokens of the text read cut (from the end) so the answer prompt fits the context.
    ocr_truncated_tokens: int | None = None
    prefill_seconds: float | None = None
    decode_seconds: float | None = None
    # Text mode: how many tokens of the memory the model was shown.
    memory_tokens: int | None = None
    image_path: str | None = None
    image: Image.Image | None = field(default=None, repr=False, compare=False)


@dataclass
class TraceError:
    """Where a question stopped and why: the stage (``chunking``, ``drafting``, ``render``,
    ``answering``), the chunk or budget it was on, the error's type and message. ``traceback`` is
    kept only for errors memocr did not raise on purpose (bugs)."""

    stage: str
    type: str
    message: str
    chunk_index: int | None = None
    budget: int | None = None
    traceback: str | None = None


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
    # The token settings the run used, after fitting them to the model's context.
    settings: dict[str, Any] = field(default_factory=dict)
    chunks_total: int = 0
    error: TraceError | None = None
    schema_version: int = SCHEMA_VERSION

    @property
    def failed(self) -> bool:
        return self.error is not None

    def answer_for(self, budget: int) -> BudgetAnswer:
        for answer in self.answers:
            if answer.budget == budget:
                return answer
        raise KeyError(f"no answer at budget {budget}; budgets answered: {[a.budget for a in self.answers]}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; images are left out (they are saved as files)."""
        return _plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trace:
        if data.get("schema_version") not in READABLE_SCHEMA_VERSIONS:
            raise InputError(
                f"trace schema {data.get('schema_version')} is not one this memocr reads "
                f"({', '.join(map(str, READABLE_SCHEMA_VERSIONS))})"
            )
        data = dict(data, schema_version=SCHEMA_VERSION)
        data["steps"] = [DraftStep(**step) for step in data["steps"]]
        data["render"] = RenderInfo(**data["render"]) if data["render"] else None
        data["answers"] = [BudgetAnswer(**answer) for answer in data["answers"]]
        data["error"] = TraceError(**data["error"]) if data.get("error") else None
        return cls(**data)


def _plain(value: Any) -> Any:
    """Dataclasses as dicts, recursively, without their images. Not `dataclasses.asdict`: that deep-
    copies every field first, images included, which cost more than the rest of saving a trace."""
    if dataclasses.is_dataclass(value):
        return {
            field.name: _plain(getattr(value, field.name))
            for field in dataclasses.fields(value)
            if field.name != "image"
        }
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "question"


class TraceWriter:
    """Appends traces to ``DIR/traces.jsonl`` and writes each question's files under ``DIR/<id>/``.

    A question's folder holds ``steps.jsonl`` (one line per memory draft, appended as drafting goes),
    ``memory.md`` (the final memory), ``rendered.png`` and one ``budget-B.png`` per budget. Folders are
    created exclusively: a second run with the same id gets ``<id>-2``, never the first run's folder.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / "traces.jsonl"

    def start(self, question_id: str) -> RunRecorder:
        """A recorder for one question, in a folder of its own created now."""
        self.directory.mkdir(parents=True, exist_ok=True)
        base = _safe_name(question_id)
        for attempt in itertools.count(1):
            folder = self.directory / (base if attempt == 1 else f"{base}-{attempt}")
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            return RunRecorder(self, folder)
        raise AssertionError("unreachable")

    def write(self, trace: Trace) -> Path:
        """Save a finished (or failed) trace in a new folder; returns the folder."""
        recorder = self.start(trace.question_id)
        recorder.finish(trace)
        return recorder.folder


class RunRecorder:
    """Saves one question as it runs: drafts as they finish (`add_step`), then the whole trace."""

    def __init__(self, writer: TraceWriter, folder: Path) -> None:
        self.writer = writer
        self.folder = folder
        self.steps_path = folder / "steps.jsonl"

    def add_step(self, step: DraftStep) -> None:
        store.append(self.steps_path, [step])

    def finish(self, trace: Trace) -> None:
        """Write the final memory and the images, then append the trace's line to ``traces.jsonl``."""
        root = self.writer.directory
        (self.folder / "memory.md").write_text(trace.final_memory, encoding="utf-8")
        if not self.steps_path.exists():
            for step in trace.steps:
                self.add_step(step)
        # Fast PNG compression: files ~1.3x larger, written several times faster (a run writes many).
        if trace.render is not None and trace.render.image is not None:
            trace.render.image.save(self.folder / "rendered.png", compress_level=1)
            trace.render.image_path = str((self.folder / "rendered.png").relative_to(root))
        for answer in trace.answers:
            if answer.image is not None:
                name = f"budget-{answer.budget}.png"
                answer.image.save(self.folder / name, compress_level=1)
                answer.image_path = str((self.folder / name).relative_to(root))
        store.append(self.writer.path, [trace])


def read_traces(path: str | Path) -> list[Trace]:
    """Load every trace of a ``traces.jsonl`` file (images stay on disk, referenced by path)."""
    return store.read(path, Trace)
