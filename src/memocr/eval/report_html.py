"""A static HTML report of an evaluation run, browsable from ``file://``.

``index.html`` shows the accuracy table and plots, then one row per answer (question × mode × budget:
prediction, gold, sub-EM, tokens, a thumbnail of the image the model saw) with filters by dataset,
length, mode, budget and outcome (a few lines of inline JavaScript that only hide rows; the first
500 matching rows are shown, more on request, so that an index of thousands opens quickly). Each
question has a page of its own under ``questions/``: per mode, every answer with its scores and
error, each budgeted image, the rendered memory, the final memory and every memory draft in order.

Images are not copied: pages link to the PNGs in the run's trace folders by relative path (lazy
loading, so an index of thousands of answers stays light). Every piece of text is escaped: memories
and responses are model output and show as text, never as markup; a Content-Security-Policy lets only
the index's own script run.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from memocr.eval.report_data import Run
from memocr.eval.report_table import MODE_ORDER, ReportTable, mode_label, table_rows
from memocr.eval.results import DraftRecord, ResultRecord

QUESTIONS_DIR = "questions"
PAGE_ROWS = 500  # answers shown at first, and added per "show more", so a large index opens fast

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; vertical-align: top; text-align: left; }
th { background: #f3f3f3; position: sticky; top: 0; }
td.num { text-align: right; white-space: nowrap; }
tr.failed td { background: #fff0f0; }
.ok { color: #176a2c; font-weight: bold; } .bad { color: #b00020; font-weight: bold; }
.err { color: #b00020; }
pre { white-space: pre-wrap; word-break: break-word; background: #f8f8f8; border: 1px solid #ddd;
      padding: 0.5em; max-height: 40em; overflow: auto; }
img.thumb { max-height: 40px; max-width: 160px; border: 1px solid #ddd; }
figure { display: inline-block; margin: 0 1em 1em 0; vertical-align: top; }
figure img { border: 1px solid #ccc; max-width: 100%; }
figcaption { font-size: 0.85em; color: #555; }
.filters label { margin-right: 1em; }
.plots img { max-width: 100%; }
section.mode { border-top: 2px solid #888; margin-top: 2em; }
.muted { color: #777; }
"""

_FILTER_SCRIPT = """
(function () {
  const table = document.getElementById("answers");
  const selects = Array.from(document.querySelectorAll("select[data-filter]"));
  const rows = Array.from(table.querySelectorAll("tbody tr"));
  const shown = document.getElementById("shown");
  const matching = document.getElementById("matching");
  const more = document.getElementById("more");
  const step = Number(table.dataset.pageRows);
  let limit = step;
  function apply() {
    const wanted = selects.map(s => [s.dataset.filter, s.value]).filter(([, v]) => v !== "");
    let matched = 0;
    for (const row of rows) {
      const keep = wanted.every(([k, v]) => row.dataset[k] === v);
      if (keep) matched += 1;
      row.hidden = !keep || matched > limit;
    }
    shown.textContent = String(Math.min(matched, limit));
    matching.textContent = String(matched);
    more.hidden = matched <= limit;
  }
  for (const s of selects) s.addEventListener("change", () => { limit = step; apply(); });
  more.addEventListener("click", () => { limit += step; apply(); });
  apply();
})();
"""


def _hash(script: str) -> str:
    return base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")


def _csp(script: str | None) -> str:
    scripts = f"'sha256-{_hash(script)}'" if script else "'none'"
    policy = (
        f"default-src 'none'; img-src 'self' file: data:; style-src 'unsafe-inline'; script-src {scripts}"
    )
    return f'<meta http-equiv="Content-Security-Policy" content="{policy}">'


def esc(text: object) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def _page(title: str, body: str, script: str | None = None) -> str:
    tail = f"<script>{script}</script>\n" if script else ""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"{_csp(script)}\n<title>{esc(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n{body}\n{tail}</body>\n</html>\n"
    )


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
        for records in self.results.values():
            if records:
                return records[0].golds
        return []


