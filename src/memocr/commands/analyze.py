"""`memocr analyze RUN_DIR`: density statistics of a run's final memories and the oracle experiment.

Density: every finished draft of the run (``drafts.jsonl``) is split into its crucial region
(headings) and detailed region (the rest), and tokens and evidence precision are counted per region
(`memocr.analysis.density`). Oracle: per question, the same evidence is placed in a top heading or in
body text of an otherwise fixed memory and answered at every budget (`memocr.analysis.oracle`).
Outputs go to RUN_DIR/analysis (``--out``); ``analysis.md`` summarises both and is printed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from memocr.agent import ReadSettings
from memocr.config import add_config_arguments, at_least, check_writable, config_from_args, write_config
from memocr.errors import InputError

if TYPE_CHECKING:
    from memocr.analysis.oracle import OracleQuestion, OracleRecord

OFFLINE_NUM_DOCS = 10  # the oracle reads no context, so the offline set's padding does not matter
OFFLINE_DEFAULT_N = 20


@dataclass
class AnalyzeConfig(ReadSettings):
    run_dir: Path | None = field(
        default=None, metadata={"help": "the run directory (as written by memocr eval)", "path": True}
    )
    out: Path | None = field(
        default=None, metadata={"help": "analysis folder (default: RUN_DIR/analysis)", "output": "dir"}
    )
    oracle: bool = field(default=True, metadata={"help": "run the heading-vs-body oracle experiment"})
    model: str = field(
        default="embedded", metadata={"help": "model spec that answers the oracle memories", "spec": True}
    )
    budgets: list[int] = field(
        default_factory=lambda: [1024, 256, 64, 16],
        metadata={"help": "visual-token budgets of the oracle"},
    )
    n: int | None = field(
        default=None,
        metadata={"help": f"at most this many oracle questions (default: all; {OFFLINE_DEFAULT_N} offline)"},
    )
    questions: str | None = field(
        default=None,
        metadata={
            "help": "oracle questions (default: the run's drafts): 'offline' = the built-in offline set; "
            "or a dataset file (.jsonl/.json/.parquet) whose records have supporting_facts",
        },
    )
    filler_sentences: int = field(
        default=12, metadata={"help": "filler sentences in every oracle memory (12 ≈ 180 words)"}
    )
    body_position: Literal["top", "middle"] = field(
        default="top",
        metadata={"help": "where body placement puts the evidence paragraph: first, or mid-body"},
    )
    bold_lines: bool = field(
        default=False, metadata={"help": "count bold-only lines as headings (crucial region)"}
    )

    def __post_init__(self) -> None:
        super().__post_init__()  # seed: also the filler choice's
        at_least(self, 1, "budgets", "n")
        at_least(self, 0, "filler_sentences")
        if not self.budgets:
            raise InputError("give at least one budget (--budgets 1024 256 64 16)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_path", nargs="?", metavar="RUN_DIR", help="the run directory to analyse")
    add_config_arguments(parser, AnalyzeConfig)
    for action in parser._actions:  # --budgets 1024 256 64 16, as well as 1024,256 or repeated
        if action.dest == "budgets":
            action.nargs = "+"


def run(args: argparse.Namespace) -> int:
    if args.budgets is not None:
        args.budgets = [budget for group in args.budgets for budget in group]
    if args.run_path is not None:
        if args.run_dir is not None:
            raise InputError("give the run directory once: as RUN_DIR or as --run-dir, not both")
        args.run_dir = Path(args.run_path)
    config = config_from_args(AnalyzeConfig, args)
    return analyze(config)


def analyze(config: AnalyzeConfig) -> int:
    from memocr.eval.results import DRAFTS_FILE, read_drafts

    run_dir = config.run_dir
    if run_dir is None:
        raise InputError("no run directory given: memocr analyze RUN_DIR")
    if not run_dir.is_dir():
        raise InputError(f"run directory {run_dir} does not exist (or is not a directory)")
    drafts = read_drafts(run_dir)
    if not drafts and not (config.oracle and config.questions):
        raise InputError(
            f"{run_dir} has no finished drafts ({DRAFTS_FILE} is missing or empty): run memocr eval "
            "into it first, or pass --questions offline (or a dataset file) to run the oracle alone"
        )
    out = config.out or run_dir / "analysis"
    check_writable(out, "out")
    out.mkdir(parents=True, exist_ok=True)
    write_config(config, out / "analysis-config.yaml")

    sections = [f"# Analysis of {run_dir}\n"]
    written: list[Path] = []
    if drafts:
        sections.append(_density(drafts, config, out, written))
    else:
        sections.append("## Density of final memories\n\nThe run has no finished drafts yet.\n")
    oracle_error: InputError | None = None
    if config.oracle:
        try:
            sections.append(_oracle(drafts, config, out, written))
        except InputError as error:
            oracle_error = error
            sections.append(f"## Oracle\n\nNot run: {error}\n")
    else:
        sections.append("## Oracle\n\nNot run (--no-oracle).\n")

    report = "\n".join(sections)
    (out / "analysis.md").write_text(report, encoding="utf-8")
    print(report)
    print("Files:")
    for path in [out / "analysis.md", *written]:
        print(f"  {path}")
    if oracle_error is not None:
        raise InputError(f"{oracle_error} (the density analysis is in {out}/)")
    return 0


# --- density -----------------------------------------------------------------------------------


def _density(drafts: list, config: AnalyzeConfig, out: Path, written: list[Path]) -> str:
    from memocr.analysis.density import density_rows
    from memocr.analysis.plots import plot_density
    from memocr.analysis.tables import density_section, write_density_csv

    rows = density_rows(drafts, bold_lines=config.bold_lines)
    write_density_csv(rows, out / "density.csv")
    plot_density(rows, out / "density.png")
    written += [out / "density.csv", out / "density.png"]
    return density_section(rows, config.bold_lines)


# --- oracle ------------------------------------------------------------------------------------


def oracle_source(drafts: list, config: AnalyzeConfig) -> tuple[list[OracleQuestion], str]:
    """The oracle's questions and a phrase saying where they came from."""
    from memocr.analysis.oracle import oracle_questions

    if not config.questions:
        questions = oracle_questions(drafts)
        where = "the run's drafts"
        if not questions:
            raise InputError(
                "no question of the run has supporting facts to place; pass --questions offline "
                "(or a dataset file with supporting_facts), or --no-oracle"
            )
        return questions, where
    if config.questions == "offline":
        from memocr.data.offline import build_offline

        # At least the default number of questions is built, so that the filler pool (and with it every
        # memory and stored answer) stays the same whatever --n is up to that number.
        n = max(config.n or OFFLINE_DEFAULT_N, OFFLINE_DEFAULT_N)
        records = build_offline(num_docs=OFFLINE_NUM_DOCS, n=n, seed=config.seed)
        where = f"the offline set (build_offline(num_docs={OFFLINE_NUM_DOCS}, n={n}, seed={config.seed}))"
    else:
        from memocr.data.io import load_records

        records = load_records(config.questions)
        where = str(config.questions)
    questions = oracle_questions(records)
    if not questions:
        raise InputError(f"no record in {where} has supporting facts to place")
    return questions, where


