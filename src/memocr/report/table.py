"""Accuracy tables of an evaluation run, in the layout of the MemOCR paper's Table 1.

Columns are datasets × lengths, then the average over datasets at each length; rows are mode ×
budget, largest budget first. A cell is the mean sub-EM (the paper's "accuracy") in percent over the
records that were answered. Records that failed (an error instead of an answer) are **excluded** from
every mean and counted separately: a cell says ``[2 failed]``, the details table and CSV have the
count. The average over datasets is the unweighted mean of the per-dataset means, as in the paper; a
``†`` marks an average that is missing a dataset the run has at that length. The relative change is
against the same column of the mode's own 1,024 row (its largest budget when it has no 1,024 row), and
is printed in the average columns as the paper does (the CSV has it for every cell).

`build_table` aggregates `ResultRecord`s; `markdown_table`, `details_markdown`, `wide_csv` and
`details_csv` format the result; ``paper=True`` adds the paper's published rows (`published`).
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from memocr.eval.results import ResultRecord
from memocr.report import published

AVERAGE = "average"
REFERENCE_BUDGET = 1024
MODE_ORDER = ("visual", "visual-plain", "visual-html", "text")
MODE_LABELS = {
    "visual": "visual (MemOCR)",
    "visual-plain": "visual-plain (no layout)",
    "visual-html": "visual-html",
    "text": "text (MemAgent-style)",
}
MINUS = "\u2212"
# Per-budget stages of ResultRecord.seconds; "draft" and "render" are shared by every budget of a
# question × mode and reported separately.
SHARED_STAGES = ("draft", "render")


@dataclass(frozen=True)
class CellStats:
    """One mode × budget × dataset × length: means over the answered records (percent for scores)."""

    n: int  # answered (scored) records
    failures: int  # records with an error, excluded from the means
    sub_em: float | None
    em: float | None
    f1: float | None
    tokens: float | None  # mean visual tokens (visual modes) or memory tokens shown (text mode)
    answer_seconds: float | None  # per-budget work: fit, OCR, answer
    draft_seconds: float | None  # the drafting pass, shared by the question's budgets

    @property
    def records(self) -> int:
        return self.n + self.failures


@dataclass(frozen=True)
class Average:
    value: float | None
    datasets: tuple[str, ...]  # the datasets it averages
    complete: bool  # every dataset the run has at this length is in it


@dataclass
class ReportTable:
    modes: list[str]
    budgets: dict[str, list[int]]  # per mode, largest first
    datasets: list[str]
    lengths: list[int]
    cells: dict[tuple[str, int, str, int], CellStats]
    paper: bool = False
    questions: dict[tuple[str, int], int] = field(default_factory=dict)  # distinct per dataset, length

    def columns(self) -> list[tuple[str, int]]:
        """(dataset, length) of every data column, in table order; lengths a dataset lacks are left out."""
        return [(d, n) for d in self.datasets for n in self.lengths if self.questions.get((d, n))]

    def cell(self, mode: str, budget: int, dataset: str, length: int) -> CellStats | None:
        return self.cells.get((mode, budget, dataset, length))

    def value(self, mode: str, budget: int, dataset: str, length: int) -> float | None:
        if dataset == AVERAGE:
            return self.average(mode, budget, length).value
        cell = self.cell(mode, budget, dataset, length)
        return None if cell is None else cell.sub_em

    def datasets_at(self, length: int) -> list[str]:
        return [d for d in self.datasets if self.questions.get((d, length))]

    def average(self, mode: str, budget: int, length: int) -> Average:
        present = self.datasets_at(length)
        used = [d for d in present if self.value(mode, budget, d, length) is not None]
        values = [self.value(mode, budget, d, length) for d in used]
        mean = statistics.fmean(values) if values else None  # type: ignore[arg-type]
        return Average(mean, tuple(used), complete=len(used) == len(present))

    def reference_budget(self, mode: str) -> int:
        budgets = self.budgets[mode]
        return REFERENCE_BUDGET if REFERENCE_BUDGET in budgets else max(budgets)

    def relative(self, mode: str, budget: int, dataset: str, length: int) -> float | None:
        """Percent change of a cell against the same column of the mode's reference row."""
        reference = self.reference_budget(mode)
        if budget == reference:
            return None
        return relative_change(
            self.value(mode, budget, dataset, length), self.value(mode, reference, dataset, length)
        )

    # The paper's published rows, matched to ours (None where the paper has no such cell).
    def paper_value(self, mode: str, budget: int, dataset: str, length: int) -> float | None:
        if dataset == AVERAGE:
            return published.paper_average(mode, budget, length, self.datasets_at(length))
        return published.paper_value(mode, budget, dataset, length)

    def paper_relative(self, mode: str, budget: int, dataset: str, length: int) -> float | None:
        if budget == REFERENCE_BUDGET:
            return None
        if dataset == AVERAGE:
            return published.paper_average_change(mode, budget, length, self.datasets_at(length))
        return relative_change(
            self.paper_value(mode, budget, dataset, length),
            self.paper_value(mode, REFERENCE_BUDGET, dataset, length),
        )

    def paper_budgets(self, mode: str) -> list[int]:
        """Budgets of the paper's row for ``mode`` when the run has a column the paper has."""
        if mode not in published.MODE_METHODS:
            return []
        if not any(published.paper_value(mode, 1024, d, n) is not None for d, n in self.columns()):
            return []
        return list(published.BUDGETS)

    @property
    def total_failures(self) -> int:
        return sum(cell.failures for cell in self.cells.values())

    @property
    def total_records(self) -> int:
        return sum(cell.records for cell in self.cells.values())


