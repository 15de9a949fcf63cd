"""`memocr eval`: datasets × lengths × modes × budgets with one model, resumable, local or on Ray."""

from __future__ import annotations

import argparse
import sys

from memocr.config import add_config_arguments, config_from_args
from memocr.eval.config import EvalConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, EvalConfig)


def run(args: argparse.Namespace) -> int:
    from memocr.eval.results import read_results
    from memocr.eval.runner import evaluate
    from memocr.report.table import build_table, details_markdown

    config = config_from_args(EvalConfig, args)
    outcome = evaluate(config)
    if outcome.skipped:
        print(
            f"memocr eval: {outcome.skipped} question × mode pair(s) already done in {config.out}, skipped",
            file=sys.stderr,
        )
    print(details_markdown(build_table(read_results(config.out))))
    print(
        f"\nResults: {config.out}/results.jsonl ({len(outcome.records)} record(s) added in "
        f"{outcome.seconds:.0f} s); traces under {config.out}/traces/"
    )
    print(f"Report: memocr report {config.out}    Analysis: memocr analyze {config.out}")
    if not outcome.left:
        return 0
    print(
        f"memocr eval: {outcome.left} answer(s) failed and have no result in {config.out}; run the same "
        "command again to retry them (it resumes and reruns only what is missing). This run's first:",
        file=sys.stderr,
    )
    for record in outcome.failures[:3]:
        error = record.error or {}
        print(
            f"  {record.question_id} {record.mode} @ {record.budget}: {error.get('stage')}: "
            f"{error.get('type')}: {error.get('message')}",
            file=sys.stderr,
        )
    return 1
