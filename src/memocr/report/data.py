"""An evaluation run directory read for reporting: its results, finished drafts and config.

The report never changes a run; it reads ``results.jsonl`` and ``drafts.jsonl`` through
`memocr.eval.results` (which names the file and line of anything unreadable) and keeps the config as
text to show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from memocr.errors import InputError
from memocr.eval.results import (
    CONFIG_FILE,
    DRAFTS_FILE,
    RESULTS_FILE,
    DraftRecord,
    ResultRecord,
    read_drafts,
    read_results,
)


@dataclass
class Run:
    path: Path
    results: list[ResultRecord]
    drafts: list[DraftRecord]
    config_text: str | None  # the run's config.yaml, when there is one

    def draft_for(self, dataset: str, length: int, question_id: str, mode: str) -> DraftRecord | None:
        return self._drafts.get((dataset, length, question_id, mode))

    def __post_init__(self) -> None:
        self._drafts = {(d.dataset, d.length, d.question_id, d.mode): d for d in self.drafts}


def load_run(run_dir: str | Path) -> Run:
    """Read a run directory; `InputError` when it is missing or holds no results."""
    path = Path(run_dir)
    if not path.exists():
        raise InputError(f"run directory {path} does not exist; pass the folder memocr eval wrote")
    if not path.is_dir():
        raise InputError(f"{path} is not a directory; pass the run folder memocr eval wrote")
    if not (path / RESULTS_FILE).is_file():
        raise InputError(
            f"{path} has no {RESULTS_FILE}: not an evaluation run, or no question has been answered yet"
        )
    results = read_results(path)
    if not results:
        raise InputError(f"{path / RESULTS_FILE} holds no results yet")
    for record in results:  # lengths and budgets are sorted and computed on
        if not (isinstance(record.length, int) and isinstance(record.budget, int)):
            raise InputError(
                f"{path / RESULTS_FILE}: a record of {record.question_id!r} has a length or "
                "budget that is not a whole number; fix or delete that line"
            )
    config_path = path / CONFIG_FILE
    try:
        config_text = config_path.read_text(encoding="utf-8") if config_path.is_file() else None
    except (OSError, UnicodeDecodeError):
        config_text = None
    drafts = read_drafts(path) if (path / DRAFTS_FILE).is_file() else []  # runs before drafts.jsonl
    return Run(path=path, results=results, drafts=drafts, config_text=config_text)
