"""The trainer's memory accounting: freed heap handed back, and a peak that can be measured per step."""

from __future__ import annotations

import sys

import pytest

from memocr.train import heap

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and glibc are Linux's")


@linux
def test_a_step_peak_covers_its_allocations_and_resets_for_the_next_step() -> None:
    assert heap.reset_peak()
    before = heap.peak_gib()
    block = bytearray(256 * 2**20)  # zero-filled: the pages are touched, so resident
    during = heap.peak_gib()
    del block
    assert during - before > 0.2
    assert heap.reset_peak()
    assert heap.peak_gib() < during - 0.2  # the next step starts from what is resident now


@linux
def test_after_step_reports_the_peak_and_what_stays_resident_after_the_trim() -> None:
    heap.reset_peak()
    chunks = [bytes(2**20) for _ in range(200)]  # many small blocks: the allocator's heap, not mmap
    del chunks
    metrics = heap.after_step()
    assert set(metrics) == {"memory/peak_gib", "memory/resident_gib"}
    assert 0 < metrics["memory/resident_gib"] <= metrics["memory/peak_gib"]
    assert heap.release()  # glibc's malloc_trim is there


def test_without_glibc_the_trim_is_skipped(monkeypatch) -> None:
    monkeypatch.setattr(heap, "_malloc_trim", lambda: None)
    assert heap.release() is False
