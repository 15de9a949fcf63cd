"""Flood and slow-client benchmark of the render service, over loopback only, bounded in time.

    .venv/bin/python benchmarks/service_flood.py [--flooders 1000] [--body-mb 6] [--slow 500]
                                                 [--seconds 40] [--baseline-seconds 10] [--ordinary 4]

Starts `memocr serve` (default settings) on 127.0.0.1, and runs ``--ordinary`` well-behaved clients
that render ordinary memories one after another (a 503 is retried after its Retry-After, at most 5
times). After ``--baseline-seconds`` alone, for ``--seconds``:

* ``--flooders`` connections at once, each sending ``--body-mb`` MB JSON bodies (a valid request whose
  content is too large), in 64 KB writes, ``--flood-rounds`` times;
* ``--slow`` slow clients: half send a request head one byte a second, half a complete head declaring
  a ``--body-mb`` MB body and then one byte a second; whenever the service drops one, it reconnects.

Prints the ordinary requests' statuses and p50/p99 latency before and during the attack, what the
flood and the slow clients got, and the peak RSS of the service process and of its whole tree
(Chromium included; summed RSS counts shared pages once per process), sampled every 0.25 s.
Targets: peak RSS of the service tree under 2 GB; ordinary requests still answered (200) during the
attack.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import socket
import statistics
import subprocess
import sys
import time

import httpx
import psutil

ORDINARY = [
    "# Ocean (band)\n\n**Gene MacLellan** wrote *Put Your Hand in the Hand*, a hit in 1971.",
    "# Key facts\n\n" + "\n".join(f"- **Fact {i}**: a supporting detail about item {i}." for i in range(15)),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def tree_rss_mb(pid: int) -> tuple[float, float]:
    """(RSS of the service process, summed RSS of it and all its descendants), in MB."""
    root = psutil.Process(pid)
    own = total = 0
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            rss = process.memory_info().rss
            total += rss
            own = rss if process.pid == pid else own
    return own / 2**20, total / 2**20


class Ordinary:
    """Well-behaved clients; records (phase, final status, seconds including retries)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.phase = "baseline"
        self.results: list[tuple[str, int, float]] = []
        self.first_statuses: collections.Counter[tuple[str, int]] = collections.Counter()

    async def run(self, stop: asyncio.Event, index: int) -> None:
        async with httpx.AsyncClient(base_url=self.base, timeout=60) as client:
            count = 0
            while not stop.is_set():
                phase, started = self.phase, time.perf_counter()
                body = {"content": ORDINARY[(index + count) % len(ORDINARY)], "format": "png"}
                count += 1
                status = 0
                for attempt in range(6):
                    try:
                        response = await client.post("/render", json=body)
                        status = response.status_code
                    except httpx.HTTPError:
                        status = 0
                    if attempt == 0:
                        self.first_statuses[(phase, status)] += 1
                    if status not in (0, 503):
                        break
                    await asyncio.sleep(float(response.headers.get("retry-after", 1)) if status else 1)
                self.results.append((phase, status, time.perf_counter() - started))

    def report(self) -> None:
        for phase in ("baseline", "attack"):
            chosen = [(status, seconds) for p, status, seconds in self.results if p == phase]
            if not chosen:
                continue
            ok = [seconds for status, seconds in chosen if status == 200]
            statuses = collections.Counter(status for status, _ in chosen)
            first = {s: n for (p, s), n in self.first_statuses.items() if p == phase}
            line = f"ordinary {phase:<8} {len(chosen):4d} requests, final statuses {dict(statuses)}"
            line += f" (first attempts {first})"
            if ok:
                p50, p99 = 1000 * statistics.median(ok), 1000 * percentile(ok, 0.99)
                line += f"; 200s: p50 {p50:.0f} ms, p99 {p99:.0f} ms"
            print(line, flush=True)


async def read_status(reader: asyncio.StreamReader, timeout: float) -> int:
    line = await asyncio.wait_for(reader.readline(), timeout)
    parts = line.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


