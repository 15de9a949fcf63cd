"""Accuracy against visual-token budget: one line per mode, budgets on a log2 axis.

``accuracy.png`` has a panel per dataset × length, ``accuracy-average.png`` a panel per length with
the average over datasets (the paper's Average columns). Titles give the number of questions and of
failed records (excluded from the means, as in the tables). With the paper's numbers on, the
published curves of the matching methods are drawn dashed in the same colour.

The data of every panel is built first (`accuracy_panels`, `average_panels`) and only then drawn, so a
caller or a test can check what was plotted without reading pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from memocr.report import published
from memocr.report.table import AVERAGE, ReportTable, mode_label

COLORS = {"visual": "tab:blue", "visual-plain": "tab:orange", "visual-html": "tab:green", "text": "tab:red"}
_SPARE_COLORS = ("tab:purple", "tab:brown", "tab:pink", "tab:gray", "tab:olive", "tab:cyan")


@dataclass
class Line:
    label: str
    mode: str
    budgets: list[int]
    values: list[float | None]  # sub-EM %, None where the cell has no answered record
    paper: bool = False


@dataclass
class Panel:
    title: str
    lines: list[Line] = field(default_factory=list)


@dataclass
class PlotFile:
    path: Path
    title: str
    panels: list[Panel]


def _color(mode: str, modes: list[str]) -> str:
    if mode in COLORS:
        return COLORS[mode]
    others = [m for m in modes if m not in COLORS]
    return _SPARE_COLORS[others.index(mode) % len(_SPARE_COLORS)] if mode in others else "black"


def _run_lines(table: ReportTable, dataset: str, length: int) -> list[Line]:
    lines = []
    for mode in table.modes:
        budgets = sorted(table.budgets[mode])
        values = [table.value(mode, budget, dataset, length) for budget in budgets]
        if any(value is not None for value in values):
            lines.append(Line(mode_label(mode), mode, budgets, values))
    return lines


def _paper_lines(table: ReportTable, dataset: str, length: int) -> list[Line]:
    lines = []
    for mode in table.modes:
        method = published.MODE_METHODS.get(mode)
        if method is not None:
            budgets = sorted(published.BUDGETS)
            values = [table.paper_value(mode, budget, dataset, length) for budget in budgets]
            if any(value is not None for value in values):
                lines.append(Line(f"{method} (paper)", mode, budgets, values, paper=True))
        elif (
            mode == "visual-plain"
            and dataset != AVERAGE
            and published.canonical_dataset(dataset) == "hotpotqa"
            and length == 50
        ):
            sweep = published.budget_sweep_hotpotqa_50()["MemOCR w/o layout"]
            budgets = sorted(sweep)
            lines.append(
                Line("MemOCR w/o layout (paper, ≈)", mode, budgets, [sweep[b] for b in budgets], paper=True)
            )
    return lines


def _failures(table: ReportTable, datasets: list[str], length: int) -> int:
    return sum(cell.failures for (_, _, d, n), cell in table.cells.items() if d in datasets and n == length)


def _counts(questions: int, failures: int) -> str:
    text = f"n={questions} question{'s' if questions != 1 else ''}"
    return text + (f", {failures} failed record{'s' if failures != 1 else ''}" if failures else "")


def accuracy_panels(table: ReportTable) -> list[Panel]:
    """One panel per dataset × length that the run has."""
    panels = []
    for dataset, length in table.columns():
        counts = _counts(table.questions[(dataset, length)], _failures(table, [dataset], length))
        lines = _run_lines(table, dataset, length)
        if table.paper:
            lines += _paper_lines(table, dataset, length)
        panels.append(Panel(f"{dataset}, {length} docs ({counts})", lines))
    return panels


def average_panels(table: ReportTable) -> list[Panel]:
    """One panel per length: the unweighted mean over the datasets the run has there."""
    panels = []
    for length in table.lengths:
        datasets = table.datasets_at(length)
        questions = sum(table.questions[(d, length)] for d in datasets)
        counts = _counts(questions, _failures(table, datasets, length))
        lines = _run_lines(table, AVERAGE, length)
        if table.paper:
            lines += _paper_lines(table, AVERAGE, length)
        title = (
            f"average of {len(datasets)} dataset{'s' if len(datasets) != 1 else ''}, {length} docs ({counts})"
        )
        panels.append(Panel(title, lines))
    return panels


def draw(panels: list[Panel], title: str, modes: list[str]):
    """A matplotlib Figure (Agg) with the panels in a grid and one legend for the figure."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    columns = min(3, max(1, len(panels)))
    rows = max(1, math.ceil(len(panels) / columns))
    figure = Figure(figsize=(5.2 * columns + 2.6, 3.9 * rows + 0.6), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    handles: dict[str, object] = {}
    for ax, panel in zip(axes, panels, strict=False):
        ticks: set[int] = set()
        for line in panel.lines:
            ys = [math.nan if v is None else v for v in line.values]
            (drawn,) = ax.plot(
                line.budgets,
                ys,
                linestyle="--" if line.paper else "-",
                marker="s" if line.paper else "o",
                markersize=4 if line.paper else 5,
                alpha=0.6 if line.paper else 1.0,
                color=_color(line.mode, modes),
                label=line.label,
            )
            handles.setdefault(line.label, drawn)
            ticks.update(line.budgets)
        ax.set_xscale("log", base=2)
        if ticks:
            ax.set_xticks(sorted(ticks), [str(t) for t in sorted(ticks)])
            ax.minorticks_off()
            ax.set_xlim(min(ticks) / 1.4, max(ticks) * 1.4)
        ax.set_ylim(-3, 103)
        ax.set_xlabel("budget B (visual tokens; memory tokens for text)")
        ax.set_ylabel("accuracy (sub-EM, %)")
        ax.set_title(panel.title, fontsize=10)
        ax.grid(True, alpha=0.3)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    figure.suptitle(title)
    if handles:
        figure.legend(list(handles.values()), list(handles), loc="outside right center", fontsize=9)
    return figure


def write_plots(table: ReportTable, out_dir: Path) -> list[PlotFile]:
    """Write ``accuracy.png`` and ``accuracy-average.png``; returns what each file shows."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = [
        PlotFile(out_dir / "accuracy.png", "Accuracy against budget, per dataset", accuracy_panels(table)),
        PlotFile(
            out_dir / "accuracy-average.png",
            "Accuracy against budget, averaged over datasets",
            average_panels(table),
        ),
    ]
    for plot in plots:
        figure = draw(plot.panels, plot.title, table.modes)
        figure.savefig(plot.path, dpi=110)
    return plots
