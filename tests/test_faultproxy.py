"""The fault proxy does what each fault says, between httpx and a real uvicorn server."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import uvicorn

from tests.faultproxy import Fault, FaultProxy

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]

TICK = 0.05  # the stream sends a chunk every TICK seconds


@dataclass
class App:
    """POST /record records its body; GET /stream?n=N sends N SSE events, one every TICK seconds."""

    calls: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def recorded(self) -> list[bytes]:
        with self.lock:
            return list(self.calls)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        if scope["method"] == "POST" and scope["path"] == "/record":
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            with self.lock:
                self.calls.append(body)
            await _answer(send, 200, b'{"ok":true}', b"application/json")
        elif scope["method"] == "GET" and scope["path"] == "/stream":
            count = int(parse_qs(scope["query_string"].decode()).get("n", ["20"])[0])
            await _stream(receive, send, count)
        else:
            await _answer(send, 404, b"not found", b"text/plain")


async def _answer(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def event(index: int) -> bytes:
    return b"data: %d\n\n" % index


def on_the_wire(index: int) -> int:
    """Bytes of event `index` in a chunked body: hex size CRLF data CRLF."""
    return len(b"%x\r\n" % len(event(index))) + len(event(index)) + 2


async def _stream(receive: Receive, send: Send, count: int) -> None:
    gone = asyncio.Event()

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        gone.set()

    watcher = asyncio.create_task(watch())
    try:
        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-store")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for index in range(count):
            await send({"type": "http.response.body", "body": event(index), "more_body": True})
            try:
                await asyncio.wait_for(gone.wait(), TICK)
            except TimeoutError:
                continue
            return
        await send({"type": "http.response.body", "body": b""})
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)


def wait_until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


@dataclass
class Upstream:
    app: App
    port: int


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    app = App()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="critical",
        access_log=False,
        lifespan="off",
        ws="none",
        loop="asyncio",
        http="h11",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="upstream", daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), timeout=10)
        assert server.started, "uvicorn did not start"
        yield Upstream(app, port)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def app(upstream: Upstream) -> App:
    with upstream.app.lock:
        upstream.app.calls.clear()
    return upstream.app


@pytest.fixture
def proxy(upstream: Upstream) -> Iterator[FaultProxy]:
    with FaultProxy("127.0.0.1", upstream.port) as running:
        yield running


def client(proxy: FaultProxy, timeout: float = 3.0) -> httpx.Client:
    """A connection per request, so each request meets the fault current when it is sent."""
    return httpx.Client(
        base_url=proxy.url,
        timeout=timeout,
        limits=httpx.Limits(max_keepalive_connections=0),
        trust_env=False,
    )


def read_chunks(response: httpx.Response, into: list[bytes], *, then: Callable[[int], None]) -> None:
    """Append each chunk of the body to `into`, calling `then(len(into))` after each."""
    for chunk in response.iter_bytes():
        into.append(chunk)
        then(len(into))


def recv_all(raw: socket.socket, into: bytearray) -> None:
    while chunk := raw.recv(4096):
        into += chunk


def read_events(response: httpx.Response, into: list[bytes]) -> None:
    buffer = b""
    for chunk in response.iter_bytes():
        buffer += chunk
        while b"\n\n" in buffer:
            one, buffer = buffer.split(b"\n\n", 1)
            into.append(one + b"\n\n")


def test_none_passes_requests_and_streams(proxy: FaultProxy, app: App) -> None:
    with client(proxy) as http:
        assert http.post("/record", content=b"one").json() == {"ok": True}
        events: list[bytes] = []
        with http.stream("GET", "/stream", params={"n": 5}) as response:
            assert response.headers["content-type"] == "text/event-stream"
            read_events(response, events)
    assert events == [event(i) for i in range(5)]
    assert app.recorded() == [b"one"]
    stats = proxy.stats
    assert stats.accepted == 2
    assert stats.faults == {Fault.NONE: 2}
    assert stats.resets == 0
    assert stats.bytes_up > 0
    assert stats.bytes_down > sum(map(len, events))
    wait_until(lambda: proxy.connections == 0)


def test_keep_alive_connection_keeps_its_fault(proxy: FaultProxy, app: App) -> None:
    """A fault is per TCP connection: a pooled connection opened before it is not affected."""
    with httpx.Client(base_url=proxy.url, timeout=3, trust_env=False) as pooled:
        pooled.post("/record", content=b"before")
        proxy.set_fault(Fault.RESET)
        assert pooled.post("/record", content=b"pooled").status_code == 200
        assert proxy.connections == 1
        proxy.reset_all()  # now the pooled connection is gone and the next request meets RESET
        with pytest.raises(httpx.TransportError):
            pooled.post("/record", content=b"after")
    assert app.recorded() == [b"before", b"pooled"]


def test_refuse_looks_like_a_server_that_is_down(proxy: FaultProxy, app: App) -> None:
    with httpx.Client(base_url=proxy.url, timeout=3, trust_env=False) as live:
        live.post("/record", content=b"live")  # its connection stays in the pool
        proxy.set_fault(Fault.REFUSE)
        with client(proxy) as http, pytest.raises(httpx.ConnectError):
            http.post("/record", content=b"refused")
        assert live.post("/record", content=b"still").status_code == 200  # existing ones untouched
    proxy.set_fault(Fault.NONE)  # listens again, on the same port
    with client(proxy) as http:
        assert http.post("/record", content=b"back").status_code == 200
    assert app.recorded() == [b"live", b"still", b"back"]
    assert proxy.stats.accepted == 2


def test_reset_resets_new_connections(proxy: FaultProxy, app: App) -> None:
    proxy.set_fault(Fault.RESET)
    with client(proxy) as http:
        for _ in range(3):
            # which one depends on when the RST lands: even connect() can fail with ECONNRESET
            with pytest.raises((httpx.NetworkError, httpx.RemoteProtocolError)):
                http.post("/record", content=b"never")
    stats = proxy.stats
    assert stats.faults == {Fault.RESET: 3}
    assert stats.resets == 3
    assert stats.bytes_up == 0
    assert app.recorded() == []
    wait_until(lambda: proxy.connections == 0)


def test_stall_times_out_then_a_new_connection_works(proxy: FaultProxy, app: App) -> None:
    proxy.set_fault(Fault.STALL)
    with client(proxy, timeout=0.3) as http, pytest.raises(httpx.ReadTimeout):
        http.post("/record", content=b"stalled")
    wait_until(lambda: proxy.connections == 0)  # the client gave up: the stalled link is closed
    assert app.recorded() == []
    assert proxy.stats.bytes_up == 0
    proxy.set_fault(Fault.NONE)
    with client(proxy) as http:
        assert http.post("/record", content=b"healed").status_code == 200
    assert app.recorded() == [b"healed"]


def test_stalled_connection_resumes_when_the_fault_changes(proxy: FaultProxy, app: App) -> None:
    healed: list[float] = []

    def heal() -> None:
        healed.append(time.monotonic())
        proxy.set_fault(Fault.NONE)

    proxy.set_fault(Fault.STALL)
    with client(proxy, timeout=5) as http:
        timer = threading.Timer(0.2, heal)
        timer.start()
        try:
            assert http.post("/record", content=b"late").status_code == 200
            answered = time.monotonic()
        finally:
            timer.join()
    assert answered > healed[0]  # held until the fault changed, then delivered: not lost
    assert app.recorded() == [b"late"]


def test_stall_all_freezes_a_live_stream_until_healed(proxy: FaultProxy) -> None:
    events: list[bytes] = []
    with client(proxy) as http, http.stream("GET", "/stream", params={"n": 8}) as response:
        chunks = response.iter_bytes()
        while not events:
            events.append(next(chunks))
        assert proxy.stall_all() == 1
        frozen = proxy.stats.bytes_down
        time.sleep(4 * TICK)  # the server goes on sending; nothing may come through
        assert proxy.stats.bytes_down == frozen
        assert proxy.connections == 1
        proxy.set_fault(Fault.NONE)
        events.extend(chunks)
    assert b"".join(events) == b"".join(event(i) for i in range(8))


class _HeldSetup:
    """Holds the proxy's setup of each client connection (its `open_connection(sock=...)`) until
    `release()`, so a fault can change in between."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered = threading.Event()
        self._released = threading.Event()
        real = asyncio.open_connection

        async def held(*args: Any, **kwargs: Any) -> Any:
            if "sock" in kwargs:  # the client side; the upstream side passes host and port
                self.entered.set()
                while not self._released.is_set():
                    await asyncio.sleep(0.005)
            return await real(*args, **kwargs)

        monkeypatch.setattr(asyncio, "open_connection", held)

    def release(self) -> None:
        self._released.set()