def _oracle(drafts: list, config: AnalyzeConfig, out: Path, written: list[Path]) -> str:
    from memocr.analysis.oracle import OracleSettings, oracle_table, premise
    from memocr.analysis.plots import plot_oracle
    from memocr.analysis.tables import oracle_markdown, oracle_section, write_oracle_csv
    from memocr.models import redact_spec

    questions, where = oracle_source(drafts, config)
    if config.n is not None:
        where = f"{where}, the first {min(config.n, len(questions))} of {len(questions)}"
    settings = OracleSettings(
        budgets=list(config.budgets),
        filler_sentences=config.filler_sentences,
        body_position=config.body_position,
        seed=config.seed,
    )
    path = out / "oracle.jsonl"
    records = asyncio.run(_answer(questions, settings, config, path))
    cells = oracle_table(records, settings.budgets)
    write_oracle_csv(cells, out / "oracle.csv")
    table = oracle_markdown(cells, settings.budgets)
    (out / "oracle.md").write_text(table, encoding="utf-8")
    plot_oracle(cells, out / "oracle.png")
    written += [path, out / "oracle.csv", out / "oracle.md", out / "oracle.png"]
    return oracle_section(records, cells, settings, where, premise(cells).sentence, redact_spec(config.model))


async def _answer(
    questions: list[OracleQuestion], settings, config: AnalyzeConfig, path: Path
) -> list[OracleRecord]:
    from tqdm import tqdm

    from memocr.agent import MemoryAgent
    from memocr.analysis.oracle import PLACEMENTS, run_oracle
    from memocr.models import load_model
    from memocr.render import AsyncRenderer

    agent_settings = config.agent_settings("visual")
    model = load_model(config.model)
    total = len(questions[: config.n]) * len(PLACEMENTS) * len(settings.budgets)
    async with model, AsyncRenderer(pages=1) as renderer:
        agent = MemoryAgent(model, agent_settings, renderer)
        with tqdm(total=total, desc="oracle", unit="answer", file=sys.stderr) as bar:
            return await run_oracle(agent, questions, settings, path, progress=bar.update, limit=config.n)
