"""Soak test of the render service: thousands of mixed requests, normal and hostile, over loopback HTTP.

    .venv/bin/python benchmarks/service_soak.py [--requests 3000] [--concurrency 4] [--warmup 300]

Starts `memocr serve` as a subprocess on 127.0.0.1 (a free port, nothing else listens), sends
``--warmup`` requests (every memory in every profile and input format first, then the mix), measures
the memory of the service process and all its children (Chromium, the Playwright driver, Markdown
workers), sends ``--requests`` more, ``--concurrency`` at a time, and measures again. Every
request is bounded (``--request-timeout``), and so is the whole run (``--max-seconds``: no new requests
after it). Prints p50/p99 latency per kind of memory, status counts, and RSS after warm-up and after
the soak. Targets: no 5xx answer for any content, RSS after / RSS after warm-up within 1.10. RSS is
summed over processes (shared pages count once per process) and moves with the allocators' high-water
marks, so it is also printed every ``--sample-every`` requests.

The mix: four in five requests carry an ordinary memory (short, medium, long, a table, HTML), one in
five a hostile one from tests/hostile.py; profiles, input formats, budgets and image formats vary.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import random
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from hostile import HOSTILE  # the corpus the tests use

BUDGETS = (None, None, 1, 16, 64, 256, 1024)


def ordinary_memories() -> dict[str, str]:
    """Memories like the ones a model drafts early, midway and late in a document."""
    fact = "**Gene MacLellan** wrote *Put Your Hand in the Hand*, a hit for Ocean in 1971."
    return {
        "short": f"# Ocean (band)\n\n{fact}",
        "medium": "# Key facts\n\n"
        + "\n".join(f"- **Fact {i}**: a supporting detail about item {i}." for i in range(15))
        + "\n\n## Notes\n\n"
        + "Auxiliary context sentence with numbers 1971, 1972. " * 20,
        "long": "# Crucial\n\n## Evidence\n\n"
        + "\n\n".join(f"Paragraph {i}: " + "background text kept just in case. " * 5 for i in range(60)),
        "table": "# Members\n\n| Year | Single | Chart |\n|---|---|---|\n"
        + "\n".join(f"| {1970 + i} | Single {i} | {i + 1} |" for i in range(25)),
        "html": "```html\n<h2>Answer</h2><table><tr><th>who</th><td>Gene MacLellan</td></tr></table>"
        "<p>" + "supporting words " * 40 + "</p>\n```",
    }


@dataclass(frozen=True)
class Request:
    kind: str  # "ordinary" or "hostile"
    name: str
    body: dict


def every_combination() -> list[Request]:
    """Every memory in every profile and input format once (budgets in turn): the warm-up starts with
    these, so that every cache and allocator has met the largest request of each kind."""
    memories = [("ordinary", name, text) for name, text in ordinary_memories().items()]
    memories += [("hostile", name, text) for name, text in HOSTILE.items()]
    requests = []
    for index, (kind, name, text) in enumerate(memories):
        for profile in ("full", "memocr-v1"):
            for input_format in ("markdown", "html"):
                body = {"content": text, "profile": profile, "input": input_format}
                if (budget := BUDGETS[(index + len(requests)) % len(BUDGETS)]) is not None:
                    body["budget"] = budget
                requests.append(Request(kind, name, body))
    return requests


def request_mix(count: int, seed: int) -> list[Request]:
    rng = random.Random(seed)
    ordinary = ordinary_memories()
    requests = []
    for _ in range(count):
        hostile = rng.random() < 0.2
        name = rng.choice(sorted(HOSTILE if hostile else ordinary))
        content = HOSTILE[name] if hostile else ordinary[name]
        body: dict = {"content": content, "profile": rng.choice(["full", "memocr-v1"])}
        body["input"] = "html" if name == "html" or rng.random() < 0.15 else "markdown"
        body["format"] = rng.choice(["png", "png", "jpeg"])
        if (budget := rng.choice(BUDGETS)) is not None:
            body["budget"] = budget
        requests.append(Request("hostile" if hostile else "ordinary", name, body))
    return requests


def tree_rss_mb(pid: int) -> dict[str, float]:
    """Summed RSS (MB) of a process and all its descendants, by role, and in total."""
    root = psutil.Process(pid)
    usage: dict[str, float] = collections.defaultdict(float)
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            if process.pid == pid:
                role = "service"
            elif "chrom" in process.name().lower():
                role = "chromium"
            elif "memocr.render.converter" in " ".join(process.cmdline()):
                role = "markdown workers"
            else:
                role = "other"
            usage[role] += process.memory_info().rss / 2**20
    usage["total"] = sum(usage.values())
    return dict(usage)


def describe(usage: dict[str, float]) -> str:
    parts = ", ".join(f"{role} {mb:.0f}" for role, mb in usage.items() if role != "total")
    return f"RSS {usage['total']:.0f} MB ({parts})"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Outcome:
    request: Request
    status: int  # 0: no answer (transport error or client timeout)
    seconds: float


async def send_all(
    client: httpx.AsyncClient, requests: list[Request], concurrency: int, deadline: float
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    pending = iter(requests)

    async def worker() -> None:
        for request in pending:
            if time.monotonic() > deadline:
                return
            started = time.perf_counter()
            try:
                response = await client.post("/render", json=request.body)
                status = response.status_code
            except httpx.HTTPError:
                status = 0
            outcomes.append(Outcome(request, status, time.perf_counter() - started))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcomes


def report(outcomes: list[Outcome]) -> int:
    """Print latency and status figures; returns how many answers were 5xx or missing."""
    for kind in ("ordinary", "hostile", "all"):
        chosen = [o for o in outcomes if kind in ("all", o.request.kind)]
        if not chosen:
            continue
        latencies = [o.seconds for o in chosen]
        print(
            f"{kind:<9} {len(chosen):5d} requests  p50 {1000 * statistics.median(latencies):7.1f} ms  "
            f"p99 {1000 * percentile(latencies, 0.99):7.1f} ms  max {1000 * max(latencies):7.1f} ms"
        )
    statuses = collections.Counter(o.status for o in outcomes)
    counts = ", ".join(f"{status or 'no answer'}: {n}" for status, n in sorted(statuses.items()))
    print(f"status counts: {counts}")
    failures = [o for o in outcomes if o.status == 0 or o.status >= 500]
    for name, n in collections.Counter(o.request.name for o in failures).most_common():
        print(f"  5xx or no answer: {name} x{n}")
    slowest = collections.defaultdict(float)
    for o in outcomes:
        slowest[o.request.name] = max(slowest[o.request.name], o.seconds)
    worst = sorted(slowest.items(), key=lambda item: -item[1])[:5]
    print("slowest memories:", ", ".join(f"{name} {seconds:.2f} s" for name, seconds in worst))
    return len(failures)


async def soak(args: argparse.Namespace) -> int:
    port = free_port()
    command = [sys.executable, "-m", "memocr.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--log-level", "warning"]
    if args.workers:
        command += ["--workers", str(args.workers)]
    server = subprocess.Popen(command)
    deadline = time.monotonic() + args.max_seconds
    try:
        timeout = httpx.Timeout(args.request_timeout)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=timeout) as client:
            while True:
                if server.poll() is not None:
                    raise SystemExit(f"memocr serve exited with code {server.returncode}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/health")).status_code == 200:
                        break
                await asyncio.sleep(0.05)
            combinations = every_combination()
            mix = request_mix(max(0, args.warmup - len(combinations)) + args.requests, args.seed)
            warmup_requests = combinations + mix[: len(mix) - args.requests]
            warmup = await send_all(client, warmup_requests, args.concurrency, deadline)
            warm = tree_rss_mb(server.pid)
            print(f"after warm-up ({len(warmup)} requests): {describe(warm)}", flush=True)
            started = time.perf_counter()
            outcomes: list[Outcome] = []
            soak_requests = mix[len(mix) - args.requests :]
            for first in range(0, len(soak_requests), args.sample_every):
                chunk = soak_requests[first : first + args.sample_every]
                outcomes += await send_all(client, chunk, args.concurrency, deadline)
                print(
                    f"  after {len(outcomes)} soak requests: {describe(tree_rss_mb(server.pid))}", flush=True
                )
            elapsed = time.perf_counter() - started
            soaked = tree_rss_mb(server.pid)
            print(f"soak: {len(outcomes)} requests in {elapsed:.0f} s, concurrency {args.concurrency}")
            failures = report(outcomes)
            health = (await client.get("/health")).json()
            print(f"after the soak: {describe(soaked)}")
            ratio = soaked["total"] / warm["total"]
            print(f"RSS ratio after soak / after warm-up: {ratio:.3f} (target <= 1.10)")
            print(
                f"service: relaunches {health['relaunches']}, retries {health['retries']}, "
                f"markdown fallbacks {health['markdown_fallbacks']}, in flight {health['in_flight']}"
            )
            return failures
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests in the soak, after warm-up")
    parser.add_argument("--warmup", type=int, default=300, help="requests before the first RSS reading")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight at once")
    parser.add_argument("--workers", type=int, default=None, help="service pages (default: its own)")
    parser.add_argument("--request-timeout", type=float, default=120.0, help="seconds per request")
    parser.add_argument("--max-seconds", type=float, default=3600.0, help="no new requests after this")
    parser.add_argument("--sample-every", type=int, default=500, help="print RSS every N soak requests")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{psutil.cpu_count()} CPU cores; load average {psutil.getloadavg()[0]:.2f} at start")
    failures = asyncio.run(soak(args))
    raise SystemExit(1 if failures else 0)


if __name__ == "__main__":
    main()
