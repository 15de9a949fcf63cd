"""Markdown -> HTML in child processes, each conversion bounded in time.

Python-Markdown is quadratic or worse on some inputs (in 3.11, 4,000 unclosed links ``[a](`` in a
row take 3.4 s; older releases were as slow on plain ``[``, ``<a ``, ``![``, ``<![CDATA[`` and setext
underlines) and recurses past Python's limit on a few hundred nested list levels. A thread cannot
be stopped, a process can: each conversion runs in a warm worker process, and one that has not
answered within ``timeout_s`` is killed (a fresh worker replaces it). A memory Python-Markdown
cannot convert, in time or at all, is drawn as its plain text instead, and the result says so.
"""

from __future__ import annotations

import asyncio
import html
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import markdown

# A fresh interpreter, not a fork (the parent runs threads, and a fork copies whatever lock one of them
# held) and not multiprocessing's spawn (which re-runs the parent's main script). It finds memocr where
# the parent found it.
_WORKER_COMMAND = (
    sys.executable,
    "-c",
    "import sys; sys.path.insert(0, sys.argv[1]); from memocr.render.converter import serve; serve()",
    str(Path(__file__).resolve().parents[2]),
)
_READY = "ready"


def markdown_to_html(text: str) -> str:
    """Python-Markdown with the ``extra`` extension set (tables, fenced code, attribute lists, ...),
    exactly the converter the released server used; a fresh converter per call is thread-safe."""
    return markdown.markdown(text, extensions=["extra"])


def plain_text_html(text: str) -> str:
    """The memory as text in one paragraph; the profiles' ``pre-wrap`` keeps its lines."""
    return f"<p>{html.escape(text, quote=False)}</p>"


@dataclass(frozen=True)
class Conversion:
    html: str
    plain_text: bool


def serve() -> None:
    """Worker process main: convert every text read from stdin until the parent closes it. Answers go
    to the original stdout; anything else printing goes to stderr."""
    answers = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)
    texts = Connection(os.dup(0), writable=False)
    answers.send(_READY)
    while True:
        try:
            text = texts.recv()
        except EOFError:
            return
        try:
            answers.send(markdown_to_html(text))
        except Exception:  # RecursionError on deep nesting, or any other Python-Markdown failure
            answers.send(None)


class _Worker:
    def __init__(self) -> None:
        self.process = subprocess.Popen(_WORKER_COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.process.stdin is not None and self.process.stdout is not None
        self.texts = Connection(os.dup(self.process.stdin.fileno()), readable=False)
        self.answers = Connection(os.dup(self.process.stdout.fileno()), writable=False)
        self.process.stdin.close()
        self.process.stdout.close()
        self.ready = False
        self.usable = True

    def convert(self, text: str, timeout_s: float, start_timeout_s: float) -> str | None:
        """The HTML, or None when Python-Markdown failed or the worker did not answer in time (then it
        is no longer ``usable``)."""
        try:
            if not self.ready:
                self.ready = self.answers.poll(start_timeout_s) and self.answers.recv() == _READY
                if not self.ready:
                    self.usable = False
                    return None
            self.texts.send(text)
            if not self.answers.poll(timeout_s):
                self.usable = False
                return None
            return self.answers.recv()
        except (OSError, EOFError):  # the worker died (killed, out of memory) or never started
            self.usable = False
            return None

    def stop(self) -> None:
        self.texts.close()
        self.answers.close()
        self.process.kill()
        self.process.wait()


class MarkdownConverter:
    """Up to ``workers`` conversions at once, each in its own warm process; callers beyond wait."""

    def __init__(self, *, workers: int, timeout_s: float, start_timeout_s: float = 30.0) -> None:
        self.workers = workers
        self.timeout_s = timeout_s
        self.start_timeout_s = start_timeout_s
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._admission = asyncio.Semaphore(workers)
        self._closed = False
        self.fallbacks = 0

    def start(self) -> None:
        """Start the worker processes; they finish importing while the browser launches."""
        with self._lock:
            self._closed = False
            self._idle.extend(_Worker() for _ in range(self.workers - len(self._idle)))

    def close(self) -> None:
        with self._lock:
            idle, self._idle, self._closed = self._idle, [], True
        for worker in idle:
            worker.stop()

    async def convert(self, text: str) -> Conversion:
        async with self._admission:
            converted = await asyncio.to_thread(self._convert, text)
        if converted is None:
            self.fallbacks += 1
            return Conversion(plain_text_html(text), plain_text=True)
        return Conversion(converted, plain_text=False)

    def _idle_worker(self) -> _Worker | None:
        """An idle worker that is still alive; dead ones (killed meanwhile) are dropped."""
        while True:
            with self._lock:
                worker = self._idle.pop() if self._idle else None
            if worker is None or worker.process.poll() is None:
                return worker
            worker.stop()

    def _convert(self, text: str) -> str | None:
        # Runs to the end even when the awaiting render was cancelled, so a worker is never left
        # holding an unread answer: it goes back to the idle list, or is stopped.
        try:
            worker = self._idle_worker() or _Worker()
        except OSError:  # no process can be started now (limits, memory): draw the text as it is
            return None
        converted = worker.convert(text, self.timeout_s, self.start_timeout_s)
        with self._lock:
            keep = worker.usable and not self._closed
            if keep:
                self._idle.append(worker)
        if not keep:
            worker.stop()
        return converted
