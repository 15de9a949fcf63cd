"""The analyses as tables: the Markdown sections of ``analysis.md`` and the CSV files beside it."""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Sequence
from pathlib import Path

from memocr.analysis.density import DensityRow, summarize
from memocr.analysis.oracle import OracleCell, OracleRecord, OracleSettings, paired_counts


def write_density_csv(rows: Sequence[DensityRow], path: Path) -> None:
    names = [f.name for f in dataclasses.fields(DensityRow)]
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=names)
        writer.writeheader()
        for row in rows:
            values = dataclasses.asdict(row)
            for name in ("crucial_precision", "detailed_precision"):
                values[name] = "" if values[name] is None else f"{values[name]:.4f}"
            writer.writerow(values)


def density_section(rows: list[DensityRow], bold_lines: bool = False) -> str:
    without_facts = sum(not row.has_supporting_facts for row in rows)
    lines = [
        "## Density of final memories",
        "",
        f"{len(rows)} final memories. Crucial region = headings"
        + (" and bold-only lines" if bold_lines else "")
        + "; detailed region = the rest. Tokens are SQuAD-normalised words; evidence precision = share "
        "of a region's tokens that occur in the gold answers or supporting facts (stopwords excepted); "
        "precisions are means over memories whose region is not empty. See docs/analysis.md.",
        "",
        "| mode | memories | with headings | median crucial tokens | median detailed tokens "
        "| crucial precision | detailed precision |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summarize(rows):
        lines.append(
            f"| {s.mode} | {s.memories} | {s.memories_with_headings} | {s.median_crucial_tokens:g} "
            f"| {s.median_detailed_tokens:g} | {_pct(s.mean_crucial_precision)} "
            f"| {_pct(s.mean_detailed_precision)} |"
        )
    lines += [
        "",
        "Paper, MemOCR after 1,000 RL steps: crucial ≈ 11 tokens (median), detailed ≈ 180; precision "
        "≈ 21.7% crucial vs ≈ 2.6% detailed.",
    ]
    if without_facts:
        lines.append(
            f"\n{without_facts} memories have no supporting facts: their precision counts the gold "
            "answers only."
        )
    lines.append("\n![density](density.png)\n")
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def write_oracle_csv(cells: list[OracleCell], path: Path) -> None:
    names = [f.name for f in dataclasses.fields(cells[0])] if cells else ["placement", "budget"]
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=names)
        writer.writeheader()
        for cell in cells:
            row = dataclasses.asdict(cell)
            writer.writerow({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})


def oracle_markdown(cells: list[OracleCell], budgets: list[int]) -> str:
    """Accuracy per placement (rows) × budget (columns), then the OCR legibility rows when known."""
    by = {(c.placement, c.budget): c for c in cells}
    header = "| placement | " + " | ".join(str(b) for b in budgets) + " |"
    rule = "|---|" + "---:|" * len(budgets)
    lines = ["Accuracy (%, n questions) by visual-token budget:", "", header, rule]
    for placement in ("heading", "body"):
        values = [by[(placement, b)] for b in budgets]
        lines.append(f"| {placement} | " + " | ".join(f"{c.accuracy:.1f} (n={c.n})" for c in values) + " |")
    if any(c.legible is not None for c in cells):
        lines += ["", "Answer legible in the OCR text (%):", "", header, rule]
        for placement in ("heading", "body"):
            values = [by[(placement, b)].legible for b in budgets]
            lines.append(
                f"| {placement} | " + " | ".join("–" if v is None else f"{v:.1f}" for v in values) + " |"
            )
    return "\n".join(lines) + "\n"


def oracle_section(
    records: list[OracleRecord],
    cells: list[OracleCell],
    settings: OracleSettings,
    where: str,
    verdict: str,
    model_spec: str,
) -> str:
    answered = [r for r in records if r.error is None]
    failed = len(records) - len(answered)
    seconds = [r.answer_seconds for r in answered if r.answer_seconds is not None]
    committed = [c.committed for c in cells if c.n]
    questions = len({r.question_id for r in records})
    lines = [
        "## Oracle: evidence in a top heading vs in body text",
        "",
        f"{questions} questions from {where}; model {model_spec}; every memory = the question's "
        f"evidence (its supporting facts, a paragraph cut to the sentences that name the answer) + "
        f"{settings.filler_sentences} filler sentences, evidence as a top `#` "
        f"heading or as the {settings.body_position} paragraph of the body (everything else identical).",
        "",
        oracle_markdown(cells, settings.budgets),
        f"**{verdict}**",
        "",
    ]
    small = [b for b in settings.budgets if b <= 64]
    if small:
        pairs = ", ".join(
            "{}: {} heading-only vs {} body-only".format(b, *paired_counts(records, b)) for b in small
        )
        lines += [f"Questions right in only one placement, per budget: {pairs}.", ""]
    if committed:
        lines.append(
            f"Replies that commit to an answer (\\boxed{{}} or 'the answer is'): "
            f"{min(committed):.0f}–{max(committed):.0f}% per cell; the others are scored by whether a "
            "gold answer occurs in the reply (see docs/analysis.md)."
        )
    if seconds:
        ocr = [r.ocr_seconds for r in answered if r.ocr_seconds is not None]
        of_it = f", {sum(ocr) / len(ocr):.2f} s of it OCR" if ocr else ""
        lines.append(
            f"{len(seconds)} answers, {sum(seconds) / len(seconds):.2f} s per answer on average{of_it} "
            "(the model's answer turn; rendering and fitting not included)."
        )
    if failed:
        lines.append(f"{failed} answers failed (the `error` field of oracle.jsonl); rerun to retry them.")
    lines.append("\n![oracle](oracle.png)\n")
    return "\n".join(lines)
