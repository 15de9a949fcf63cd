"""Chromium as the service runs it: sandboxed, unprivileged, without the service's environment; work
that stops when its render is abandoned; browsers recycled; a clip frame no memory can lift."""

from __future__ import annotations

import asyncio
import os
import pwd
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

import memocr.render.sandbox as sandbox_module
from memocr.errors import RendererUnavailableError
from memocr.render import FULL, AsyncRenderer, Renderer
from memocr.render.page import build_page
from render_helpers import chromium_cpu_seconds, running_service

SECRET = "memocr-secret-in-the-service-environment-5b1e"
MEMORY = "# Key\n\n**Gene MacLellan** wrote it."
# A memory whose paint takes tens of seconds on a CPU (large blurs), far past a 1-s render limit.
SLOW_HTML = (
    '<div style="width:2300px;height:1000px;filter:blur(80px);background:linear-gradient(red,blue)">'
    + "".join(f'<div style="filter:blur(30px);box-shadow:0 0 200px 100px red">x{i}</div>' for i in range(10))
    + "</div>"
)


def _chromium_processes() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if p.name() == "chromium"]


def test_the_browser_is_sandboxed_unprivileged_and_without_the_service_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with running_service(workers=1) as base:
        assert httpx.post(f"{base}/render", json={"content": MEMORY}, timeout=60).status_code == 200
        assert httpx.get(f"{base}/health", timeout=10).json()["sandboxed"] is True
        processes = _chromium_processes()
        assert processes
        renderers = [p for p in processes if "--type=renderer" in p.cmdline()]
        assert renderers
        expected_uid = pwd.getpwnam("memocr-render").pw_uid if os.geteuid() == 0 else os.geteuid()
        own_network = os.readlink("/proc/self/ns/net")
        for process in processes:
            assert "--no-sandbox" not in process.cmdline()
            assert process.uids().real == process.uids().effective == expected_uid != 0
            assert SECRET.encode() not in Path(f"/proc/{process.pid}/environ").read_bytes()
            if "--type=" not in " ".join(process.cmdline()):  # the browser process: the launcher's env
                extra = {name for name in process.environ() if not name.startswith(("CHROM", "GOOGLE_"))}
                assert extra <= {"HOME", "TMPDIR", "PATH", "PWD"}  # CHROME*, GOOGLE_*: Debian's launcher
            assert os.readlink(f"/proc/{process.pid}/ns/net") != own_network
        for process in renderers:  # Chromium's own sandbox: seccomp-bpf, no new privileges
            status = Path(f"/proc/{process.pid}/status").read_text()
            assert "\nSeccomp:\t2\n" in status and "\nNoNewPrivs:\t1\n" in status
            assert os.readlink(f"/proc/{process.pid}/ns/user") != os.readlink("/proc/self/ns/user")


def test_without_user_namespaces_the_renderer_refuses_to_start_unless_told(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sandbox_module, "user_namespaces_work", lambda prefix: False)
    with pytest.raises(RendererUnavailableError, match="--allow-unsandboxed-browser"):
        Renderer(pages=1).start()
    from memocr.cli import main

    assert main(["serve", "--port", "1", "--workers", "1"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "sandbox" in error and "--allow-unsandboxed-browser" in error
    with Renderer(pages=1, allow_unsandboxed=True) as renderer:
        assert renderer.render(MEMORY).width > 0 and renderer.stats()["sandboxed"] is False


@pytest.mark.slow
def test_a_timed_out_render_stops_its_page(monkeypatch: pytest.MonkeyPatch) -> None:
    with running_service(workers=1, render_timeout_s=1.0, input="html") as base:
        response = httpx.post(f"{base}/render", json={"content": SLOW_HTML}, timeout=60)
        assert response.status_code == 504
        time.sleep(2.0)  # the page is closed in the background, its renderer process ends
        before = chromium_cpu_seconds()
        time.sleep(2.0)
        assert chromium_cpu_seconds() - before < 0.5  # the blur would keep a core busy for ~30 s
        ok = httpx.post(f"{base}/render", json={"content": "<p>next</p>"}, timeout=60)
        assert ok.status_code == 200


@pytest.mark.slow
def test_browsers_are_recycled_after_n_renders_and_above_an_rss_ceiling() -> None:
    async def recycled(renders: int, **options: object) -> dict[str, object]:
        async with AsyncRenderer(**options) as renderer:  # type: ignore[arg-type]
            results = await asyncio.gather(*(renderer.render(f"# memory {i}") for i in range(renders)))
            assert all(result.width > 0 for result in results)
            return renderer.stats()

    by_count = asyncio.run(recycled(10, pages=2, recycle_after_renders=3))
    assert by_count["recycles"] >= 2 and by_count["relaunches"] == by_count["retries"] == 0
    by_rss = asyncio.run(recycled(26, pages=1, recycle_above_rss_mb=1))
    assert by_rss["recycles"] == 1 and by_rss["retries"] == 0


def test_memory_css_cannot_lift_the_clip_frame() -> None:
    lift = (
        "<style>.frame, div.frame, body .frame { max-width: none !important; max-height: none !important;"
        " overflow: visible !important; display: contents !important; contain: none !important;"
        " transform: scale(20) !important; zoom: 20 !important; }</style>"
    )
    huge = '<div style="width:60000px;height:60000px;background:#123">x</div>'
    page = build_page(lift + huge, FULL, "html")

    async def measure() -> list[float]:
        async with AsyncRenderer(pages=1) as renderer, renderer._pool.page() as slot:
            assert slot.page is not None
            await slot.page.set_content(page)
            return await slot.page.evaluate(
                """() => { const f = document.querySelector('.frame').getBoundingClientRect();
                const d = document.documentElement;
                return [f.width, f.height, d.scrollWidth, d.scrollHeight]; }"""
            )

    frame_width, frame_height, document_width, document_height = asyncio.run(measure())
    assert frame_width <= FULL.max_width and frame_height <= FULL.max_height
    assert document_width <= FULL.max_width + 100 and document_height <= FULL.max_height + 100


if sys.platform != "linux":  # pragma: no cover
    pytest.skip("the sandbox checks read /proc", allow_module_level=True)
