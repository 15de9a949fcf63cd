"""A static HTML report of an evaluation run, browsable from ``file://``.

``index.html`` shows the accuracy table and plots, then one row per answer (question × mode × budget:
prediction, gold, sub-EM, tokens, a thumbnail of the image the model saw) with filters by dataset,
length, mode, budget and outcome (a few lines of inline JavaScript that only hide rows; the first
500 matching rows are shown, more on request, so that an index of thousands opens quickly). Each
question has a page of its own under ``questions/``: per mode, every answer with its scores and
error, each budgeted image, the rendered memory, the final memory and every memory draft in order.

Pages are rendered from the Jinja2 templates in ``templates/`` with autoescaping, so every value shows
as text, never as markup; a Content-Security-Policy lets only the index's own script run. Images are
not copied: pages link to the PNGs in the run's trace folders by relative path (lazy loading). A trace
path that leads out of the run directory (``..``, an absolute path, a symlink) is shown as an error and
never read or linked, and so is a ``steps.jsonl`` that cannot be read; the rest of the report stands.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from memocr import store
from memocr.errors import InputError
from memocr.eval.results import DraftRecord, ResultRecord
from memocr.report.data import Run
from memocr.report.table import MODE_ORDER, ReportTable, mode_label, table_rows

QUESTIONS_DIR = "questions"
PAGE_ROWS = 500  # answers shown at first, and added per "show more", so a large index opens fast


@dataclass
class Question:
    dataset: str
    length: int
    question_id: str
    results: dict[str, list[ResultRecord]]  # mode → records, largest budget first
    drafts: dict[str, DraftRecord]  # mode → finished draft

    @property
    def text(self) -> str | None:
        asked = [r.question for records in self.results.values() for r in records if r.question]
        return next((draft.question for draft in self.drafts.values()), None) or next(iter(asked), None)

    @property
    def golds(self) -> list[str]:
        return next((records[0].golds for records in self.results.values() if records), [])


def group_questions(run: Run) -> list[Question]:
    grouped: dict[tuple[str, int, str], dict[str, list[ResultRecord]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for record in run.results:
        grouped[(record.dataset, record.length, record.question_id)][record.mode].append(record)
    questions = []
    for (dataset, length, question_id), by_mode in grouped.items():
        modes = [m for m in MODE_ORDER if m in by_mode] + sorted(set(by_mode) - set(MODE_ORDER))
        results = {m: sorted(by_mode[m], key=lambda r: r.budget, reverse=True) for m in modes}
        drafts = {m: d for m in modes if (d := run.draft_for(dataset, length, question_id, m)) is not None}
        questions.append(Question(dataset, length, question_id, results, drafts))
    return questions


def _safe(text: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "question"
    if safe != text:
        safe += "-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    return safe


def question_page_path(question: Question) -> str:
    """The question's page, relative to the report folder (POSIX separators)."""
    return (
        f"{QUESTIONS_DIR}/{_safe(f'{question.dataset}-{question.length}')}/{_safe(question.question_id)}.html"
    )


@dataclass(frozen=True)
class Link:
    url: str | None = None  # relative to the page; None when the file is not there
    error: str | None = None


class TraceFiles:
    """Files in the run's trace folders, confined to the run directory, as seen from one page."""

    def __init__(self, run_dir: Path, page_dir: Path) -> None:
        self.root = run_dir.resolve()
        self.page_dir = page_dir.resolve()

    def path(self, folder: str | None, name: str) -> Path | None:
        """The file, None when it is not there; `InputError` when the path leads out of the run."""
        if not folder:
            return None
        try:
            target = (self.root / folder / name).resolve()
        except (OSError, RuntimeError):  # a symlink loop
            target = None
        if target is None or not target.is_relative_to(self.root):
            raise InputError(f"trace file {folder}/{name} is outside the run directory; it is not read")
        return target if target.is_file() else None

    def link(self, folder: str | None, name: str) -> Link:
        try:
            target = self.path(folder, name)
        except InputError as error:
            return Link(error=str(error))
        return Link(
            None if target is None else quote(Path(os.path.relpath(target, self.page_dir)).as_posix())
        )


def outcome(record: ResultRecord) -> str:
    if record.failed or record.sub_em is None:
        return "failed"
    return "correct" if record.sub_em >= 0.5 else "wrong"


def tokens(record: ResultRecord) -> str:
    if record.mode == "text":
        return "" if record.memory_tokens is None else f"{record.memory_tokens} mem"
    return "" if record.visual_tokens is None else str(record.visual_tokens)


def error_text(error: dict | None) -> str:
    if not error:
        return ""
    return f"{error.get('stage', '?')}: {error.get('type', 'Error')}: {error.get('message', '')}"