def relative_change(value: float | None, reference: float | None) -> float | None:
    if value is None or reference is None or reference == 0:
        return None
    return (value - reference) / reference * 100.0


def _ordered(names: Iterable[str], preferred: Iterable[str]) -> list[str]:
    names = set(names)
    first = [name for name in preferred if name in names]
    return first + sorted(names - set(first))


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def summarise(records: list[ResultRecord]) -> CellStats:
    """Means over the answered records of one cell; failed records are only counted."""
    answered = [r for r in records if not r.failed and r.sub_em is not None]
    failures = len(records) - len(answered)

    def percent(name: str) -> float | None:
        mean = _mean(getattr(r, name) for r in answered)
        return None if mean is None else mean * 100.0

    return CellStats(
        n=len(answered),
        failures=failures,
        sub_em=percent("sub_em"),
        em=percent("em"),
        f1=percent("f1"),
        tokens=_mean(r.memory_tokens if r.mode == "text" else r.visual_tokens for r in answered),
        answer_seconds=_mean(
            sum(s for stage, s in r.seconds.items() if stage not in SHARED_STAGES) if r.seconds else None
            for r in answered
        ),
        draft_seconds=_mean(r.seconds.get("draft") for r in answered),
    )


def build_table(records: list[ResultRecord], *, paper: bool = False) -> ReportTable:
    groups: dict[tuple[str, int, str, int], list[ResultRecord]] = defaultdict(list)
    questions: dict[tuple[str, int], set[str]] = defaultdict(set)
    budgets: dict[str, set[int]] = defaultdict(set)
    for record in records:
        groups[(record.mode, record.budget, record.dataset, record.length)].append(record)
        questions[(record.dataset, record.length)].add(record.question_id)
        budgets[record.mode].add(record.budget)
    return ReportTable(
        modes=_ordered(budgets, MODE_ORDER),
        budgets={mode: sorted(values, reverse=True) for mode, values in budgets.items()},
        datasets=_ordered({r.dataset for r in records}, published.DATASETS),
        lengths=sorted({r.length for r in records}),
        cells={key: summarise(group) for key, group in groups.items()},
        paper=paper,
        questions={key: len(ids) for key, ids in questions.items()},
    )


# ---------------------------------------------------------------------------------------------------
# Formatting


def format_percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def format_relative(change: float | None) -> str:
    if change is None:
        return ""
    text = f"{change:+.1f}%"
    return "(" + text.replace("-", MINUS) + ")"


def mode_label(mode: str) -> str:
    return MODE_LABELS.get(mode, mode)


def column_label(dataset: str, length: int) -> str:
    tokens = published.LENGTH_TOKENS.get(length)
    return f"{dataset} {length}" + (f" (≈{tokens})" if tokens else "")


def _data_cell(table: ReportTable, mode: str, budget: int, dataset: str, length: int) -> str:
    cell = table.cell(mode, budget, dataset, length)
    if cell is None:
        return ""
    text = format_percent(cell.sub_em)
    if cell.failures:
        text += f" [{cell.failures} failed]"
    return text


