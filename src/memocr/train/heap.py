"""The trainer's resident memory: freed heap handed back to the system after every step, and measured.

torch frees a step's activations and the rollouts' tensors when they go out of scope, but glibc's
allocator keeps most of those pages for later requests, and sizes vary from step to step (prompt
lengths, images, micro-batches), so the process grows step after step: 7.0 to 10.3 GiB over 10 steps
of ``benchmarks/train_signal.py``, against 2.5 to 2.9 GiB when the freed pages are returned after each
step (docs/training.md). `release` does that: a garbage collection (rollouts hold reference cycles
through their traces), then glibc's ``malloc_trim(0)``. Where there is no glibc (macOS, musl) the trim
is skipped.

`reset_peak` and `peak_gib` give the peak resident memory of one step: Linux resets a process's
high-water mark when "5" is written to ``/proc/self/clear_refs``. Where that is not possible the peak
is the process's peak so far (``getrusage``), and `reset_peak` says so by returning False.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import resource
import sys
from pathlib import Path
from typing import Any

GIB = 2**30
_PROC = Path("/proc/self")


@functools.cache
def _malloc_trim() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # no glibc (musl has no malloc_trim)
        return None


def release() -> bool:
    """Collect garbage and return the allocator's free pages to the system; whether a trim ran."""
    gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def _status_kib(field: str) -> int | None:
    try:
        for line in (_PROC / "status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def resident_gib() -> float | None:
    """The process's resident memory now, in GiB (None where /proc is not there)."""
    kib = _status_kib("VmRSS")
    return None if kib is None else kib * 1024 / GIB


def reset_peak() -> bool:
    """Start a new peak measurement; False when the peak cannot be reset (it then counts from start)."""
    try:
        (_PROC / "clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_gib() -> float:
    """The peak resident memory since the last `reset_peak` (else since the process started), in GiB."""
    kib = _status_kib("VmHWM")
    if kib is None:
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        if sys.platform == "darwin":
            kib //= 1024  # bytes there
    return kib * 1024 / GIB


def after_step() -> dict[str, float]:
    """The step's peak (before the trim) and the resident memory after returning freed pages:
    ``memory/peak_gib`` and ``memory/resident_gib``, for the step's metrics."""
    metrics = {"memory/peak_gib": peak_gib()}
    release()
    resident = resident_gib()
    if resident is not None:
        metrics["memory/resident_gib"] = resident
    return metrics
