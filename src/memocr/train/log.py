"""Per-step metrics: weighted means gathered over processes, one JSON line per step and TensorBoard.

``OUT/metrics.jsonl`` gets one line per finished step, flushed and fsynced before the next step
starts, so a crash loses at most the step in progress. A resumed run first moves the lines of steps
after its checkpoint (work whose weights were lost) to ``OUT/metrics.superseded.jsonl``, so the log
has one line per step of the run that counts. TensorBoard event files go to ``OUT/tensorboard/``
(``tensorboard --logdir OUT/tensorboard``); without the ``tensorboard`` package only the JSON lines
are written, with a warning.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

from memocr import store

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
    return store.read(Path(out) / METRICS_FILE)


class MetricsLog:
    """Writes step metrics (main process only)."""

    def __init__(self, out: Path, *, resumed_step: int = 0) -> None:
        self.path = Path(out) / METRICS_FILE
        self._settle(resumed_step)
        self._writer = _tensorboard(Path(out) / "tensorboard", resumed_step)

    def _settle(self, resumed_step: int) -> None:
        """Keep the lines of steps up to ``resumed_step``; move later ones aside; drop a torn tail."""
        rows = read_metrics(self.path.parent)
        later = [row for row in rows if row.get("step", 0) > resumed_step]
        if later:
            store.append(self.path.parent / SUPERSEDED_FILE, later)
            store.rewrite(self.path, [row for row in rows if row.get("step", 0) <= resumed_step])

    def write(self, step: int, metrics: dict[str, Any]) -> None:
        row = {"step": step, **{k: _plain(v) for k, v in sorted(metrics.items())}}
        store.append(self.path, [row])
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
