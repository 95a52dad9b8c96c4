"""uvicorn's HTTP protocol, answering the intake endpoints straight off the parser.

uvicorn runs each request through a generic ASGI cycle: a scope dict, an asyncio.Event, receive
and send coroutines, a header check per response header. Measured with this project's benchmark
that costs more per event than all of FastAPI did. `IntakeHttpProtocol` takes a POST to an intake
path off that cycle: it collects the body in the parser's callbacks, runs the same handler as
`IntakeFastPath` in one task, and writes the reply as one buffer. Every other request (read API,
sync and its SSE stream, docs, health, and any intake request it leaves alone, see
`_lean_request`) goes through uvicorn's cycle untouched, and on to the ASGI app.

What it relies on in uvicorn (checked on 0.54; `tests/server/test_intake_protocol.py` fails when
any of it changes, and `_fits_uvicorn` turns the lean path off on an untested version):

- `HttpToolsProtocol` keeps the request being parsed or answered in `self.cycle` and requests
  waiting their turn (pipelining) in `self.pipeline`, a deque of `(cycle, app)` that
  `on_response_complete` pops and starts with `_start_asgi_task(cycle, app)`, which runs
  `cycle.run_asgi(app)` as a task in `server_state.tasks` (graceful shutdown waits for those,
  and for `server_state.connections`).
- Of a cycle, the protocol reads `response_complete`, and sets `disconnected` and calls
  `message_event.set()` on connection loss; `shutdown()` sets `keep_alive = False` on a cycle still
  answering, and closes an idle connection.
- `on_message_begin` resets `url`, `headers` (lower-case names) and `expect_100_continue`, which
  `on_url` / `on_header` fill; `flow` is the FlowControl of the transport;
  `server_state.default_headers` are the date and server headers; `STATUS_LINE` the status lines.

A lean request stands in for uvicorn's `RequestResponseCycle` in `cycle` and `pipeline`, so
responses keep their order, shutdown waits for it, and `limit_max_requests` counts it.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any, Final

import uvicorn
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from console.server.app import ServerApp
from console.server.intake.asgi import Handler, IntakeFastPath, answer, reply_parts
from console.server.intake.handlers import MAX_BODY, Reply, too_large

log = logging.getLogger(__name__)

TESTED_UVICORN: Final = ("0.54.",)  # version prefixes whose internals were checked against this module
_CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"

Route = tuple[str, Handler]  # (path, handler)
_routes_of_config: weakref.WeakKeyDictionary[Config, dict[bytes, Route] | None] = weakref.WeakKeyDictionary()


def _fits_uvicorn() -> bool:
    return uvicorn.__version__.startswith(TESTED_UVICORN)


def intake_routes(app: object) -> dict[bytes, Route] | None:
    """The intake routes of `app` (raw path → route), if it hands them to an `IntakeFastPath` through
    pure pass-through wrappers only; else None (a middleware in between must see every request)."""
    if isinstance(app, ServerApp):  # only forwards to its `_app`
        app = getattr(app, "_app", None)
    if not isinstance(app, IntakeFastPath):
        return None
    return {path.encode("ascii"): (path, handler) for path, handler in app.routes.items()}


def _routes_for(config: Config) -> dict[bytes, Route] | None:
    """Worked out once per server (a protocol is made per connection)."""
    try:
        return _routes_of_config[config]
    except KeyError:
        pass
    routes = None
    if not _fits_uvicorn():
        log.warning(
            "uvicorn %s is not tested with the intake protocol; intake goes the ASGI way", uvicorn.__version__
        )
    elif config.limit_concurrency is None and not config.root_path:
        routes = intake_routes(config.loaded_app)
    _routes_of_config[config] = routes
    return routes


class IntakeHttpProtocol(HttpToolsProtocol):
    """Pass as `uvicorn.Config(http=IntakeHttpProtocol)`."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._routes = _routes_for(config)
        self._lean: _LeanCycle | None = None  # the intake request being parsed, if it goes the lean way
        self._defaults_of: list[tuple[bytes, bytes]] | None = None
        self._defaults = b""

    def on_message_begin(self) -> None:
        self._lean = None
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        route = self._lean_request()
        if route is None:
            super().on_headers_complete()
            return
        authorization: str | None = None
        length: int | None = None
        for name, value in self.headers:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"content-length" and value.isdigit():
                length = int(value)
        parser = self.parser
        version = parser.get_http_version()
        keep_alive = version != "1.0" and parser.should_keep_alive()
        query = self.url.partition(b"?")[2]
        lean = _LeanCycle(self, route, query, authorization, self.cycle, keep_alive, version)
        self.cycle = lean  # type: ignore[assignment]  # stands in for a RequestResponseCycle
        self._lean = lean
        if length is not None and length > MAX_BODY:
            lean.refuse(too_large(length).reply)
        elif self.expect_100_continue and not self.transport.is_closing():
            self.transport.write(_CONTINUE)

    def _lean_request(self) -> Route | None:
        """The route of a request this protocol answers itself: a plain POST to an intake path.

        Left to uvicorn's cycle (and `IntakeFastPath`): any other request, a %-escaped or
        absolute-form URL, an upgrade, and `Expect: 100-continue` behind an unanswered request
        (the 100 must wait its turn, which uvicorn's cycle does).
        """
        routes = self._routes
        if routes is None:
            return None
        path, _, query = self.url.partition(b"?")
        route = routes.get(path)
        if (
            route is None
            or b"#" in query
            or self.parser.get_method() != b"POST"
            or self.parser.should_upgrade()
        ):
            return None
        previous = self.cycle
        if self.expect_100_continue and previous is not None and not previous.response_complete:
            return None
        return route

    def on_body(self, body: bytes) -> None:
        lean = self._lean
        if lean is None:
            super().on_body(body)
        else:
            lean.feed(body)

    def on_message_complete(self) -> None:
        lean = self._lean
        if lean is None:
            super().on_message_complete()
        else:
            lean.complete()

    def log_access(self, path: str, query: bytes, version: str, status: int) -> None:
        """The access log line uvicorn's cycle would write (when its access logger has handlers)."""
        client = f"{self.client[0]}:{self.client[1]}" if self.client else ""
        target = f"{path}?{query.decode('ascii')}" if query else path
        self.access_logger.info('%s - "%s %s HTTP/%s" %d', client, "POST", target, version, status)

    def default_headers(self) -> bytes:
        """The server's date and server headers as one block (they change once a second)."""
        current = self.server_state.default_headers
        if current is not self._defaults_of:
            self._defaults = b"".join(b"%s: %s\r\n" % (name, value) for name, value in current)
            self._defaults_of = current
        return self._defaults


