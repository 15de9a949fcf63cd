"""Tests marked `all_cores` run with the machine to themselves.

llama.cpp's threads wait for each other after every operation, so one busy core beside them nearly
doubles their time: the shipped-document test took 313 s beside the other test worker and about 180 s
alone, while the other worker's tests slowed down too. Every test holds a lock on a file the workers
share: `all_cores` tests exclusively, all others shared, so the other worker waits between two of its
tests while an `all_cores` test runs. The lock is taken before pytest-timeout starts a test's clock, so
the wait does not count against any test's time limit.
"""

from __future__ import annotations

import fcntl

import pytest


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item):
    cache = getattr(item.config, "cache", None)
    if cache is None:  # run with -p no:cacheprovider: no shared directory, no lock
        yield
        return
    mode = fcntl.LOCK_EX if item.get_closest_marker("all_cores") else fcntl.LOCK_SH
    with open(cache.mkdir("cores") / "lock", "a") as lock:
        fcntl.flock(lock, mode)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