def _post_in_thread(proxy: FaultProxy, body: bytes, timeout: float) -> tuple[threading.Thread, list[object]]:
    """POST /record from a thread; the list gets its status code or its error."""
    outcome: list[object] = []

    def post() -> None:
        try:
            with client(proxy, timeout=timeout) as http:
                outcome.append(http.post("/record", content=body).status_code)
        except httpx.HTTPError as error:
            outcome.append(error)

    thread = threading.Thread(target=post)
    thread.start()
    return thread, outcome


def test_stall_all_during_a_connections_setup_stalls_it_too(
    proxy: FaultProxy, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = _HeldSetup(monkeypatch)
    thread, outcome = _post_in_thread(proxy, b"escaped", timeout=0.5)
    assert setup.entered.wait(3)
    assert proxy.stall_all() == 0  # the connection is not a link yet
    setup.release()
    thread.join(5)
    assert isinstance(outcome[0], httpx.ReadTimeout), outcome
    assert app.recorded() == []


def test_healing_during_a_stalled_connections_setup_releases_it(
    proxy: FaultProxy, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy.set_fault(Fault.STALL)
    setup = _HeldSetup(monkeypatch)
    thread, outcome = _post_in_thread(proxy, b"healed", timeout=3)
    assert setup.entered.wait(3)
    proxy.set_fault(Fault.NONE)
    setup.release()
    thread.join(5)
    assert outcome == [200]
    assert app.recorded() == [b"healed"]


def test_drop_response_applies_the_request_but_loses_the_answer(proxy: FaultProxy, app: App) -> None:
    proxy.set_fault(Fault.DROP_RESPONSE)
    with client(proxy) as http:
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            http.post("/record", content=b"applied")
        assert app.recorded() == [b"applied"]  # applied on the server before the client saw the error
        stats = proxy.stats
        assert stats.bytes_down == 0
        assert stats.bytes_dropped > 0
        assert stats.resets == 1
        proxy.set_fault(Fault.NONE)
        assert http.post("/record", content=b"retry").json() == {"ok": True}
    assert app.recorded() == [b"applied", b"retry"]


def test_truncate_cuts_a_stream_after_n_bytes(proxy: FaultProxy) -> None:
    with client(proxy) as http:
        assert http.get("/stream", params={"n": 3}).status_code == 200
        whole = proxy.stats.bytes_down
        head = whole - sum(map(on_the_wire, range(3))) - len(b"0\r\n\r\n")  # status line, headers
        cut = head + on_the_wire(0) + on_the_wire(1) + 3
        proxy.set_fault(Fault.TRUNCATE, truncate_after=cut)
        events: list[bytes] = []
        with (
            pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)),
            http.stream("GET", "/stream", params={"n": 40}) as response,
        ):
            read_events(response, events)
    assert events == [event(0), event(1)]
    stats = proxy.stats
    assert stats.bytes_down == whole + cut
    assert stats.resets == 1
    assert stats.faults == {Fault.NONE: 1, Fault.TRUNCATE: 1}