def group_questions(run: Run) -> list[Question]:
    grouped: dict[tuple[str, int, str], dict[str, list[ResultRecord]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for record in run.results:
        grouped[(record.dataset, record.length, record.question_id)][record.mode].append(record)
    questions = []
    for (dataset, length, question_id), by_mode in grouped.items():
        modes = [m for m in MODE_ORDER if m in by_mode] + sorted(set(by_mode) - set(MODE_ORDER))
        results = {m: sorted(by_mode[m], key=lambda r: -r.budget) for m in modes}
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


class _Links:
    """Relative URLs from a page to files of the run; None when the file is not there."""

    def __init__(self, run_dir: Path, page_dir: Path) -> None:
        self.run_dir = run_dir.resolve()
        self.page_dir = page_dir.resolve()

    def to(self, relative: str | None, name: str) -> str | None:
        if not relative:
            return None
        target = self.run_dir / relative / name
        if not target.is_file():
            return None
        return quote(Path(os.path.relpath(target, self.page_dir)).as_posix())


def _outcome(record: ResultRecord) -> str:
    if record.failed or record.sub_em is None:
        return "failed"
    return "correct" if record.sub_em >= 0.5 else "wrong"


def _mark(record: ResultRecord) -> str:
    outcome = _outcome(record)
    if outcome == "failed":
        return '<span class="err" title="failed">failed</span>'
    return '<span class="ok">✓</span>' if outcome == "correct" else '<span class="bad">✗</span>'


def _tokens(record: ResultRecord) -> str:
    if record.mode == "text":
        return "" if record.memory_tokens is None else f"{record.memory_tokens} mem"
    return "" if record.visual_tokens is None else str(record.visual_tokens)


def _error_text(error: dict | None) -> str:
    if not error:
        return ""
    return f"{error.get('stage', '?')}: {error.get('type', 'Error')}: {error.get('message', '')}"


def _golds(golds: list[str]) -> str:
    return " | ".join(golds)


def _select(name: str, label: str, values: list[str]) -> str:
    options = '<option value="">all</option>' + "".join(
        f'<option value="{esc(v)}">{esc(v)}</option>' for v in values
    )
    select = f'<select data-filter="{esc(name)}" id="filter-{esc(name)}">{options}</select>'
    return f"<label>{esc(label)} {select}</label>"


def _summary_table(table: ReportTable) -> str:
    rows = table_rows(table)
    head = "".join(f"<th>{esc(cell)}</th>" for cell in rows[0])
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{esc(cell)}</td>' if i > 0 else f"<td>{esc(cell)}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows[1:]
    )
    return f'<table class="summary"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def index_html(
    run: Run,
    table: ReportTable,
    questions: list[Question],
    out_dir: Path,
    plots: list[str],
    page_rows: int = PAGE_ROWS,
) -> str:
    links = _Links(run.path, out_dir)
    rows = []
    for question in questions:
        page = quote(question_page_path(question))
        text = question.text or question.question_id
        short = text if len(text) <= 120 else text[:117] + "…"
        for mode, records in question.results.items():
            for record in records:
                image = links.to(record.trace, f"budget-{record.budget}.png") if mode != "text" else None
                thumb = (
                    f'<img class="thumb" loading="lazy" src="{esc(image)}" '
                    f'alt="image at budget {record.budget}">'
                    if image
                    else ""
                )
                shown = (
                    esc(record.prediction)
                    if not record.failed
                    else f'<span class="err">{esc(_error_text(record.error))}</span>'
                )
                hidden = " hidden" if len(rows) >= page_rows else ""  # shown by the script on demand
                rows.append(
                    f'<tr{hidden} class="{_outcome(record)}" data-dataset="{esc(record.dataset)}" '
                    f'data-length="{record.length}" data-mode="{esc(mode)}" data-budget="{record.budget}" '
                    f'data-outcome="{_outcome(record)}">'
                    f'<td>{esc(record.dataset)}</td><td class="num">{record.length}</td>'
                    f'<td><a href="{page}#{esc(mode)}">{esc(short)}</a></td>'
                    f'<td>{esc(mode)}</td><td class="num">{record.budget}</td>'
                    f'<td class="pred">{shown}</td><td>{esc(_golds(record.golds))}</td>'
                    f'<td class="mark">{_mark(record)}</td><td class="num">{esc(_tokens(record))}</td>'
                    f"<td>{thumb}</td></tr>"
                )
    datasets = table.datasets
    filters = " ".join(
        [
            _select("dataset", "dataset", datasets),
            _select("length", "length", [str(n) for n in table.lengths]),
            _select("mode", "mode", table.modes),
            _select(
                "budget",
                "budget",
                [str(b) for b in sorted({b for bs in table.budgets.values() for b in bs}, reverse=True)],
            ),
            _select("outcome", "outcome", ["correct", "wrong", "failed"]),
        ]
    )
    plot_images = "".join(f'<img src="{quote(name)}" alt="{esc(name)}">' for name in plots)
    config = (
        f"<details><summary>Run config (config.yaml)</summary><pre>{esc(run.config_text)}</pre></details>"
        if run.config_text
        else '<p class="muted">The run has no config.yaml.</p>'
    )
    models = sorted({r.model for r in run.results})
    more_hidden = "" if len(rows) > page_rows else " hidden"
    body = f"""
<h1>Evaluation report</h1>
<p>Run <code>{esc(run.path.resolve())}</code>: {len(questions)} questions, {len(run.results)} answers,
{table.total_failures} failed; model {esc(", ".join(models))}.</p>
{config}
<h2>Accuracy (sub-EM %)</h2>
{_summary_table(table)}
<p class="muted">Failed records are excluded from the means and counted separately; relative change against
the mode's own 1,024 row. Also: <a href="table.md">table.md</a>, <a href="table.csv">table.csv</a>,
<a href="details.md">details.md</a>, <a href="details.csv">details.csv</a>.</p>
<div class="plots">{plot_images}</div>
<h2>Answers</h2>
<div class="filters">{filters} <span>showing <b id="shown">{min(len(rows), page_rows)}</b> of
<b id="matching">{len(rows)}</b> matching ({len(rows)} in all)</span></div>
<table id="answers" data-page-rows="{page_rows}"><thead><tr><th>dataset</th><th>length</th>
<th>question</th><th>mode</th><th>B</th><th>prediction</th><th>gold</th><th>sub-EM</th><th>tokens</th><th>image</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
<p><button id="more" type="button"{more_hidden}>show {page_rows} more</button></p>
"""
    return _page("memocr eval report", body, _FILTER_SCRIPT)


