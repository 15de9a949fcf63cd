"""The per-cell summary `memocr eval` prints at the end: one row per dataset × length × mode × budget."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from statistics import mean

from memocr.eval.results import ResultRecord, read_results

_HEADER = (
    "| dataset | length | mode | budget | n | failed | sub-EM % | EM % | F1 % | tokens spent "
    "| answer s | draft s |"
)


def summary_table(run_dir: str | Path) -> str:
    """Markdown table of every cell of the run; failed answers are counted apart, not scored 0."""
    cells: dict[tuple, list[ResultRecord]] = defaultdict(list)
    for record in read_results(run_dir):
        cells[(record.dataset, record.length, record.mode, record.budget)].append(record)
    lines = [_HEADER, _rule()]
    for (dataset, length, mode, budget), records in sorted(cells.items(), key=_order):
        ok = [r for r in records if not r.failed]
        spent = [r.visual_tokens if r.visual_tokens is not None else r.memory_tokens for r in ok]
        lines.append(
            f"| {dataset} | {length} | {mode} | {budget} | {len(ok)} | {len(records) - len(ok)} "
            f"| {_pct(r.sub_em for r in ok)} | {_pct(r.em for r in ok)} | {_pct(r.f1 for r in ok)} "
            f"| {_mean([s for s in spent if s is not None], '{:.0f}')} "
            f"| {_mean((r.seconds.get('answer', 0) + r.seconds.get('fit', 0) for r in ok), '{:.1f}')} "
            f"| {_mean((r.seconds.get('draft', 0) for r in ok), '{:.1f}')} |"
        )
    return "\n".join(lines)


def _rule() -> str:
    return "|" + "---|" * (_HEADER.count("|") - 1)


def _order(item: tuple) -> tuple:
    (dataset, length, mode, budget), _ = item
    return dataset, length, mode, -budget


def _pct(values) -> str:
    values = [v for v in values if v is not None]
    return f"{100 * mean(values):.1f}" if values else "-"


def _mean(values, fmt: str) -> str:
    values = list(values)
    return fmt.format(mean(values)) if values else "-"