def _average_cell(table: ReportTable, mode: str, budget: int, length: int) -> str:
    average = table.average(mode, budget, length)
    if average.value is None:
        return "–"
    text = format_percent(average.value)
    if not average.complete:
        text += "†"
    change = format_relative(table.relative(mode, budget, AVERAGE, length))
    return f"{text} {change}" if change else text


def _paper_cell(table: ReportTable, mode: str, budget: int, dataset: str, length: int) -> str:
    value = table.paper_value(mode, budget, dataset, length)
    if value is None:
        return ""
    text = format_percent(value)
    if dataset == AVERAGE:
        change = format_relative(table.paper_relative(mode, budget, dataset, length))
        text = f"{text} {change}" if change else text
    return text


def table_rows(table: ReportTable) -> list[list[str]]:
    """Header then one row per mode × budget (and per paper row), as display strings."""
    columns = table.columns()
    header = ["mode", "B"]
    header += [column_label(d, n) for d, n in columns]
    header += [f"Average {n}" for n in table.lengths]
    rows = [header]
    for mode in table.modes:
        for index, budget in enumerate(table.budgets[mode]):
            row = [mode_label(mode) if index == 0 else "", str(budget)]
            row += [_data_cell(table, mode, budget, d, n) for d, n in columns]
            row += [_average_cell(table, mode, budget, n) for n in table.lengths]
            rows.append(row)
        if table.paper:
            method = published.MODE_METHODS.get(mode)
            for index, budget in enumerate(table.paper_budgets(mode)):
                row = [f"{method}, paper" if index == 0 else "", str(budget)]
                row += [_paper_cell(table, mode, budget, d, n) for d, n in columns]
                row += [_paper_cell(table, mode, budget, AVERAGE, n) for n in table.lengths]
                rows.append(row)
    return rows


def _markdown(rows: list[list[str]], right_from: int) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    align = ["---" if i < right_from else "---:" for i in range(len(rows[0]))]
    return "\n".join([line(rows[0]), line(align), *(line(row) for row in rows[1:])])


def notes(table: ReportTable) -> list[str]:
    references = {table.reference_budget(mode) for mode in table.modes}
    reference = f"{references.pop():,}" if len(references) == 1 else "1,024 (else the largest budget)"
    lines = [
        "Cells: mean sub-EM (%) over the answered records. Records that failed (an error instead of an "
        "answer) are excluded from the means and shown as [N failed]; "
        f"{table.total_failures} of {table.total_records} records failed.",
        "Average: unweighted mean of the per-dataset means at that length; relative change against the "
        f"mode's own {reference} row."
        + (
            " † = a dataset the run has at that length has no answered record there."
            if _any_incomplete(table)
            else ""
        ),
        "Length = documents per context (50/200/800 ≈ 10K/30K/100K tokens). B = visual tokens "
        "(visual modes) or memory tokens shown (text mode).",
    ]
    if table.paper:
        lines.append(
            f"Paper rows: published Table 1 of {published.PAPER} (visual → MemOCR, text → MemAgent), "
            "in the columns the paper has; paper averages are over the same datasets as the run's. "
            + "; ".join(typo.note for typo in published.TYPOS)
            + "."
        )
    return lines


def _any_incomplete(table: ReportTable) -> bool:
    return any(
        table.average(mode, budget, length).value is not None
        and not table.average(mode, budget, length).complete
        for mode in table.modes
        for budget in table.budgets[mode]
        for length in table.lengths
    )


def markdown_table(table: ReportTable) -> str:
    body = _markdown(table_rows(table), right_from=1)
    return body + "\n\n" + "\n".join(f"- {note}" for note in notes(table)) + "\n"


DETAIL_FIELDS = ["mode", "budget", "dataset", "length", "n", "failures", "sub_em", "sub_em_change_pct"]
DETAIL_FIELDS += ["em", "f1", "tokens", "token_kind", "answer_seconds", "draft_seconds"]


def detail_rows(table: ReportTable) -> list[dict[str, object]]:
    """One row per mode × budget × dataset × length, then the averages (numbers unrounded)."""
    rows = []
    for mode in table.modes:
        for budget in table.budgets[mode]:
            for dataset, length in table.columns():
                cell = table.cell(mode, budget, dataset, length)
                if cell is not None:
                    rows.append(_detail_row(table, mode, budget, dataset, length, [cell]))
            for length in table.lengths:
                cells = [table.cell(mode, budget, d, length) for d in table.datasets_at(length)]
                present = [c for c in cells if c is not None]
                rows.append(_detail_row(table, mode, budget, AVERAGE, length, present))
    return rows