def _read_steps(folder: Path) -> tuple[list[dict], int]:
    """The drafts of ``folder/steps.jsonl`` in file order, and how many lines could not be read."""
    path = folder / "steps.jsonl"
    if not path.is_file():
        return [], 0
    steps, bad = [], 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            step = json.loads(line)
            if not isinstance(step, dict):
                raise ValueError
            steps.append(step)
        except ValueError:
            bad += 1
    return steps, bad


def _folders(question: Question, mode: str) -> list[str]:
    """Trace folders of one question × mode, the drafting folder first."""
    folders = []
    draft = question.drafts.get(mode)
    if draft is not None and draft.trace:
        folders.append(draft.trace)
    folders += [r.trace for r in question.results[mode] if r.trace and r.trace not in folders]
    return folders


def _figure(url: str | None, caption: str, missing: str) -> str:
    if url is None:
        return f'<p class="muted">{esc(missing)}</p>'
    image = f'<img loading="lazy" src="{esc(url)}" alt="{esc(caption)}">'
    return f"<figure>{image}<figcaption>{esc(caption)}</figcaption></figure>"


def _mode_section(run: Run, question: Question, mode: str, links: _Links) -> str:
    records = question.results[mode]
    folders = _folders(question, mode)
    draft = question.drafts.get(mode)
    answers = []
    for r in records:
        scores = (
            "" if r.failed else f"{r.em:.0f} / {r.f1:.2f}" if r.em is not None and r.f1 is not None else ""
        )
        size = f"{r.image_width}×{r.image_height}" if r.image_width and r.image_height else ""
        answers.append(
            f'<tr class="{_outcome(r)}"><td class="num">{r.budget}</td>'
            f'<td class="pred">{esc(r.prediction)}</td>'
            f'<td>{_mark(r)}</td><td class="num">{esc(scores)}</td><td class="num">{esc(_tokens(r))}</td>'
            f'<td class="num">{esc(size)}</td>'
            f"<td><details><summary>response</summary><pre>{esc(r.response)}</pre></details></td>"
            f'<td class="err">{esc(_error_text(r.error))}</td></tr>'
        )
    parts = [
        f'<section class="mode" id="{esc(mode)}"><h2>{esc(mode_label(mode))}</h2>',
        "<table><thead><tr><th>B</th><th>prediction</th><th>sub-EM</th><th>EM / F1</th><th>tokens</th>"
        "<th>image</th><th>response</th><th>error</th></tr></thead><tbody>"
        + "".join(answers)
        + "</tbody></table>",
    ]
    if mode != "text":
        figures = [
            _figure(
                links.to(r.trace, f"budget-{r.budget}.png"),
                f"B={r.budget}: {r.image_width}×{r.image_height} px, {r.visual_tokens} visual tokens",
                f"B={r.budget}: no image" + (" (the answer failed)" if r.failed else " in the trace folder"),
            )
            for r in records
        ]
        parts.append("<h3>What the model saw at each budget</h3><div>" + "".join(figures) + "</div>")
        rendered = next((url for f in folders if (url := links.to(f, "rendered.png"))), None)
        parts.append(
            "<h3>Rendered memory</h3>" + _figure(rendered, "rendered memory (full size)", "no rendered image")
        )
    final = draft.final_memory if draft is not None else None
    if final is None:
        final = next(
            (
                (run.path / f / "memory.md").read_text(encoding="utf-8", errors="replace")
                for f in folders
                if (run.path / f / "memory.md").is_file()
            ),
            None,
        )
    parts.append(
        "<h3>Final memory</h3>"
        + (
            f'<pre class="memory final">{esc(final)}</pre>'
            if final is not None
            else '<p class="muted">drafting did not finish</p>'
        )
    )
    steps, bad = [], 0
    for folder in folders:
        steps, bad = _read_steps(run.path / folder)
        if steps:
            break
    drafts = []
    for number, step in enumerate(steps, start=1):
        info = f"chunk {step.get('chunk_index', '?')}, {step.get('completion_tokens', '?')} tokens written"
        if isinstance(step.get("seconds"), int | float):
            info += f", {step['seconds']:.1f} s"
        drafts.append(
            f'<li class="draft"><details{" open" if number == len(steps) else ""}><summary>Draft {number} '
            f'({esc(info)})</summary><pre class="memory">{esc(step.get("memory", ""))}</pre></details></li>'
        )
    note = f' <span class="err">({bad} unreadable line(s) in steps.jsonl)</span>' if bad else ""
    parts.append(
        f"<h3>Memory drafts ({len(steps)}){note}</h3>"
        + (
            f'<ol class="drafts">{"".join(drafts)}</ol>'
            if drafts
            else '<p class="muted">no drafts recorded</p>'
        )
    )
    parts.append("</section>")
    return "\n".join(parts)


def question_html(run: Run, question: Question, out_dir: Path) -> str:
    page = out_dir / question_page_path(question)
    links = _Links(run.path, page.parent)
    back = quote(os.path.relpath(out_dir / "index.html", page.parent))
    nav = " · ".join(f'<a href="#{esc(m)}">{esc(m)}</a>' for m in question.results)
    body = (
        f'<p><a href="{back}">← all answers</a></p>'
        f"<h1>{esc(question.text or '(question text not recorded)')}</h1>"
        f"<p>{esc(question.dataset)}, {question.length} documents, "
        f"id <code>{esc(question.question_id)}</code>; "
        f'gold: <b class="gold">{esc(_golds(question.golds))}</b></p><p>Modes: {nav}</p>'
        + "".join(_mode_section(run, question, mode, links) for mode in question.results)
    )
    return _page(f"{question.question_id} — memocr report", body)


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
