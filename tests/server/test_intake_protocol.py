"""`IntakeHttpProtocol`: intake answered straight off uvicorn's parser, on raw sockets.

What HTTP/1.1 asks of it that a client library hides: keep-alive, pipelined responses in order
(also mixed with requests uvicorn's own cycle answers), 413 without reading past the limit,
`Expect: 100-continue`, clients that go away, graceful shutdown, and the uvicorn internals it
leans on (a uvicorn upgrade must fail here, loudly, before it breaks the server).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import socket
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from console.server.app import AppConfig, create_app
from console.server.intake.asgi import IntakeFastPath
from console.server.intake.protocol import TESTED_UVICORN, IntakeHttpProtocol, intake_routes
from console.server.runner import EmbeddedServer, ServeOptions, _uvicorn_options
from tests.server.stack import Served, prepare_database
from tests.server.wire import events_with_dedup_key, pd_trigger, unique

MAX_BODY = 512 * 1024

# The uvicorn code `console/server/intake/protocol.py` relies on (see its docstring), as reviewed.
# A difference means uvicorn changed under it: re-read the protocol against the new code, then
# update these (and TESTED_UVICORN).
REVIEWED_UVICORN_CODE = {
    "HttpToolsProtocol.__init__": "4f08999410347141",
    "HttpToolsProtocol.connection_lost": "c91a4c9bf2e29c55",
    "HttpToolsProtocol.on_message_begin": "96d377fdc7c2baef",
    "HttpToolsProtocol.on_header": "65d62c044f61fdbd",
    "HttpToolsProtocol.on_headers_complete": "1ea8589acfad92d8",
    "HttpToolsProtocol._start_asgi_task": "9c08c2571ae9b038",
    "HttpToolsProtocol.on_body": "dba9c32aeba35b6a",
    "HttpToolsProtocol.on_message_complete": "1fbad42dc31fc01f",
    "HttpToolsProtocol.on_response_complete": "64e254f28e389e76",
    "HttpToolsProtocol.shutdown": "d7351fa33f00d430",
    "Server.shutdown": "9b33c50562992b1e",
    "Server._wait_tasks_to_complete": "17209be1e991445d",
    "FlowControl.drain": "4bda6b61c277ae87",
    "FlowControl.pause_reading": "7c27388bb984e9ed",
}
_OWNERS: dict[str, Any] = {
    "HttpToolsProtocol": HttpToolsProtocol,
    "Server": uvicorn.Server,
    "FlowControl": FlowControl,
}


def _fingerprint(qualified: str) -> str:
    owner, name = qualified.split(".")
    source = inspect.getsource(getattr(_OWNERS[owner], name))
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def test_uvicorn_is_the_version_and_code_the_intake_protocol_was_checked_against() -> None:
    assert uvicorn.__version__.startswith(TESTED_UVICORN), (
        f"uvicorn {uvicorn.__version__}: the intake protocol is off until checked against it"
    )
    changed = {
        name: _fingerprint(name)
        for name, reviewed in REVIEWED_UVICORN_CODE.items()
        if _fingerprint(name) != reviewed
    }
    assert changed == {}, "uvicorn code the intake protocol relies on changed; re-check protocol.py"


def test_the_server_runs_the_intake_protocol_on_the_apps_routes(tmp_path: Path) -> None:
    assert _uvicorn_options(ServeOptions("sqlite://"))["http"] is IntakeHttpProtocol
    url, _keys, _token = prepare_database(tmp_path, {})
    routes = intake_routes(create_app(AppConfig(db_url=url)))
    assert routes is not None
    assert set(routes) == {
        b"/v2/enqueue",
        b"/v2/change/enqueue",
        b"/integrations/alertmanager",
        b"/integrations/generic",
    }


def test_intake_skips_the_asgi_app_and_everything_else_reaches_it(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    through = IntakeFastPath.__call__

    async def spy(self: IntakeFastPath, scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["path"])
        await through(self, scope, receive, send)

    monkeypatch.setattr(IntakeFastPath, "__call__", spy)
    with _connect(served) as conn:
        assert conn.request(_pd_post(served.key, unique("lean")))[0] == 202
        assert conn.request(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")[0] == 200
        # %-escaped: left to uvicorn's cycle, and still intake
        escaped = _post("/v2/%65nqueue", _pd_body(served.key, unique("esc")))
        assert conn.request(escaped)[0] == 202
    assert seen == ["/healthz", "/v2/enqueue"]


# -- keep-alive and pipelining --


def test_a_kept_alive_connection_takes_many_intake_requests(served: Served) -> None:
    keys = [unique("ka") for _ in range(5)]
    with _connect(served) as conn:
        for key in keys:
            status, headers, body = conn.request(_pd_post(served.key, key))
            assert status == 202
            assert "connection" not in headers
            assert body["dedup_key"] == key
    for key in keys:
        assert len(events_with_dedup_key(served.db, key)) == 1


def test_pipelined_requests_are_answered_in_order_whoever_answers_them(served: Served) -> None:
    first, second, third = unique("p1"), unique("p2"), unique("p3")
    requests = [
        _pd_post(served.key, first),
        b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
        _pd_post(served.key, second),
        _post("/v2/enqueue", b"nope"),  # 400
        _post("/integrations/generic", b"{}"),  # 401
        b"GET /api/v1/incidents HTTP/1.1\r\nHost: t\r\n\r\n",  # 401 from FastAPI (no token)
        _post("/v2/enqueue", b"x" * (MAX_BODY + 1)),  # 413
        _pd_post(served.key, third),
    ]
    with _connect(served) as conn:
        conn.send(b"".join(requests))  # one write: parsed before any of them is answered
        answers = [conn.response() for _ in requests]
    assert [status for status, _, _ in answers] == [202, 200, 202, 400, 401, 401, 413, 202]
    assert [answers[i][2].get("dedup_key") for i in (0, 2, 7)] == [first, second, third]
    for key in (first, second, third):
        assert len(events_with_dedup_key(served.db, key)) == 1


def test_connection_close_and_http_1_0_are_answered_then_closed(served: Served) -> None:
    for request in (
        _pd_post(served.key, unique("cc"), extra=b"Connection: close\r\n"),
        _pd_post(served.key, unique("h10"), version=b"HTTP/1.0"),
    ):
        with _connect(served) as conn:
            status, headers, _ = conn.request(request)
            assert status == 202
            assert headers["connection"] == "close"
            assert conn.closed_by_server()


# -- bodies --


def test_a_declared_body_over_512_kb_is_refused_before_it_is_read_and_the_connection_goes_on(
    served: Served,
) -> None:
    with _connect(served) as conn:
        conn.send(b"POST /v2/enqueue HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1))
        status, headers, body = conn.response()  # before a byte of the body was sent
        assert status == 413
        assert body["status"] == "too large"
        assert headers["content-type"] == "application/json"
        conn.send(b"x" * (MAX_BODY + 1))  # read and dropped
        key = unique("after413")
        assert conn.request(_pd_post(served.key, key))[0] == 202
    assert len(events_with_dedup_key(served.db, key)) == 1


def test_a_chunked_body_is_collected_and_over_512_kb_refused(served: Served) -> None:
    key = unique("chunked")
    data = _pd_body(served.key, key)
    with _connect(served) as conn:
        halves = (data[:40], data[40:])
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in halves) + b"0\r\n\r\n"
        head = b"POST /v2/enqueue HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        assert conn.request(head + chunked)[0] == 202

        conn.send(head)
        for _ in range(MAX_BODY // 65536 + 1):
            conn.send(b"10000\r\n" + b"x" * 65536 + b"\r\n")
        conn.send(b"0\r\n\r\n")
        status, _, body = conn.response()
        assert status == 413
        assert body["errors"] == ["body: too large"]
        assert conn.request(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")[0] == 200
    assert len(events_with_dedup_key(served.db, key)) == 1


def test_expect_100_continue_gets_its_100_first(served: Served) -> None:
    key = unique("expect")
    data = _pd_body(served.key, key)
    with _connect(served) as conn:
        conn.send(_post("/v2/enqueue", b"", extra=b"Expect: 100-continue\r\n", length=len(data)))
        assert conn.response()[0] == 100
        conn.send(data)
        assert conn.response()[0] == 202
    assert len(events_with_dedup_key(served.db, key)) == 1


def test_a_webhook_key_in_the_query_string_and_errors_with_their_headers(served: Served) -> None:
    generic = json.dumps({"summary": unique("q"), "dedup": unique("g")}).encode()
    with _connect(served) as conn:
        status, _, body = conn.request(_post(f"/integrations/generic?x=1&key={served.key}", generic))
        assert status == 202
        status, _, body = conn.request(_post("/integrations/generic?key=nope", generic))
        assert (status, body["errors"]) == (403, ["key: unknown key"])
        status, headers, body = conn.request(_post("/integrations/alertmanager", b"{}"))
        assert (status, headers["www-authenticate"], body["status"]) == (401, "Bearer", "unauthorized")


# -- clients that go away, shutdown --


def test_an_event_sent_whole_is_stored_though_its_sender_left_and_a_half_sent_one_is_not(
    served: Served,
) -> None:
    whole, half = unique("left"), unique("half")
    with _connect(served) as conn:
        conn.send(_pd_post(served.key, whole))
    with _connect(served) as conn:
        request = _pd_post(served.key, half)
        conn.send(request[:-10])
    with _connect(served) as conn:
        assert conn.request(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")[0] == 200
    _eventually(lambda: len(events_with_dedup_key(served.db, whole)) == 1)
    assert events_with_dedup_key(served.db, half) == []


def test_shutdown_waits_for_an_intake_request_in_flight_and_answers_it(tmp_path: Path) -> None:
    url, keys, _token = prepare_database(tmp_path, {"shop": None})
    server = EmbeddedServer(ServeOptions(url, "127.0.0.1", 0))
    base = server.start()
    host, port = base.removeprefix("http://").split(":")
    key = unique("shutdown")
    request = _pd_post(keys["shop"], key)
    stopping = threading.Thread(target=server.stop)
    try:
        with closing(_Conn(socket.create_connection((host, int(port)), timeout=30))) as conn:
            conn.send(request[:-10])  # in flight: headers and part of the body
            stopping.start()
            time.sleep(0.5)
            assert stopping.is_alive()  # waits for the request
            conn.send(request[-10:])
            status, headers, body = conn.response()
            assert (status, body["dedup_key"], headers["connection"]) == (202, key, "close")
            assert conn.closed_by_server()
    finally:
        if not stopping.is_alive() and stopping.ident is None:
            stopping.start()
        stopping.join(30)
    assert not stopping.is_alive()
    assert len(events_with_dedup_key(tmp_path / "server.db", key)) == 1


# -- raw HTTP --


def _pd_body(routing_key: str, dedup_key: str) -> bytes:
    return json.dumps(pd_trigger(routing_key, dedup_key, summary=dedup_key)).encode()


def _post(
    target: str, body: bytes, *, extra: bytes = b"", version: bytes = b"HTTP/1.1", length: int | None = None
) -> bytes:
    size = len(body) if length is None else length
    head = b"POST %s %s\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
    return head % (target.encode(), version, size, extra) + body


def _pd_post(routing_key: str, dedup_key: str, *, extra: bytes = b"", version: bytes = b"HTTP/1.1") -> bytes:
    return _post("/v2/enqueue", _pd_body(routing_key, dedup_key), extra=extra, version=version)


class _Conn:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._reader = sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self._sock.sendall(data)

    def response(self) -> tuple[int, dict[str, str], dict[str, Any]]:
        status_line = self._reader.readline()
        assert status_line.startswith(b"HTTP/1.1 "), status_line
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while (line := self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            assert name.lower() not in headers
            headers[name.lower()] = value.strip()
        if status == 100:
            return status, headers, {}
        data = self._reader.read(int(headers["content-length"]))
        body: dict[str, Any] = json.loads(data)
        return status, headers, body

    def request(self, data: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
        self.send(data)
        return self.response()

    def closed_by_server(self) -> bool:
        return self._reader.read(1) == b""

    def close(self) -> None:
        self._reader.close()
        self._sock.close()


def _connect(served: Served) -> closing[_Conn]:
    host, port = served.url.removeprefix("http://").split(":")
    return closing(_Conn(socket.create_connection((host, int(port)), timeout=30)))


def _eventually(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.05)
