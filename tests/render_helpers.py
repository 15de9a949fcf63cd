"""Shared helpers for the renderer and service tests: the service and other loopback servers, raw
HTTP, Chromium's processes."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import numpy as np
import psutil
import uvicorn
from fastapi import FastAPI
from PIL import Image

from memocr.render.service import ServeConfig, create_app, server_config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_service(app: FastAPI | None = None, **overrides: object) -> Iterator[str]:
    """`memocr serve` (``app``, or one made from the overrides) in a background thread on a free
    loopback port, with the CLI's uvicorn settings; yields its base URL."""
    if app is None:
        config = ServeConfig(port=free_port(), log_level="warning", **overrides)  # type: ignore[arg-type]
        app = create_app(config)
    config = app.state.config
    server = uvicorn.Server(server_config(config, app))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the render service did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def raw_exchange(port: int, data: bytes, *, wait_s: float = 5.0, pause_s: float = 0.0) -> bytes:
    """Send ``data`` on a fresh connection (then keep it open ``pause_s``), and return what the
    server answers before it closes the connection or ``wait_s`` pass."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as sock:
        sock.sendall(data)
        time.sleep(pause_s)
        answer = b""
        deadline = time.monotonic() + wait_s
        with suppress(TimeoutError, ConnectionResetError):
            while time.monotonic() < deadline and (chunk := sock.recv(65536)):
                answer += chunk
        return answer


def chromium_cpu_seconds() -> float:
    """CPU time used so far by the Chromium processes this test process started (living ones)."""
    total = 0.0
    for process in _chromium_processes():
        with suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


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
