"""The evaluation's result records: one JSON line per question × mode × budget, appended durably.

A run directory holds ``results.jsonl`` (these records), ``drafts.jsonl`` (one `DraftRecord` per
question × mode once its memory is final, so that a resumed run can answer missing budgets from it
without drafting again) and the per-question trace folders. Records are only ever appended; a reader
keeps the last record of each key, skips a torn last line (a process killed mid-write) and reports
any other unreadable line with its file and line number.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from memocr.errors import InputError

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


T = TypeVar("T")  # a record dataclass with a ``key`` property


def append_record(path: Path, record: Any) -> None:
    """Append one record as a line and fsync, so a crash never loses a record already returned."""
    append_records(path, [record])


def append_records(path: Path, records: Iterable[Any]) -> None:
    """Append dataclass records, one JSON line each, and fsync once."""
    lines = "".join(json.dumps(dataclasses.asdict(record), ensure_ascii=False) + "\n" for record in records)
    with path.open("a", encoding="utf-8") as stream:
        stream.write(lines)
        stream.flush()
        os.fsync(stream.fileno())


def repair_torn_tail(path: Path) -> bool:
    """Cut a last line left without its newline by a killed writer; True when something was cut.

    Called before appending to an existing file, so the next record starts on a line of its own.
    """
    if not path.exists() or path.stat().st_size == 0:
        return False
    with path.open("rb+") as stream:
        stream.seek(0, os.SEEK_END)
        size = stream.tell()
        stream.seek(max(0, size - 1))
        if stream.read(1) == b"\n":
            return False
        data = path.read_bytes()
        cut = data.rfind(b"\n") + 1
        stream.truncate(cut)
    return True


def _read(path: Path, cls: type[T]) -> Iterator[T]:
    if not path.exists():
        return
    lines = path.read_bytes().split(b"\n")
    names = {f.name for f in dataclasses.fields(cls)}
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        torn_tail = number == len(lines)  # no newline after it: a write cut short
        try:
            data = json.loads(raw.decode("utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            missing = {
                f.name
                for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            } - data.keys()
            if missing:
                raise ValueError(f"missing {', '.join(sorted(missing))}")
            yield cls(**{key: value for key, value in data.items() if key in names})
        except (ValueError, TypeError, UnicodeDecodeError) as error:
            if torn_tail:
                return
            raise InputError(f"{path} line {number}: not a {cls.__name__} ({error})") from None


def read_latest(path: Path, cls: type[T]) -> list[T]:
    """The records of a JSON-lines file of ``cls``, the last one of each ``key``, in the order keys
    first appeared; a torn last line is skipped, any other bad line is an error naming it."""
    return _latest(_read(path, cls))


def read_results(run_dir: str | Path) -> list[ResultRecord]:
    """The run's result records, the last one of each key, in the order keys first appeared."""
    return read_latest(Path(run_dir) / RESULTS_FILE, ResultRecord)


def read_drafts(run_dir: str | Path) -> list[DraftRecord]:
    """The run's finished drafts, the last one of each question × mode."""
    return read_latest(Path(run_dir) / DRAFTS_FILE, DraftRecord)


def _latest(records: Iterator[T]) -> list[T]:
    latest: dict[tuple, T] = {}
    for record in records:
        latest[record.key] = record  # type: ignore[attr-defined]
    return list(latest.values())
