"""Shared helpers for the renderer and service tests: loopback servers and killing Chromium."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import numpy as np
import psutil
from PIL import Image


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def request_recorder() -> Iterator[tuple[str, list[str]]]:
    """A tiny HTTP server on 127.0.0.1; yields its base URL and the list of paths it was asked for."""
    paths: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            paths.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"x")

        do_POST = do_HEAD = do_GET

        def log_message(self, format: str, *args: object) -> None:  # keep test output clean
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", paths
    finally:
        server.shutdown()
        server.server_close()


def _chromium_processes() -> list[psutil.Process]:
    return [child for child in psutil.Process().children(recursive=True) if "chrom" in child.name().lower()]


def chromium_children() -> int:
    """How many Chromium processes this test process has started (through Playwright) and not closed."""
    return len(_chromium_processes())


def kill_chromium() -> int:
    """SIGKILL every Chromium process started (through Playwright) by this test process."""
    victims = _chromium_processes()
    for process in victims:
        with suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(victims, timeout=5)
    time.sleep(0.2)  # let Playwright notice the dead pipe
    return len(victims)


def mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a.convert("RGB"), int) - np.asarray(b.convert("RGB"), int)).mean())
