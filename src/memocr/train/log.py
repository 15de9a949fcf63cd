"""Per-step metrics: weighted means gathered over processes, one JSON line per step and TensorBoard.

``OUT/metrics.jsonl`` gets one line per finished step, flushed and fsynced before the next step
starts, so a crash loses at most the step in progress. A resumed run first moves the lines of steps
after its checkpoint (work whose weights were lost) to ``OUT/metrics.superseded.jsonl``, so the log
has one line per step of the run that counts. TensorBoard event files go to ``OUT/tensorboard/``
(``tensorboard --logdir OUT/tensorboard``); without the ``tensorboard`` package only the JSON lines
are written, with a warning.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.jsonl"
SUPERSEDED_FILE = "metrics.superseded.jsonl"


class Meter:
    """Weighted sums per key; ``means()`` gives sum / weight (``add(key, value)`` weighs 1)."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = defaultdict(float)
        self.weights: dict[str, float] = defaultdict(float)

    def add(self, key: str, value: float, weight: float = 1.0) -> None:
        self.sums[key] += value * weight
        self.weights[key] += weight

    def update(self, other: Meter) -> Meter:
        for key, value in other.sums.items():
            self.sums[key] += value
            self.weights[key] += other.weights[key]
        return self

    def means(self) -> dict[str, float]:
        return {key: self.sums[key] / w for key, w in self.weights.items() if w}

    def gathered(self, accelerator: Any) -> Meter:
        """This meter summed over all processes (itself on one)."""
        if accelerator is None or accelerator.num_processes == 1:
            return self
        from accelerate.utils import gather_object

        merged = Meter()
        for sums, weights in gather_object([(dict(self.sums), dict(self.weights))]):
            other = Meter()
            other.sums.update(sums)
            other.weights.update(weights)
            merged.update(other)
        return merged


def read_metrics(out: Path) -> list[dict[str, Any]]:
    path = Path(out) / METRICS_FILE
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break  # a torn last line from a crash
    return rows


class MetricsLog:
    """Writes step metrics (main process only)."""

    def __init__(self, out: Path, *, resumed_step: int = 0) -> None:
        self.path = Path(out) / METRICS_FILE
        self._settle(resumed_step)
        self._writer = _tensorboard(Path(out) / "tensorboard", resumed_step)

    def _settle(self, resumed_step: int) -> None:
        """Keep the lines of steps up to ``resumed_step``; move later ones aside; drop a torn tail."""
        rows = read_metrics(self.path.parent)
        keep = [row for row in rows if row.get("step", 0) <= resumed_step]
        later = [row for row in rows if row.get("step", 0) > resumed_step]
        if later:
            with (self.path.parent / SUPERSEDED_FILE).open("a", encoding="utf-8") as handle:
                handle.writelines(json.dumps(row) + "\n" for row in later)
        if self.path.exists() or keep:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text("".join(json.dumps(row) + "\n" for row in keep), encoding="utf-8")
            os.replace(tmp, self.path)

    def write(self, step: int, metrics: dict[str, Any]) -> None:
        row = {"step": step, **{k: _plain(v) for k, v in sorted(metrics.items())}}
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        if self._writer is not None:
            for key, value in row.items():
                if key != "step" and isinstance(value, int | float) and math.isfinite(value):
                    self._writer.add_scalar(key, value, step)
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else str(value)
    return value


def _tensorboard(folder: Path, resumed_step: int) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        warnings.warn(
            "tensorboard is not installed (pip install 'memocr[train]'): metrics go to metrics.jsonl only",
            stacklevel=3,
        )
        return None
    # purge_step drops events after the checkpoint a resumed run restarts from.
    return SummaryWriter(str(folder), purge_step=resumed_step + 1 if resumed_step else None)