async def flooder(port: int, body: bytes, rounds: int, outcomes: collections.Counter[str]) -> None:
    head = (
        f"POST /render HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    view = memoryview(body)
    for _ in range(rounds):
        writer = None
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(head)
            for start in range(0, len(body), 65536):
                writer.write(view[start : start + 65536])
                await writer.drain()
            outcomes[str(await read_status(reader, 60))] += 1
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as error:
            # A refused body: the service answered and closed while this client was still sending.
            outcomes[f"closed while sending ({type(error).__name__})"] += 1
        finally:
            if writer is not None:
                writer.close()
        await asyncio.sleep(0.5)


async def slow_client(
    port: int,
    body_bytes: int,
    slow_head: bool,
    stop: asyncio.Event,
    outcomes: collections.Counter[str],
    held: list[float],
) -> None:
    head = (
        f"POST /render HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {body_bytes}\r\n\r\n"
    ).encode()
    while not stop.is_set():
        started = time.monotonic()
        writer = None
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            if not slow_head:
                writer.write(head)
            trickle = head if slow_head else b'{"content": "' + b"x" * body_bytes
            answer = asyncio.ensure_future(read_status(reader, 3600))
            answer.add_done_callback(lambda done: done.cancelled() or done.exception())  # retrieved
            for byte in trickle:
                if answer.done() or stop.is_set():
                    break
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.wait([answer], timeout=1.0)
            status = answer.result() if answer.done() and not answer.exception() else 0
            answer.cancel()
            outcomes[f"{'head' if slow_head else 'body'} {status or 'closed'}"] += 1
        except (OSError, asyncio.IncompleteReadError):
            outcomes[f"{'head' if slow_head else 'body'} closed"] += 1
        finally:
            if writer is not None:
                writer.close()
        if not stop.is_set():
            held.append(time.monotonic() - started)
            await asyncio.sleep(1.0)


async def main(args: argparse.Namespace) -> int:
    port = free_port()
    command = [sys.executable, "-m", "memocr.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen([*command, "--log-level", "error"])
    base = f"http://127.0.0.1:{port}"
    peak = [0.0, 0.0]
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as probe:
            deadline = time.monotonic() + 120
            while True:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("memocr serve did not start")
                with contextlib.suppress(httpx.TransportError):
                    if (await probe.get("/health")).status_code == 200:
                        break
                await asyncio.sleep(0.2)

        async def sample(stop: asyncio.Event) -> None:
            while not stop.is_set():
                own, total = tree_rss_mb(server.pid)
                peak[0], peak[1] = max(peak[0], own), max(peak[1], total)
                await asyncio.sleep(0.25)

        stop_all, stop_attack = asyncio.Event(), asyncio.Event()
        ordinary = Ordinary(base)
        sampler = asyncio.create_task(sample(stop_all))
        clients = [asyncio.create_task(ordinary.run(stop_all, i)) for i in range(args.ordinary)]
        await asyncio.sleep(args.baseline_seconds)
        calm_own, calm_total = peak
        print(f"before the attack: peak RSS service {calm_own:.0f} MB, tree {calm_total:.0f} MB", flush=True)
        ordinary.phase = "attack"
        # A valid request whose content is over the service's 1,000,000-byte limit.
        body = json.dumps({"content": "x" * (args.body_mb * 1_000_000 - 20)}).encode()
        flood_outcomes: collections.Counter[str] = collections.Counter()
        slow_outcomes: collections.Counter[str] = collections.Counter()
        held: list[float] = []
        started = time.monotonic()
        flood = [
            asyncio.create_task(flooder(port, body, args.flood_rounds, flood_outcomes))
            for _ in range(args.flooders)
        ]
        slow = [
            asyncio.create_task(slow_client(port, len(body), i % 2 == 0, stop_attack, slow_outcomes, held))
            for i in range(args.slow)
        ]
        _, pending = await asyncio.wait(flood, timeout=args.seconds)
        flood_seconds = time.monotonic() - started
        await asyncio.sleep(max(0.0, args.seconds - flood_seconds))
        for task in pending:
            task.cancel()
        stop_attack.set()
        await asyncio.gather(*slow, *pending, return_exceptions=True)
        stop_all.set()
        await asyncio.gather(*clients, sampler, return_exceptions=True)

        print(
            f"flood: {args.flooders} connections x {args.flood_rounds} bodies of {len(body) / 1e6:.1f} MB,"
            f" done in {flood_seconds:.1f} s ({len(pending)} unfinished): {dict(flood_outcomes)}"
        )
        held_text = (
            f"held a connection p50 {statistics.median(held):.1f} s, max {max(held):.1f} s" if held else ""
        )
        print(f"slow clients: {args.slow}: {dict(slow_outcomes)}; {held_text}")
        ordinary.report()
        print(
            f"peak RSS during the run: service {peak[0]:.0f} MB, "
            f"service tree {peak[1]:.0f} MB (target < 2048)"
        )
        health = httpx.get(f"{base}/health", timeout=10).json()
        print(
            f"service afterwards: {health['status']}, in flight {health['in_flight']}, "
            f"relaunches {health['relaunches']}, recycles {health['recycles']}"
        )
        attack_ok = any(phase == "attack" and status == 200 for phase, status, _ in ordinary.results)
        return 0 if peak[1] < 2048 and attack_ok else 1
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flooders", type=int, default=1000, help="connections sending large bodies at once")
    parser.add_argument("--flood-rounds", type=int, default=2, help="bodies each flooder sends")
    parser.add_argument("--body-mb", type=int, default=6, help="size of each flood body in MB")
    parser.add_argument(
        "--slow", type=int, default=500, help="slow clients (half slow heads, half slow bodies)"
    )
    parser.add_argument("--seconds", type=float, default=40.0, help="length of the attack")
    parser.add_argument("--baseline-seconds", type=float, default=10.0, help="ordinary traffic alone first")
    parser.add_argument("--ordinary", type=int, default=4, help="well-behaved clients")
    raise SystemExit(asyncio.run(main(parser.parse_args())))
