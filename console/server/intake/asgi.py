"""Serves the intake endpoints straight off ASGI, ahead of FastAPI.

Measured on this project's benchmark: FastAPI's routing, dependency solving and middleware took
40 % of the CPU of an event. Intake needs none of it, so its few paths are answered here and
everything else (read API, docs, health) goes on to the FastAPI app.

Under `serve` most intake requests do not even reach this ASGI app: `protocol.IntakeHttpProtocol`
answers them straight off uvicorn's HTTP parser with the same routes, `answer` and `reply_parts`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import parse_qs

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from console.server.intake.handlers import (
    ENDPOINTS,
    MAX_BODY,
    Intake,
    IntakeError,
    IntakeRequest,
    Reply,
    too_large,
)

log = logging.getLogger(__name__)

Handler = Callable[[IntakeRequest], Awaitable[Reply]]
_INTERNAL_ERROR = "Internal error: nothing was stored. Retry later; the server's log has the details."


class ClientGone(Exception):
    """The sender disconnected before its body arrived."""


class IntakeFastPath:
    def __init__(self, app: ASGIApp, intake: Intake) -> None:
        self._app = app
        self._routes: dict[str, Handler] = {
            endpoint.path: intake.handler(endpoint.handler) for endpoint in ENDPOINTS
        }

    @property
    def app(self) -> ASGIApp:
        """The app that gets every other request."""
        return self._app

    @property
    def routes(self) -> Mapping[str, Handler]:
        """Intake path → handler (POST only)."""
        return self._routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self._routes.get(scope["path"]) if scope["type"] == "http" else None
        if handler is None or scope["method"] != "POST":
            await self._app(scope, receive, send)
            return
        authorization: str | None = None
        length: int | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"content-length" and value.isdigit():
                length = int(value)
        if length is not None and length > MAX_BODY:
            reply = too_large(length).reply
        else:
            try:
                body = await _read_body(receive)
            except IntakeError as exc:
                reply = exc.reply
            except ClientGone:
                return
            except Exception:
                log.exception("intake failed on %s", scope["path"])
                reply = internal_error()
            else:
                reply = await answer(
                    handler, scope["path"], body, authorization, scope.get("query_string", b"")
                )
        await _send(send, reply)


async def answer(handler: Handler, path: str, body: bytes, authorization: str | None, query: bytes) -> Reply:
    """The reply to one intake request; never raises (but for cancellation)."""
    try:
        key = parse_qs(query.decode("latin-1")).get("key", [None])[0] if b"key=" in query else None
        return await handler(IntakeRequest(body, authorization, key))
    except IntakeError as exc:
        return exc.reply
    except Exception:
        log.exception("intake failed on %s", path)
        return internal_error()


def internal_error() -> Reply:
    return Reply(500, {"status": "error", "message": _INTERNAL_ERROR, "errors": []})


def reply_parts(reply: Reply) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The reply's body and its own headers (lower-case names), as sent."""
    body = orjson.dumps(reply.body)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in reply.headers),
    ]
    return body, headers


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise too_large()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _send(send: Send, reply: Reply) -> None:
    body, headers = reply_parts(reply)
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