_ENV = Environment(
    loader=PackageLoader("memocr.report"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    finalize=lambda value: "" if value is None else value,
)
_ENV.globals.update(
    outcome=outcome,
    tokens=tokens,
    error_text=error_text,
    marks={"correct": ("ok", "✓"), "wrong": ("bad", "✗"), "failed": ("err", "failed")},
)


def _render(template: str, title: str, script: str | None = None, **values: object) -> str:
    scripts = "'none'"
    if script:
        digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
        scripts = f"'sha256-{digest}'"
    csp = f"default-src 'none'; img-src 'self' file: data:; style-src 'unsafe-inline'; script-src {scripts}"
    page = _ENV.get_template(template)
    # The script is our own file, not data: marked safe so that its hash matches what the page holds.
    return page.render(title=title, csp=csp, script=Markup(script) if script else None, **values)


@dataclass
class _Row:
    record: ResultRecord
    page: str
    short: str
    image: Link


def index_html(
    run: Run,
    table: ReportTable,
    questions: list[Question],
    out_dir: Path,
    plots: list[str],
    page_rows: int = PAGE_ROWS,
) -> str:
    files = TraceFiles(run.path, out_dir)
    rows = []
    for question in questions:
        page = quote(question_page_path(question))
        text = question.text or question.question_id
        short = text if len(text) <= 120 else text[:117] + "…"
        for mode, records in question.results.items():
            for record in records:
                image = files.link(record.trace, f"budget-{record.budget}.png") if mode != "text" else Link()
                rows.append(_Row(record, page, short, image))
    budgets = sorted({b for bs in table.budgets.values() for b in bs}, reverse=True)
    filters = [
        ("dataset", table.datasets),
        ("length", table.lengths),
        ("mode", table.modes),
        ("budget", budgets),
        ("outcome", ["correct", "wrong", "failed"]),
    ]
    return _render(
        "index.html",
        "memocr eval report",
        _ENV.loader.get_source(_ENV, "filter.js")[0],  # type: ignore[union-attr]
        run_path=run.path.resolve(),
        questions=len(questions),
        table=table,
        models=sorted({r.model for r in run.results}),
        config_text=run.config_text,
        summary=table_rows(table),
        plots=[(quote(name), name) for name in plots],
        filters=filters,
        rows=rows,
        page_rows=page_rows,
    )


@dataclass
class _Mode:
    name: str
    label: str
    records: list[ResultRecord]
    figures: list[tuple[Link, str, str]]  # each budget's image, caption, what to say when it is missing
    rendered: Link
    final: str | None
    steps: list[tuple[str, str]]  # each draft: what it was, the memory
    errors: list[str]


def _folders(question: Question, mode: str) -> list[str]:
    """Trace folders of one question × mode, the drafting folder first."""
    draft = question.drafts.get(mode)
    folders = [draft.trace] if draft is not None and draft.trace else []
    return folders + [r.trace for r in question.results[mode] if r.trace and r.trace not in folders]


def _step_info(step: dict) -> str:
    turn = "headline turn" if step.get("headline") else f"chunk {step.get('chunk_index', '?')}"
    info = f"{turn}, {step.get('completion_tokens', '?')} tokens written"
    seconds = step.get("seconds")
    return info + (f", {seconds:.1f} s" if isinstance(seconds, int | float) else "")


def _mode(question: Question, mode: str, files: TraceFiles) -> _Mode:
    records = question.results[mode]
    folders = _folders(question, mode)
    errors: list[str] = []

    def first(name: str, read: Callable[[Path], Any]) -> Any:  # the first folder's file that has some
        for folder in folders:
            try:
                path = files.path(folder, name)
                value = read(path) if path is not None else None
            except (InputError, OSError) as error:
                errors.append(str(error))
                continue
            if value:
                return value
        return None

    draft = question.drafts.get(mode)
    final = draft.final_memory if draft is not None else None
    if final is None:
        final = first("memory.md", lambda path: path.read_text(encoding="utf-8", errors="replace"))
    steps = first("steps.jsonl", store.read) or []
    figures = [
        (
            files.link(r.trace, f"budget-{r.budget}.png"),
            f"B={r.budget}: {r.image_width}×{r.image_height} px, {r.visual_tokens} visual tokens",
            f"B={r.budget}: no image" + (" (the answer failed)" if r.failed else " in the trace folder"),
        )
        for r in records
    ]
    rendered = next(
        (link for f in folders if (link := files.link(f, "rendered.png")).url or link.error), Link()
    )
    return _Mode(
        name=mode,
        label=mode_label(mode),
        records=records,
        figures=figures if mode != "text" else [],
        rendered=rendered,
        final=final,
        steps=[(_step_info(step), str(step.get("memory", ""))) for step in steps],
        errors=list(dict.fromkeys(errors)),
    )


def question_html(run: Run, question: Question, out_dir: Path) -> str:
    page = out_dir / question_page_path(question)
    files = TraceFiles(run.path, page.parent)
    return _render(
        "question.html",
        f"{question.question_id} — memocr report",
        back=quote(os.path.relpath(out_dir / "index.html", page.parent)),
        question=question,
        modes=[_mode(question, mode, files) for mode in question.results],
    )


def write_html(
    run: Run, table: ReportTable, out_dir: Path, plots: list[str], page_rows: int = PAGE_ROWS
) -> Path:
    """Write ``index.html`` and one page per question; returns the index's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    questions = group_questions(run)
    for question in questions:
        path = out_dir / question_page_path(question)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(question_html(run, question, out_dir), encoding="utf-8")
    index = out_dir / "index.html"
    index.write_text(index_html(run, table, questions, out_dir, plots, page_rows), encoding="utf-8")
    return index
