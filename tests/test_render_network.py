"""The network backstop below the page: nothing a memory names reaches a listener or a resolver.

A TCP listener on 127.0.0.1 counts every connection (a preconnect opens one without sending a
request), a FIFO tells whether anything opened it through a ``file:`` URL, and Chromium's own net log
shows whether a name was looked up or a connection attempted. Host names used are ``*.localhost``,
which Chromium resolves to loopback by itself, so even the unguarded control run sends nothing off
this machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import stat
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import async_playwright

from memocr.render.pool import CHROMIUM_FLAGS, CHROMIUM_PATH
from memocr.render.sandbox import OFFLINE_FLAGS, ChromiumLauncher
from render_helpers import running_service

# Net log events that mean a name was looked up or a connection was attempted.
_LOOKUPS = {
    "HOST_RESOLVER_MANAGER_JOB",
    "HOST_RESOLVER_DNS_TASK",
    "HOST_RESOLVER_SYSTEM_TASK",
    "DNS_TRANSACTION",
}
_CONNECTS = {"TCP_CONNECT_ATTEMPT", "UDP_BYTES_SENT", "SOCKET_BYTES_SENT"}


class Listener:
    """Accepts and counts TCP connections on 127.0.0.1 (an HTTP request is not needed to count)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = self.server.accept()
                self.accepted += 1
                connection.close()


@pytest.fixture()
def listener() -> Iterator[Listener]:
    listening = Listener()
    yield listening
    listening.server.close()


@pytest.fixture()
def fifo() -> Iterator[Path]:
    """A named pipe anyone may open; opening it for reading blocks until a writer comes, so a
    non-blocking open for writing succeeds exactly while something holds it open to read."""
    folder = Path(tempfile.mkdtemp(prefix="memocr-probe-"))
    folder.chmod(0o755)
    path = folder / "probe.fifo"
    os.mkfifo(path)
    path.chmod(0o666)
    yield path
    path.unlink()
    folder.rmdir()


def opened_for_reading(path: Path) -> bool:
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # ENXIO: no reader
        return False
    os.close(descriptor)
    return True


def probes(port: int, fifo: Path) -> dict[str, str]:
    """One memory per way of making a browser reach out, all aimed at the listener or the FIFO."""
    base = f"http://127.0.0.1:{port}"
    named = f"http://probe.localhost:{port}"
    refresh = f"&lt;meta http-equiv=&quot;refresh&quot; content=&quot;0;url={base}/refresh&quot;&gt;"
    return {
        "resource_hints": f'<link rel="preconnect" href="{base}"><link rel="preconnect" href="{named}">'
        f'<link rel="dns-prefetch" href="//dns-probe.localhost"><link rel="preload" as="image" '
        f'href="{base}/preload.png"><link rel="prefetch" href="{named}/prefetch">'
        f'<link rel="modulepreload" href="{base}/m.js">hints',
        "css_import": f'<style>@import url("{base}/import.css"); @import "{named}/b.css";</style>import',
        "svg_use": f'<svg width="20" height="20"><use href="{base}/sprite.svg#a"/>'
        f'<use xlink:href="{named}/s.svg#b"/><image href="{base}/i.png"/></svg>svg',
        "meta_refresh_in_srcdoc": f'<iframe srcdoc="{refresh}"></iframe>'
        f"<iframe srcdoc=\"<meta http-equiv='refresh' content='0;url={named}/r'>\"></iframe>srcdoc",
        "file_urls": f'<img src="file://{fifo}"><iframe src="file://{fifo}"></iframe>'
        f'<link rel="stylesheet" href="file://{fifo}"><style>@import url("file://{fifo}");</style>'
        f'<object data="file://{fifo}"></object>files',
        "data_urls": f"<iframe src=\"data:text/html,<img src='{base}/d.png'>"
        f"<link rel=preconnect href='{base}'>\"></iframe>"
        f"<object data=\"data:text/html,<style>@import url('{named}/x.css')</style>\"></object>"
        f"<img src=\"data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg'><image href='{base}/s.png'/>"
        '</svg>">data',
    }


