"""What stands between the network and the renderer, in the order a request meets it.

1. The connection (`guarded_protocol`): beyond ``max_connections`` open connections a new one gets
   503 + Retry-After and is closed; a connection that has not sent a complete request head within
   ``header_timeout_s`` (of opening, or of its previous answer) gets 408 and is closed.
2. The request head (`Gate`, ASGI middleware): the Host header must name this service (an IP
   address, ``localhost``, the machine's own names or ``allowed_hosts``: a DNS-rebinding page's own
   name is refused), an ``Origin`` header must too, and with a token every path but ``/health`` needs
   ``Authorization: Bearer <token>`` (compared in constant time).
3. Admission (`Admission`), still before the body is read: 503 + Retry-After when the render queue is
   full or when the bodies being received would pass the receive buffer budget; then the body is
   read within ``body_timeout_s`` (408 beyond).

Every refusal is a `RequestRefused` whose message goes to the client as ``{"detail": ...}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import socket
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from memocr.errors import ConfigError, RequestRefused

RETRY_AFTER_S = "1"
# Bodies up to this size count against the connection cap only, not the receive buffer budget: they
# arrive with their head, and the cap bounds how many there can be.
SMALL_BODY_BYTES = 64 * 1024
_WILDCARD_HOSTS = ("", "0.0.0.0", "::")


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_token(path: Path) -> bytes:
    """The bearer token in ``path`` (surrounding whitespace dropped); its value is never shown."""
    try:
        token = path.read_bytes().strip()
    except OSError as error:
        raise ConfigError(f"cannot read the token file {path}: {error.strerror}") from None
    if len(token) < 16 or not all(0x21 <= byte < 0x7F for byte in token):
        raise ConfigError(
            f"the token file {path} must hold one token of at least 16 visible ASCII characters "
            "(e.g. the output of 'openssl rand -hex 32')"
        )
    return token


def saturated(what: str) -> RequestRefused:
    return RequestRefused(
        503, f"{what}; retry shortly", {"Retry-After": RETRY_AFTER_S, "Connection": "close"}
    )


async def send_refusal(send: Any, error: RequestRefused) -> None:
    """Answer an ASGI request with the refusal's status, headers and JSON message."""
    body = json.dumps({"detail": error.detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(name.lower().encode(), value.encode()) for name, value in error.headers.items()]
    await send({"type": "http.response.start", "status": error.http_status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Gate:
    """ASGI middleware: Host, Origin and bearer token, checked from the request head alone."""

    def __init__(self, app: Any, *, bound_host: str, token: bytes | None, allowed_hosts: list[str]) -> None:
        self.app = app
        self.token = token
        names = {"localhost", *(name.lower() for name in allowed_hosts)}
        if bound_host in _WILDCARD_HOSTS:
            names.add(socket.gethostname().lower())
        else:
            names.add(bound_host.lower())
        self.names = frozenset(names)

    def host_allowed(self, host: str) -> bool:
        """``host`` (``name[:port]``) is an IP address or one of this service's names."""
        if host.startswith("["):
            name = host[1 : host.find("]")]
        else:
            name = host.split(":")[0] if host.count(":") == 1 else host
        name = name.lower().rstrip(".")
        if "*" in self.names or name in self.names:
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True

    def check(self, scope: dict[str, Any]) -> RequestRefused | None:
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1")
        if not host or not self.host_allowed(host):
            return RequestRefused(400, f"Host {host!r} is not a name of this service; see --allowed-host")
        origin = headers.get(b"origin")
        if origin is not None:
            origin_host = origin.decode("latin-1").partition("://")[2]
            if origin_host != host and not self.host_allowed(origin_host):
                return RequestRefused(403, "requests from web pages of other sites are refused")
        if self.token is None or scope["path"] == "/health":
            return None
        scheme, _, credentials = headers.get(b"authorization", b"").partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(credentials.strip(), self.token):
            return RequestRefused(
                401, "this service needs 'Authorization: Bearer <token>'", {"WWW-Authenticate": "Bearer"}
            )
        return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and (error := self.check(scope)) is not None:
            await send_refusal(send, error)
            return
        await self.app(scope, receive, send)


class Admission:
    """The queue decision and the receive buffer budget, both taken from the request head."""

    def __init__(self, *, capacity: int, buffer_bytes: int, max_body_bytes: int) -> None:
        self.capacity = capacity
        self.buffer_bytes = buffer_bytes
        self.max_body_bytes = max_body_bytes
        self.in_flight = 0  # requests with a body read, waiting for a page or rendering
        self.buffered = 0  # bytes reserved for large bodies being received

    def check_room(self) -> None:
        if self.in_flight >= self.capacity:
            raise saturated(f"the service is saturated ({self.in_flight} requests in flight)")

    @contextlib.contextmanager
    def receiving(self, declared: int | None) -> Iterator[None]:
        """Reserve room for a body of ``declared`` bytes (None: chunked, so the largest allowed)."""
        self.check_room()
        reserve = self.max_body_bytes if declared is None else declared
        if reserve <= SMALL_BODY_BYTES:
            reserve = 0
        elif self.buffered + reserve > self.buffer_bytes:
            raise saturated(f"the service is receiving {self.buffered} bytes of requests already")
        self.buffered += reserve
        try:
            yield
        finally:
            self.buffered -= reserve

    @contextlib.contextmanager
    def rendering(self) -> Iterator[None]:
        self.check_room()
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1


def guarded_protocol(*, max_connections: int, header_timeout_s: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a connection cap and a request-head timeout."""

    class GuardedProtocol(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                self._answer_and_close(saturated(f"the service holds {max_connections} connections"))
                return
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
            super().connection_lost(exc)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def send_400_response(self, msg: str) -> None:
            self._answer_and_close(RequestRefused(400, "malformed HTTP request"))

        def _arm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
            self._head_timer = self.loop.call_later(header_timeout_s, self._head_deadline)

        def _head_deadline(self) -> None:
            if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
                return  # a request head arrived; its body has the application's own limit
            if self.cycle is not None and not self.cycle.response_complete:
                self._arm()
                return
            if self.conn.trailing_data[0]:  # part of a head, too slowly
                self._answer_and_close(
                    RequestRefused(408, f"no complete request head within {header_timeout_s:g} s")
                )
            else:
                self.transport.close()

        def _answer_and_close(self, error: RequestRefused) -> None:
            body = json.dumps({"detail": error.detail}).encode()
            head = f"HTTP/1.1 {error.http_status} {HTTPStatus(error.http_status).phrase}\r\n"
            headers = {**error.headers, "Content-Type": "application/json", "Connection": "close"}
            headers["Content-Length"] = str(len(body))
            head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
            self.transport.write(head.encode() + body)
            self.transport.close()

    return GuardedProtocol
