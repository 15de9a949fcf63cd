"""The render service on a network: token, Host/Origin, JSON only, admission before the body, receive
timeouts, the connection cap, and a 4xx with the project's own message for every malformed request."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from memocr.errors import ConfigError, RenderError
from memocr.render.service import ServeConfig, create_app
from render_helpers import free_port, raw_exchange, running_service

TOKEN = "memocr-test-token-7f3a9c2e51d04b68"
MEMORY = {"content": "# Key\n\n**Gene MacLellan** wrote it."}
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def token_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("secret") / "token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def guarded(token_file: Path) -> Iterator[str]:
    """A token-protected service with short receive limits and a small connection cap."""
    overrides = dict(
        workers=1,
        token_file=token_file,
        allowed_host=["render.cluster.internal"],
        header_timeout_s=1.0,
        body_timeout_s=1.0,
        receive_buffer_mb=1,
        max_connections=6,
        max_content_bytes=200_000,
    )
    with running_service(**overrides) as base:
        yield base


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def _detail(answer: bytes) -> str:
    return json.loads(answer.split(b"\r\n\r\n", 1)[1])["detail"]


def test_every_path_but_health_needs_the_token(guarded: str) -> None:
    with httpx.Client(base_url=guarded, timeout=60) as client:
        missing = client.post("/render", json=MEMORY)
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        assert "Authorization: Bearer" in missing.json()["detail"]
        wrong = client.post("/render", json=MEMORY, headers={"Authorization": "Bearer " + "x" * len(TOKEN)})
        assert wrong.status_code == 401
        assert client.post("/render", json=MEMORY, headers={"Authorization": TOKEN}).status_code == 401
        assert client.get("/", headers={}).status_code == 401
        assert client.get("/openapi.json").status_code == 401
        assert client.get("/health").status_code == 200  # for load balancers and probes
        ok = client.post("/render", json=MEMORY, headers=AUTH)
        assert ok.status_code == 200 and ok.headers["content-type"] == "image/png"
        assert (
            client.post("/render", json=MEMORY, headers={"authorization": f"bearer {TOKEN}"}).status_code
            == 200
        )


def test_listening_beyond_loopback_needs_a_token_or_an_explicit_flag(token_file: Path) -> None:
    for host in ("0.0.0.0", "192.0.2.7", "::"):
        with pytest.raises(ConfigError, match=r"--token-file FILE .* --allow-no-token"):
            ServeConfig(host=host)
        ServeConfig(host=host, token_file=token_file)
        ServeConfig(host=host, allow_no_token=True)
    for host in ("127.0.0.1", "localhost", "::1"):
        ServeConfig(host=host)  # the released client's setup: loopback, no token
    command = [sys.executable, "-m", "memocr.cli", "serve", "--host", "0.0.0.0", "--port", str(free_port())]
    refused = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "--allow-no-token" in refused.stderr


def test_a_token_file_must_hold_a_real_token(tmp_path: Path) -> None:
    for content in ("", "short", "has space inside the token value"):
        path = tmp_path / "token"
        path.write_text(content)
        with pytest.raises(ConfigError, match="token file") as error:
            create_app(ServeConfig(token_file=path))
        assert content not in str(error.value) or not content
    with pytest.raises(ConfigError, match="cannot read"):
        create_app(ServeConfig(token_file=tmp_path / "missing"))


@pytest.mark.slow
def test_the_token_is_never_logged(token_file: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "memocr.cli", "serve", "--port", str(port), "--workers", "1"]
    command += ["--token-file", str(token_file), "--log-level", "debug"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None and time.monotonic() < deadline, "memocr serve did not start"
            try:
                httpx.get(f"{base}/health", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert httpx.post(f"{base}/render", json=MEMORY, headers=AUTH, timeout=60).status_code == 200
        assert httpx.post(f"{base}/render", json=MEMORY, timeout=60).status_code == 401
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=60)
    assert "bearer token required" in output and TOKEN not in output


def test_host_and_origin_must_name_this_service(guarded: str) -> None:
    port = _port(guarded)
    with httpx.Client(base_url=guarded, timeout=60, headers=AUTH) as client:
        # DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1.
        rebound = client.post("/render", json=MEMORY, headers={"Host": f"evil.example:{port}"})
        assert rebound.status_code == 400 and "--allowed-host" in rebound.json()["detail"]
        assert client.get("/health", headers={"Host": "evil.example"}).status_code == 400
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "render.cluster.internal", "[::1]:9000"):
            assert client.post("/render", json=MEMORY, headers={"Host": host}).status_code == 200, host
        cross_site = client.post("/render", json=MEMORY, headers={"Origin": "https://evil.example"})
        assert cross_site.status_code == 403
        assert client.post("/render", json=MEMORY, headers={"Origin": "null"}).status_code == 403
        same = client.post("/render", json=MEMORY, headers={"Origin": f"http://127.0.0.1:{port}"})
        assert same.status_code == 200
    assert _status(raw_exchange(port, b"GET /health HTTP/1.0\r\n\r\n")) == 400  # no Host at all


def test_only_json_bodies_are_read(guarded: str) -> None:
    body = json.dumps(MEMORY).encode()
    with httpx.Client(base_url=guarded, timeout=60, headers=AUTH) as client:
        # A cross-site form or fetch without a preflight can only send these types.
        for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data", ""):
            response = client.post("/render", content=body, headers={"Content-Type": content_type})
            assert response.status_code == 415 and "application/json" in response.json()["detail"]
        charset = client.post(
            "/render", content=body, headers={"Content-Type": "application/json; charset=utf-8"}
        )
        assert charset.status_code == 200


@pytest.mark.slow
def test_admission_is_decided_from_the_head_before_the_body(token_file: Path) -> None:
    """A full queue answers 503 + Retry-After to a request whose body was never sent."""
    app = create_app(ServeConfig(port=free_port(), workers=1, max_queue=0, token_file=token_file))
    renderer = app.state.renderer
    real_render = renderer.render

    async def slow_render(*args: object, **kwargs: object) -> object:
        await asyncio.sleep(2.0)
        return await real_render(*args, **kwargs)

    renderer.render = slow_render
    with running_service(app) as base:
        busy = threading.Thread(
            target=lambda: httpx.post(f"{base}/render", json=MEMORY, headers=AUTH, timeout=60)
        )
        busy.start()
        time.sleep(0.7)
        head = (
            f"POST /render HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
            "Content-Type: application/json\r\nContent-Length: 5000000\r\n\r\n"
        ).encode()
        answer = raw_exchange(_port(base), head, wait_s=5)  # the body is never sent: a head-only decision
        assert _status(answer) == 503 and b"retry-after: 1" in answer.lower()
        assert "saturated" in _detail(answer)
        busy.join()


def test_large_bodies_beyond_the_receive_budget_are_refused_unread(guarded: str) -> None:
    port = _port(guarded)
    head = (
        f"POST /render HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Content-Type: application/json\r\nContent-Length: 700000\r\n\r\n"
    ).encode()
    holder = threading.Thread(target=raw_exchange, args=(port, head + b'{"content": "'), kwargs={"wait_s": 3})
    holder.start()  # holds 700 kB of the 1 MB budget until its body times out
    time.sleep(0.3)
    answer = raw_exchange(port, head, wait_s=3)
    assert _status(answer) == 503 and b"retry-after" in answer.lower() and "receiving" in _detail(answer)
    holder.join()


@pytest.mark.slow
def test_slow_heads_and_bodies_time_out(guarded: str) -> None:
    port = _port(guarded)
    started = time.monotonic()
    partial_head = raw_exchange(port, b"POST /render HTTP/1.1\r\nHost: 127.0.0.1\r\n", wait_s=10)
    assert _status(partial_head) == 408 and "request head" in _detail(partial_head)
    assert time.monotonic() - started > 0.9  # waited for the head timeout, did not refuse at once
    started = time.monotonic()
    assert raw_exchange(port, b"", wait_s=10) == b""  # an idle connection is closed
    assert time.monotonic() - started < 5
    head = (
        f"POST /render HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    ).encode()
    partial_body = raw_exchange(port, head + b'{"content": "', wait_s=10)
    assert _status(partial_body) == 408 and "body" in _detail(partial_body)


def test_connections_beyond_the_cap_get_503_at_once(guarded: str) -> None:
    import socket

    port = _port(guarded)
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(6)]
    try:
        time.sleep(0.2)
        answer = raw_exchange(port, b"", wait_s=3)
        assert _status(answer) == 503 and b"retry-after: 1" in answer.lower()
        assert "connections" in _detail(answer)
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    assert httpx.get(f"{guarded}/health", timeout=10).status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"content": "x", "budget": ' + b"1" * 5000 + b"}", "5000-digit number"),
        (b"[" * 100_000 + b"]" * 100_000, "nests"),
        (b'{"content": "x", "budget": 1' + b"0" * 400 + b".5}", "budget"),
        (b'{"content": "x", "budget": 1e999}', "budget"),
        (b'{"content": "x", "budget": NaN}', "budget"),
        (b'{"content": "\\ud800"}', ""),
        (b"\xff\xfe{}", "JSON"),
    ],
)
def test_malformed_bodies_get_a_4xx_with_the_services_message(
    guarded: str, body: bytes, message: str
) -> None:
    headers = {**AUTH, "Content-Type": "application/json"}
    response = httpx.post(f"{guarded}/render", content=body, headers=headers, timeout=60)
    if response.status_code == 200:  # a lone surrogate is text Chromium can draw
        return
    assert 400 <= response.status_code < 500 and message in response.json()["detail"]


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"POST /render HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: many\r\n\r\n",
        b"POST /render HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"POST /render HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n",
    ],
)
def test_malformed_http_gets_a_400_with_the_services_message(guarded: str, request_bytes: bytes) -> None:
    answer = raw_exchange(_port(guarded), request_bytes, wait_s=5)
    assert _status(answer) == 400 and _detail(answer) == "malformed HTTP request"


def test_a_renderer_failure_never_shows_the_browsers_text(token_file: Path) -> None:
    app = create_app(ServeConfig(port=free_port(), workers=1, token_file=token_file))

    async def failing_render(*args: object, **kwargs: object) -> object:
        raise RenderError(
            "Chromium failed to render the memory twice: Protocol error (Page.navigate): /tmp/x"
        )

    app.state.renderer.render = failing_render
    with running_service(app) as base:
        response = httpx.post(f"{base}/render", json=MEMORY, headers=AUTH, timeout=60)
    assert response.status_code == 500
    assert response.json()["detail"] == "the renderer failed on this memory; see the service log"