def test_probe_memories_through_the_service_reach_nothing(listener: Listener, fifo: Path) -> None:
    memories = probes(listener.port, fifo)
    with running_service(workers=2) as base, httpx.Client(base_url=base, timeout=60) as client:
        for name, memory in memories.items():
            for input_format in ("html", "markdown"):
                body = {"content": memory, "input": input_format}
                assert client.post("/render", json=body).status_code == 200, name
        time.sleep(1.0)  # anything late would have arrived by now
        assert listener.accepted == 0
        assert not opened_for_reading(fifo)
        # The page was not navigated away by any of them.
        assert client.post("/render", json={"content": "# still here"}).status_code == 200


async def _visit(
    launcher: ChromiumLauncher, page_html: str, *, offline_flags: tuple[str, ...]
) -> Counter[str]:
    """Load ``page_html`` with scripts on, no request interception and no CSP: only what lies below
    the page stands between it and the network. Returns the net log's event counts."""
    launcher.prepare()
    net_log = os.path.join(launcher.home, "net-log.json")
    options = launcher.launch_options(CHROMIUM_FLAGS, 30)
    options["args"] = [a for a in options["args"] if a not in OFFLINE_FLAGS] + list(offline_flags)
    options["args"] += [f"--log-net-log={net_log}", "--net-log-capture-mode=Everything"]
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(**options)
            page = await (await browser.new_context(java_script_enabled=True)).new_page()
            await page.set_content(page_html, wait_until="load", timeout=20_000)
            await asyncio.sleep(1.5)
            await browser.close()
        text = Path(net_log).read_text().rstrip()
        log = json.loads(text if text.endswith("}") else text.rstrip(",") + "]}")
    finally:
        launcher.cleanup()
    names = {number: name for name, number in log["constants"]["logEventTypes"].items()}
    return Counter(names[event["type"]] for event in log["events"])


def _unguarded_page(port: int, fifo: Path) -> str:
    base = f"http://127.0.0.1:{port}"
    script = (
        f"<script>fetch('{base}/fetch').catch(() => 0); fetch('http://probe.localhost:{port}/f')"
        f".catch(() => 0); new Image().src = '{base}/js.png';"
        f"try {{ new WebSocket('ws://127.0.0.1:{port}/ws'); }} catch (e) {{}}</script>"
    )
    return "<!DOCTYPE html><html><body>" + "".join(probes(port, fifo).values()) + script + "</body></html>"


@pytest.mark.parametrize(
    ("network_namespace", "offline_flags"),
    [(True, OFFLINE_FLAGS), (False, OFFLINE_FLAGS), (True, ())],
    ids=["both", "flags-only", "namespace-only"],
)
def test_each_layer_below_the_page_stops_every_probe_alone(
    listener: Listener, fifo: Path, network_namespace: bool, offline_flags: tuple[str, ...]
) -> None:
    launcher = ChromiumLauncher(CHROMIUM_PATH, network_namespace=network_namespace)
    events = asyncio.run(_visit(launcher, _unguarded_page(listener.port, fifo), offline_flags=offline_flags))
    assert listener.accepted == 0 and not opened_for_reading(fifo)
    if offline_flags:  # nothing was even looked up or dialled (Chromium's own update checks neither)
        assert not (set(events) & (_LOOKUPS | _CONNECTS)), events


def test_without_the_backstop_the_probes_do_reach_the_listener(listener: Listener, fifo: Path) -> None:
    """The control: the same page, scripts on, no namespace and no proxy; proves the probes are live.
    Names still resolve to nothing (Chromium's own lookups, update.googleapis.com, must not leave this
    machine); only 127.0.0.1 is let through."""
    launcher = ChromiumLauncher(CHROMIUM_PATH, network_namespace=False)
    resolver_only = ("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",)
    events = asyncio.run(_visit(launcher, _unguarded_page(listener.port, fifo), offline_flags=resolver_only))
    assert listener.accepted > 0 and events["TCP_CONNECT_ATTEMPT"] > 0
    assert events["DNS_TRANSACTION"] == events["HOST_RESOLVER_SYSTEM_TASK"] == 0
    assert stat.S_ISFIFO(fifo.stat().st_mode)