def _detail_row(
    table: ReportTable, mode: str, budget: int, dataset: str, length: int, cells: list[CellStats]
) -> dict[str, object]:
    def mean(name: str) -> float | None:
        return _mean(getattr(c, name) for c in cells if c.n)

    row: dict[str, object] = {
        "mode": mode,
        "budget": budget,
        "dataset": dataset,
        "length": length,
        "n": sum(c.n for c in cells),
        "failures": sum(c.failures for c in cells),
        "sub_em": table.value(mode, budget, dataset, length),
        "sub_em_change_pct": table.relative(mode, budget, dataset, length),
        **{name: mean(name) for name in ("em", "f1", "tokens")},
        "token_kind": "memory" if mode == "text" else "visual",
        **{name: mean(name) for name in ("answer_seconds", "draft_seconds")},
    }
    if table.paper:
        row["paper_sub_em"] = table.paper_value(mode, budget, dataset, length)
    return row


_DIGITS = (("tokens", 1), ("answer_seconds", 2), ("draft_seconds", 1))


def details_markdown(table: ReportTable) -> str:
    header = ["mode", "B", "dataset", "length", "n", "failed", "sub-EM", "Δ%", "EM", "F1", "tokens"]
    header += ["answer s", "draft s"] + (["paper sub-EM"] if table.paper else [])
    lines = [header]
    for row in detail_rows(table):
        cells = [str(row[name]) for name in ("mode", "budget", "dataset", "length", "n", "failures")]
        sub_em, em, f1 = (format_percent(row[name]) for name in ("sub_em", "em", "f1"))  # type: ignore[arg-type]
        cells += [sub_em, format_relative(row["sub_em_change_pct"]).strip("()"), em, f1]  # type: ignore[arg-type]
        cells += [_number(row[name], digits) for name, digits in _DIGITS]
        if table.paper:
            cells.append("" if row["paper_sub_em"] is None else format_percent(row["paper_sub_em"]))  # type: ignore[arg-type]
        lines.append(cells)
    return (
        _markdown(lines, right_from=4)
        + "\n\n- n = answered records, failed = records with an error (excluded from every mean); "
        "tokens = mean visual tokens the image cost (visual modes) or memory tokens shown (text mode); "
        "answer s = mean seconds per answer (fit, OCR, answer), draft s = mean drafting pass per question.\n"
    )


def _number(value: object, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _csv(rows: list[list[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows([["" if value is None else value for value in row] for row in rows])
    return buffer.getvalue()


def wide_csv(table: ReportTable) -> str:
    """Table 1's layout as numbers: sub-EM (%) per column, average and its relative change, failures."""
    columns = table.columns()
    header: list[object] = ["mode", "budget", "source"]
    header += [f"{d} {n}" for d, n in columns]
    header += [f"average {n}" for n in table.lengths]
    header += [f"average {n} change %" for n in table.lengths]
    header += ["failed"]
    rows: list[list[object]] = [header]

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 2)

    for mode in table.modes:
        for budget in table.budgets[mode]:
            row: list[object] = [mode, budget, "run"]
            row += [rounded(table.value(mode, budget, d, n)) for d, n in columns]
            row += [rounded(table.value(mode, budget, AVERAGE, n)) for n in table.lengths]
            row += [rounded(table.relative(mode, budget, AVERAGE, n)) for n in table.lengths]
            row += [sum(c.failures for (m, b, _, _), c in table.cells.items() if (m, b) == (mode, budget))]
            rows.append(row)
        if table.paper:
            for budget in table.paper_budgets(mode):
                row = [mode, budget, "paper"]
                row += [table.paper_value(mode, budget, d, n) for d, n in columns]
                row += [rounded(table.paper_value(mode, budget, AVERAGE, n)) for n in table.lengths]
                row += [rounded(table.paper_relative(mode, budget, AVERAGE, n)) for n in table.lengths]
                row += [None]
                rows.append(row)
    return _csv(rows)


def details_csv(table: ReportTable) -> str:
    fields = DETAIL_FIELDS + (["paper_sub_em"] if table.paper else [])
    return _csv([fields, *([_round(row.get(name)) for name in fields] for row in detail_rows(table))])


def _round(value: object) -> object:
    return round(value, 4) if isinstance(value, float) else value