def test_truncate_delivers_exactly_n_bytes_then_resets(proxy: FaultProxy) -> None:
    proxy.set_fault(Fault.TRUNCATE, truncate_after=100)
    received = bytearray()
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=3) as raw:
        raw.sendall(b"GET /stream?n=40 HTTP/1.1\r\nHost: proxy\r\n\r\n")
        with pytest.raises(ConnectionResetError):
            recv_all(raw, received)
    assert len(received) == 100
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")


def test_truncate_leaves_a_short_reply_whole(proxy: FaultProxy) -> None:
    proxy.set_fault(Fault.TRUNCATE, truncate_after=10_000)
    with client(proxy) as http:
        assert http.post("/record", content=b"small").json() == {"ok": True}
    assert proxy.stats.resets == 0


def test_reset_all_breaks_a_live_stream(proxy: FaultProxy) -> None:
    events: list[bytes] = []
    resets: list[int] = []

    def reset_after_two(seen: int) -> None:
        if seen == 2:
            resets.append(proxy.reset_all())

    with (
        client(proxy) as http,
        pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)),
        http.stream("GET", "/stream", params={"n": 40}) as response,
    ):
        read_chunks(response, events, then=reset_after_two)
    assert resets == [1]
    assert len(events) < 40
    assert proxy.connections == 0
    assert proxy.stats.resets == 1