class _NoEvent:
    """uvicorn sets its cycle's event on connection loss; a lean request waits on nothing."""

    def set(self) -> None:
        pass


class _LeanCycle:
    """One intake request, in `HttpToolsProtocol.cycle` and `.pipeline` in place of a
    `RequestResponseCycle`: the attributes and `run_asgi` uvicorn uses of one (see the module doc)."""

    message_event: Final = _NoEvent()

    def __init__(
        self,
        protocol: IntakeHttpProtocol,
        route: Route,
        query: bytes,
        authorization: str | None,
        previous: Any,
        keep_alive: bool,
        version: str,
    ) -> None:
        self.response_complete = False
        self.disconnected = False
        self.keep_alive = keep_alive
        self._protocol = protocol
        self._route = route
        self._query = query
        self._authorization = authorization
        self._version = version
        self._previous = previous  # the request before on this connection, until this one is ready
        self._chunks: list[bytes] | None = []  # None once the body is complete or refused
        self._size = 0
        self._body = b""
        self._reply: Reply | None = None

    def feed(self, chunk: bytes) -> None:
        chunks = self._chunks
        if chunks is None:  # refused: the rest of the body is read and dropped
            return
        self._size += len(chunk)
        if self._size > MAX_BODY:
            self.refuse(too_large().reply)
        else:
            chunks.append(chunk)

    def complete(self) -> None:
        chunks = self._chunks
        if chunks is None:
            return
        self._body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._chunks = None
        self._ready()

    def refuse(self, reply: Reply) -> None:
        self._chunks = None
        self._reply = reply
        self._ready()

    def _ready(self) -> None:
        """Answer now, or after the requests before it on this connection (as uvicorn queues them)."""
        protocol = self._protocol
        previous, self._previous = self._previous, None
        if previous is not None and not previous.response_complete:
            protocol.flow.pause_reading()
            protocol.pipeline.appendleft((self, protocol.app))  # type: ignore[arg-type]
        elif self._reply is not None and not protocol.flow.write_paused:
            self._respond(self._reply)
        else:
            protocol._start_asgi_task(self, protocol.app)  # type: ignore[arg-type]

    async def run_asgi(self, _app: object) -> None:
        """Run as a task in `server_state.tasks`, so graceful shutdown waits for it."""
        reply = self._reply
        if reply is None:
            path, handler = self._route
            reply = await answer(handler, path, self._body, self._authorization, self._query)
        flow = self._protocol.flow
        if flow.write_paused and not self.disconnected:
            await flow.drain()
        self._respond(reply)

    def _respond(self, reply: Reply) -> None:
        protocol = self._protocol
        transport = protocol.transport
        if self.disconnected or transport.is_closing():
            return
        body, headers = reply_parts(reply)
        parts = [STATUS_LINE[reply.status], protocol.default_headers()]
        for name, value in headers:
            parts += (name, b": ", value, b"\r\n")
        if not self.keep_alive:
            parts.append(b"connection: close\r\n")
        parts += (b"\r\n", body)
        transport.write(b"".join(parts))
        self.response_complete = True
        if protocol.access_log:
            protocol.log_access(self._route[0], self._query, self._version, reply.status)
        if not self.keep_alive:
            transport.close()
        protocol.on_response_complete()
