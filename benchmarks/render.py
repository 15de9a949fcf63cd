"""Render throughput, latency, memory and cold start: in-process renderer, HTTP service, naive baseline.

    .venv/bin/python benchmarks/render.py [--profile memocr-v1|full] [--requests 240] [--workers N]
                                          [--systems naive,in-process,http]

Prints one row per (system, concurrency): renders/s, p50/p99 latency, RSS of the whole process tree
(Chromium included) and the speed-up over the naive baseline (one warm browser, a new page per render,
the released server's design). The service runs as a real `memocr serve` subprocess on 127.0.0.1.
Targets (2-core machine, memocr-v1): >= 20 renders/s over HTTP at concurrency 8, p99 <= 400 ms,
service RSS <= 1.5 GB, first render <= 2 s after start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import httpx
import psutil
from PIL import Image
from playwright.async_api import async_playwright

from memocr.render import AsyncRenderer, get_profile
from memocr.render.page import page_for
from memocr.render.pool import CHROMIUM_FLAGS, CHROMIUM_PATH
from memocr.render.sandbox import ChromiumLauncher

CONCURRENCY = (1, 4, 8)


def memories() -> list[str]:
    """A mix of a short, a medium and a long memory, like drafts early, midway and late in a document."""
    short = "# Ocean (band)\n\n**Gene MacLellan** wrote *Put Your Hand in the Hand* (1971)."
    medium = "# Key facts\n\n" + "\n".join(
        f"- **Fact {i}**: a supporting detail about item {i}." for i in range(12)
    )
    medium += "\n\n## Notes\n\n" + "Auxiliary context sentence with some numbers 1971, 1972. " * 15
    long = "# Crucial\n\n## Evidence\n\n" + "\n\n".join(
        f"Paragraph {i}: " + "detailed background text that the model wrote down just in case. " * 4
        for i in range(40)
    )
    return [short, medium, long]


def tree_memory_mb(pid: int) -> tuple[float, float]:
    """(summed RSS, summed PSS) of a process and all its descendants, Chromium included. Summed RSS
    counts memory shared between Chromium processes once per process; PSS splits it fairly."""
    root = psutil.Process(pid)
    rss = pss = 0
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            info = process.memory_full_info()
            rss, pss = rss + info.rss, pss + info.pss
    return rss / 2**20, pss / 2**20


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def load(call: Callable[[str], Awaitable[None]], requests: int, concurrency: int) -> dict[str, float]:
    """``requests`` calls over the memory mix, ``concurrency`` at a time; throughput and latency."""
    mix = memories()
    latencies: list[float] = []
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < requests:
            index, next_index = next_index, next_index + 1
            started = time.perf_counter()
            await call(mix[index % len(mix)])
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {
        "rps": requests / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * percentile(latencies, 0.99),
    }


def row(system: str, concurrency: int, stats: dict[str, float], pid: int, baseline: float | None) -> None:
    rss_mb, pss_mb = tree_memory_mb(pid)
    ratio = f"{stats['rps'] / baseline:5.2f}x" if baseline else "    -"
    print(
        f"{system:<12} c={concurrency:<2} {stats['rps']:7.1f} renders/s  p50 {stats['p50_ms']:6.1f} ms  "
        f"p99 {stats['p99_ms']:6.1f} ms  RSS {rss_mb:5.0f} MB (PSS {pss_mb:5.0f})  vs naive {ratio}",
        flush=True,
    )


async def bench_naive(profile: str, requests: int) -> dict[int, float]:
    """The released design: one warm browser, but a new page for every render."""
    resolved = get_profile(profile)
    launcher = ChromiumLauncher(CHROMIUM_PATH)  # sandboxed and offline, like the pool's browsers
    launcher.prepare()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(**launcher.launch_options(CHROMIUM_FLAGS, 30))
        context = await browser.new_context(java_script_enabled=False, device_scale_factor=1)
        await context.route("**/*", lambda route: route.abort())

        async def render(memory: str) -> None:
            page = await context.new_page()
            try:
                await page.set_viewport_size(
                    {"width": resolved.viewport_width, "height": resolved.viewport_height}
                )
                await page.set_content(page_for(memory, resolved, "markdown"))
                box = await page.locator(".content").bounding_box()
                png = await page.screenshot(clip=box)
                Image.open(io.BytesIO(png)).load()
            finally:
                await page.close()

        rates = {}
        for concurrency in CONCURRENCY:
            stats = await load(render, requests, concurrency)
            row("naive", concurrency, stats, psutil.Process().pid, None)
            rates[concurrency] = stats["rps"]
        await browser.close()
    launcher.cleanup()
    return rates


async def bench_in_process(profile: str, requests: int, workers: int | None, naive: dict[int, float]) -> None:
    started = time.perf_counter()
    async with AsyncRenderer(profile=profile, pages=workers) as renderer:
        await renderer.render(memories()[0])
        cold = time.perf_counter() - started
        print(f"in-process   cold start to first image {cold:.2f} s ({renderer.pages} pages)")

        async def render(memory: str) -> None:
            await renderer.render(memory)

        for concurrency in CONCURRENCY:
            stats = await load(render, requests, concurrency)
            row("in-process", concurrency, stats, psutil.Process().pid, naive.get(concurrency))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def bench_service(profile: str, requests: int, workers: int | None, naive: dict[int, float]) -> None:
    port = free_port()
    command = [sys.executable, "-m", "memocr.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--profile", profile, "--log-level", "warning"]
    if workers:
        command += ["--workers", str(workers)]
    started = time.perf_counter()
    server = subprocess.Popen(command)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            while True:
                if server.poll() is not None:
                    raise SystemExit(f"memocr serve exited with code {server.returncode}")
                try:
                    response = await client.post("/render", json={"content": memories()[0]})
                    response.raise_for_status()
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.02)
            cold = time.perf_counter() - started
            print(f"http         cold start to first image {cold:.2f} s (from process start)")

            async def render(memory: str) -> None:
                response = await client.post("/render", json={"content": memory, "format": "png"})
                response.raise_for_status()

            for concurrency in CONCURRENCY:
                stats = await load(render, requests, concurrency)
                row("http", concurrency, stats, server.pid, naive.get(concurrency))
    finally:
        server.terminate()
        server.wait(timeout=30)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="memocr-v1", choices=["memocr-v1", "full"])
    parser.add_argument("--requests", type=int, default=240, help="renders per system and concurrency level")
    parser.add_argument(
        "--workers", type=int, default=None, help="pages in the pool (default: one per core, at least 2)"
    )
    parser.add_argument(
        "--systems", default="naive,in-process,http", help="comma-separated subset of naive,in-process,http"
    )
    args = parser.parse_args()
    systems = set(args.systems.split(","))
    print(f"profile {args.profile}, {args.requests} renders per row, {psutil.cpu_count()} CPU cores")
    naive = await bench_naive(args.profile, args.requests) if "naive" in systems else {}
    if "in-process" in systems:
        await bench_in_process(args.profile, args.requests, args.workers, naive)
    if "http" in systems:
        await bench_service(args.profile, args.requests, args.workers, naive)


if __name__ == "__main__":
    asyncio.run(main())