def test_latency_delays_each_exchange(proxy: FaultProxy) -> None:
    with client(proxy) as http:
        proxy.set_latency(0.1)
        started = time.monotonic()
        assert http.post("/record", content=b"slow").status_code == 200
        assert time.monotonic() - started >= 0.2  # request up, reply down
        proxy.set_latency(0)


def post_until_acknowledged(http: httpx.Client, body: bytes, attempts: int = 50) -> int:
    """What an outbox does: retry until the server answers; returns how many attempts failed."""
    failures: list[httpx.TransportError] = []
    for _ in range(attempts):
        try:
            http.post("/record", content=body).raise_for_status()
        except httpx.TransportError as error:  # its class varies with timing, the failure does not
            failures.append(error)
        else:
            return len(failures)
    raise AssertionError(f"{body!r} never acknowledged: {failures}")


def run_chaos(upstream: Upstream, seed: int) -> tuple[list[int], dict[Fault, int]]:
    with FaultProxy("127.0.0.1", upstream.port) as proxy, client(proxy, timeout=5) as http:
        proxy.set_chaos(seed, p_reset=0.25, p_drop_response=0.2, p_stall=0.1, stall_seconds=0.05)
        outcomes = [post_until_acknowledged(http, b"op-%d" % i) for i in range(15)]
        return outcomes, proxy.stats.faults


def test_chaos_is_reproducible_and_ops_converge(upstream: Upstream, app: App) -> None:
    outcomes, faults = run_chaos(upstream, seed=7)
    first = app.recorded()
    # every op is acknowledged; a dropped response means the server has it more than once
    assert set(first) == {b"op-%d" % i for i in range(15)}
    assert len(first) == 15 + faults.get(Fault.DROP_RESPONSE, 0)
    assert faults.get(Fault.RESET, 0) > 0
    assert faults.get(Fault.DROP_RESPONSE, 0) > 0
    assert faults.get(Fault.STALL, 0) > 0

    with app.lock:
        app.calls.clear()
    assert run_chaos(upstream, seed=7) == (outcomes, faults)
    assert app.recorded() == first


def test_usable_from_asyncio(proxy: FaultProxy, app: App) -> None:
    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=proxy.url, timeout=3, trust_env=False) as http:

            async def read_then_reset(response: httpx.Response) -> None:
                async for _ in response.aiter_bytes():
                    proxy.reset_all()  # blocks this loop a moment, while the proxy's loop resets

            async with http.stream("GET", "/stream", params={"n": 40}) as response:
                with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
                    await read_then_reset(response)
            assert (await http.post("/record", content=b"async")).status_code == 200

    asyncio.run(scenario())
    assert app.recorded() == [b"async"]


def test_stop_closes_everything(upstream: Upstream) -> None:
    proxy = FaultProxy("127.0.0.1", upstream.port)
    port = proxy.start()
    assert proxy.url == f"http://127.0.0.1:{port}"
    with client(proxy) as http, http.stream("GET", "/stream", params={"n": 40}) as response:
        chunks = response.iter_bytes()
        next(chunks)
        proxy.stop()
        with pytest.raises(httpx.TransportError):
            for _ in chunks:
                pass
    with pytest.raises(RuntimeError):
        proxy.set_fault(Fault.NONE)
    with client(proxy) as http, pytest.raises(httpx.ConnectError):
        http.get("/stream")
