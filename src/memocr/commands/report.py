"""`memocr report RUN_DIR`: tables, accuracy plots and a browsable HTML report of an eval run.

Writes into ``RUN_DIR/report`` (or ``--out``): ``table.md`` and ``table.csv`` (the paper's Table 1
layout), ``details.md`` and ``details.csv`` (n, failures, EM, F1, tokens, latency per cell),
``accuracy.png`` and ``accuracy-average.png``, ``index.html`` and a page per question under
``questions/``. Prints the Markdown table and where the rest went. The run is only read.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from memocr.config import add_config_arguments, check_fields, config_from_args


@dataclass
class ReportConfig:
    out: Path | None = field(
        default=None,
        metadata={"help": "folder for the report (default: RUN_DIR/report)", "path": True, "output": "dir"},
    )
    paper: bool = field(
        default=False,
        metadata={
            "help": "set the paper's published Table 1 numbers beside the run's (visual = MemOCR, "
            "text = MemAgent; HotpotQA, 2Wiki, NQ, TriviaQA at 50/200/800 documents)"
        },
    )
    html: bool = field(
        default=True, metadata={"help": "write the HTML report (index.html and question pages)"}
    )
    plots: bool = field(default=True, metadata={"help": "write the accuracy-against-budget plots"})

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass
class ReportFiles:
    table_md: Path
    table_csv: Path
    details_md: Path
    details_csv: Path
    plots: list[Path]
    index: Path | None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="the folder memocr eval wrote")
    add_config_arguments(parser, ReportConfig)


def write_report(run_dir: str | Path, config: ReportConfig | None = None) -> tuple[str, ReportFiles]:
    """Write every output of the report; returns the Markdown table and the files written."""
    from memocr.report.data import load_run
    from memocr.report.table import build_table, details_csv, details_markdown, markdown_table, wide_csv

    config = config or ReportConfig()
    run = load_run(run_dir)
    out = Path(config.out) if config.out is not None else run.path / "report"
    out.mkdir(parents=True, exist_ok=True)
    table = build_table(run.results, paper=config.paper)
    markdown = markdown_table(table)
    files = ReportFiles(
        table_md=out / "table.md",
        table_csv=out / "table.csv",
        details_md=out / "details.md",
        details_csv=out / "details.csv",
        plots=[],
        index=None,
    )
    files.table_md.write_text(markdown, encoding="utf-8")
    files.table_csv.write_text(wide_csv(table), encoding="utf-8")
    files.details_md.write_text(details_markdown(table), encoding="utf-8")
    files.details_csv.write_text(details_csv(table), encoding="utf-8")
    if config.plots:
        from memocr.report.plot import write_plots

        files.plots = [plot.path for plot in write_plots(table, out)]
    if config.html:
        from memocr.report.html import write_html

        files.index = write_html(run, table, out, [path.name for path in files.plots])
    return markdown, files


def run(args: argparse.Namespace) -> int:
    config = config_from_args(ReportConfig, args)
    markdown, files = write_report(args.run_dir, config)
    print(markdown)
    print(f"Tables: {files.table_md}, {files.table_csv} (details: {files.details_md}, {files.details_csv})")
    if files.plots:
        print(f"Plots: {', '.join(str(path) for path in files.plots)}")
    if files.index is not None:
        print(f"HTML report: {files.index} (open it in a browser)")
    return 0
