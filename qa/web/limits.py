"""Request limits of the JSON API: body size (HTTP 413) and questions in flight (HTTP 503 "busy, retry").

Both answer at once with a JSON error instead of letting a client tie the server
up: a body over its limit is refused from its ``Content-Length`` or, without one,
as soon as the bytes read pass the limit; a question beyond the in-flight cap is
refused before it waits for the model.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Awaitable, Callable

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


#: A refused body is read (and dropped) up to this size before the error is sent; beyond it the
#: connection is closed on a client still sending.
DRAIN_LIMIT_BYTES = 64 * 1024 * 1024


class BodyTooLarge(Exception):
    """Raised while reading a body past its limit (frameworks may wrap it: look at ``__cause__``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def send_json_error(send: Send, status: int, message: str, headers: dict[str, str] | None = None) -> None:
    """Send ``{"error": message}`` with ``status`` as a whole ASGI response."""
    body = json.dumps({"error": message}, ensure_ascii=False).encode("utf-8")
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """ASGI middleware: requests under ``prefix`` may send at most ``limit_for(path)`` bytes of body."""

    def __init__(self, app: ASGIApp, prefix: str, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.prefix = prefix
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        message = f"the request body is larger than the {_size(limit)} limit of {scope['path']}"
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                await send_json_error(send, 400, "Content-Length is not a number")
                return
            if too_big:
                await _drain(receive)
                await send_json_error(send, 413, message)
                return
        seen = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    if msg.get("more_body"):
                        await _drain(receive)
                    raise BodyTooLarge(message)
            return msg

        async def tracked_send(msg: Message) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            if not started:
                await send_json_error(send, 413, message)


async def _drain(receive: Receive) -> None:
    """Read and drop the rest of a refused body (up to :data:`DRAIN_LIMIT_BYTES`), so that a client still
    sending it reads the error instead of a reset connection."""
    drained = 0
    while drained <= DRAIN_LIMIT_BYTES:
        msg = await receive()
        if msg["type"] != "http.request":
            return
        drained += len(msg.get("body", b""))
        if not msg.get("more_body"):
            return


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:g} MB" if n >= 1024 * 1024 else f"{n // 1024} KB"


class Admission:
    """At most ``limit`` requests at once; the next one is refused instead of queued without end."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_flight = 0
        self._lock = threading.Lock()

    def try_enter(self) -> bool:
        with self._lock:
            if self._in_flight >= self.limit:
                return False
            self._in_flight += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    @property
    def in_flight(self) -> int:
        return self._in_flight
