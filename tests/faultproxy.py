"""A fault-injecting TCP proxy for tests (sync.md §6 "Fault proxy"), standard library only.

`FaultProxy` listens on 127.0.0.1 and forwards every TCP connection to one upstream (a uvicorn server),
injecting the fault that is current when the connection is accepted:

    with FaultProxy("127.0.0.1", server_port) as proxy:       # start() on enter, stop() on exit
        http = httpx.Client(base_url=proxy.url, limits=httpx.Limits(max_keepalive_connections=0))
        proxy.set_fault(Fault.DROP_RESPONSE)
        with pytest.raises(httpx.TransportError):
            http.post("/sync/push", json=ops)                  # applied on the server, answer lost
        proxy.set_fault(Fault.NONE)
        proxy.reset_all()                                      # RST every live connection (an SSE stream)
        assert proxy.stats.resets == 2

It runs its own asyncio loop in a daemon thread, so it serves synchronous and asyncio tests alike. Every
public method is thread-safe and returns once the change is in effect; from an asyncio test the call blocks
that test's loop for the millisecond it takes (never call them from the proxy's own loop).

Faults are chosen per *TCP connection*, not per HTTP request: httpx keeps connections alive and reuses
them, so a fault set after a request has gone through does not touch the pooled connection. Tests that
want one fault per request use `httpx.Limits(max_keepalive_connections=0)` (a connection per request),
or call `reset_all()` after `set_fault()` to make the client reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import random
import socket
import struct
import threading
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, TypeVar

__all__ = ["Fault", "FaultProxy", "Stats"]

_T = TypeVar("_T")

_CHUNK: Final = 65536
_QUEUE_CHUNKS: Final = 16  # per direction: backpressure once 16 chunks wait to be forwarded
_CALL_TIMEOUT: Final = 10.0


class Fault(enum.Enum):
    """What happens to a connection accepted while the fault is set (live connections keep theirs)."""

    NONE = "none"
    """Pass bytes both ways."""
    REFUSE = "refuse"
    """New connections are refused (ECONNREFUSED, httpx.ConnectError): the server looks down. The proxy
    stops listening but keeps its port bound, so it listens on the same port again when the fault changes.
    Live connections are untouched."""
    RESET = "reset"
    """New connections are reset (RST, SO_LINGER 0) as soon as they are accepted; nothing goes upstream."""
    STALL = "stall"
    """A half-open link: the connection is accepted but nothing is forwarded in either direction (the
    upstream connection is not even opened) until the fault changes to anything else; then the bytes held
    are delivered and the connection carries on as NONE. A client that gives up meanwhile is simply
    closed. `stall_all()` also stalls the live connections."""
    DROP_RESPONSE = "drop_response"
    """The client's bytes go upstream, the reply never comes back: once upstream has answered (its reply
    bytes go quiet for `drop_quiet` seconds, it closes, or `drop_max_wait` seconds after its first byte)
    the client connection is reset and the upstream one closed normally. The request takes effect on the
    server, the client sees a connection error."""
    TRUNCATE = "truncate"
    """Deliver at most `truncate_after` bytes downstream (headers included), then reset both sides: cuts
    SSE streams and bodies midway. A reply shorter than that passes whole."""


@dataclass(frozen=True)
class Stats:
    """A snapshot of the proxy's counters, since `start()`."""

    accepted: int = 0
    """TCP connections accepted (refused ones never are)."""
    resets: int = 0
    """Client connections the proxy reset: RESET, DROP_RESPONSE, TRUNCATE, `reset_all()`, passing on a
    reset from upstream, or upstream unreachable."""
    bytes_up: int = 0
    """Bytes delivered to upstream."""
    bytes_down: int = 0
    """Bytes delivered to clients."""
    bytes_dropped: int = 0
    """Upstream bytes thrown away by DROP_RESPONSE and TRUNCATE."""
    faults: dict[Fault, int] = field(default_factory=dict)
    """How many accepted connections got each fault (chaos mode included)."""


@dataclass(frozen=True)
class _Chaos:
    rng: random.Random
    p_reset: float
    p_drop_response: float
    p_stall: float
    stall_seconds: float
    p_truncate: float
    truncate_after: int

    def pick(self) -> Fault:
        draw = self.rng.random()
        for fault, p in (
            (Fault.RESET, self.p_reset),
            (Fault.DROP_RESPONSE, self.p_drop_response),
            (Fault.STALL, self.p_stall),
            (Fault.TRUNCATE, self.p_truncate),
        ):
            if draw < p:
                return fault
            draw -= p
        return Fault.NONE


class _End(enum.Enum):
    EOF = "eof"
    ERROR = "error"


_Item = tuple[float, bytes] | _End


def _set_rst_on_close(sock: Any) -> None:
    """SO_LINGER 0: closing the socket sends RST instead of FIN."""
    if sock is None:  # the transport has already closed it
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _unsent(sock: Any) -> int:
    """Bytes still in the kernel's send queue (Linux; 0 where unknown)."""
    try:
        import fcntl
        import termios

        buf = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    except (ImportError, OSError, AttributeError, ValueError):  # no fcntl (Windows), closed, unsupported
        return 0
    return int(struct.unpack("i", buf)[0])


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):  # lets REFUSE hold the port while the listener closes
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class _Link:
    """One proxied connection: client <-> proxy <-> upstream, four pump tasks around two queues."""

    def __init__(
        self,
        proxy: FaultProxy,
        fault: Fault,
        truncate_after: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.proxy = proxy
        self.fault = fault
        self.truncate_after = truncate_after
        self.client_r = reader
        self.client_w = writer
        self.upstream_w: asyncio.StreamWriter | None = None
        self.flowing = asyncio.Event()
        if fault is not Fault.STALL:
            self.flowing.set()
        self.up_q: asyncio.Queue[_Item] = asyncio.Queue(_QUEUE_CHUNKS)
        self.down_q: asyncio.Queue[_Item] = asyncio.Queue(_QUEUE_CHUNKS)
        self.tasks: set[asyncio.Task[None]] = set()
        self.closed = asyncio.Event()
        self.rst_client = False
        self.rst_upstream = False

    # -- lifecycle

    async def run(self) -> None:
        self._spawn(self._read(self.client_r, self.up_q, from_client=True))
        self._spawn(self._open_upstream())
        try:
            await self.closed.wait()
        finally:
            await self._teardown()

    def finish(self, *, rst_client: bool, rst_upstream: bool) -> None:
        """End the link (first call wins); RST the sides asked for, close the others with FIN."""
        if self.closed.is_set():
            return
        self.rst_client = rst_client
        self.rst_upstream = rst_upstream
        if rst_client:
            self.proxy._count(resets=1)
        self.closed.set()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(self._guard(coro))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        # A link torn down before the task first ran cancels it unstarted: close the pump so Python
        # does not warn that it was never awaited.
        task.add_done_callback(lambda _: coro.close())

    async def _guard(self, coro: Coroutine[Any, Any, None]) -> None:
        try:
            await coro
        except OSError:  # a write to a reset or closed peer
            self.finish(rst_client=True, rst_upstream=True)
        except Exception as error:  # a bug here: say so, and do not leave the link hanging
            asyncio.get_running_loop().call_exception_handler(
                {"message": "FaultProxy pump failed", "exception": error}
            )
            self.finish(rst_client=True, rst_upstream=True)

    async def _teardown(self) -> None:
        current = asyncio.current_task()
        tasks = [task for task in self.tasks if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        writers = [(self.client_w, self.rst_client), (self.upstream_w, self.rst_upstream)]
        for writer, rst in writers:
            if writer is None:
                continue
            if rst:
                _set_rst_on_close(writer.get_extra_info("socket"))
                writer.transport.abort()
            else:
                writer.close()
        for writer, _ in writers:
            if writer is None:
                continue
            try:
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            except (OSError, TimeoutError):
                writer.transport.abort()
                with contextlib.suppress(OSError, TimeoutError):
                    await asyncio.wait_for(writer.wait_closed(), 1.0)

    # -- pumps

    async def _open_upstream(self) -> None:
        await self.flowing.wait()
        try:
            reader, writer = await asyncio.open_connection(self.proxy.upstream_host, self.proxy.upstream_port)
        except OSError:
            self.finish(rst_client=True, rst_upstream=False)
            return
        self.upstream_w = writer
        self._spawn(self._read(reader, self.down_q, from_client=False))
        self._spawn(self._pump_up(writer))
        self._spawn(self._pump_down())

    async def _read(
        self, reader: asyncio.StreamReader, queue: asyncio.Queue[_Item], *, from_client: bool
    ) -> None:
        loop = asyncio.get_running_loop()
        end = _End.EOF
        try:
            while data := await reader.read(_CHUNK):
                await queue.put((loop.time(), data))
        except OSError:
            end = _End.ERROR
        if from_client and not self.flowing.is_set():
            # the client gave up on a stalled link: what it sent is never delivered
            self.finish(rst_client=False, rst_upstream=False)
            return
        await queue.put(end)

    async def _gate(self, stamp: float) -> None:
        """Wait while the link is stalled, then until the chunk is `latency` old."""
        await self.flowing.wait()
        delay = stamp + self.proxy._latency - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)
            await self.flowing.wait()

    async def _pump_up(self, writer: asyncio.StreamWriter) -> None:
        while True:
            item = await self.up_q.get()
            if isinstance(item, _End):
                await self.flowing.wait()
                error = item is _End.ERROR
                self.finish(rst_client=error, rst_upstream=error)
                return
            stamp, data = item
            await self._gate(stamp)
            self.proxy._count(bytes_up=len(data))  # before the write: the peer may see the bytes at once
            writer.write(data)
            await writer.drain()

    async def _pump_down(self) -> None:
        budget = self.truncate_after if self.fault is Fault.TRUNCATE else -1
        while True:
            item = await self.down_q.get()
            if self.fault is Fault.DROP_RESPONSE:
                await self._drop_response(item)
                return
            if isinstance(item, _End):
                await self.flowing.wait()
                error = item is _End.ERROR
                self.finish(rst_client=error, rst_upstream=error)
                return
            stamp, data = item
            await self._gate(stamp)
            if 0 <= budget <= len(data):
                await self._truncate(data, budget)
                return
            self.proxy._count(bytes_down=len(data))
            self.client_w.write(data)
            await self.client_w.drain()
            if budget > 0:
                budget -= len(data)

    async def _drop_response(self, first: _Item) -> None:
        """Swallow upstream's reply until it is complete (quiet, closed, or too long), then RST the client."""
        loop = asyncio.get_running_loop()
        item = first
        deadline = loop.time() + self.proxy.drop_max_wait
        while not isinstance(item, _End):
            self.proxy._count(bytes_dropped=len(item[1]))
            wait = min(self.proxy.drop_quiet, deadline - loop.time())
            if wait <= 0:
                break
            try:
                item = await asyncio.wait_for(self.down_q.get(), wait)
            except TimeoutError:
                break
        self.finish(rst_client=True, rst_upstream=item is _End.ERROR)

    async def _truncate(self, data: bytes, budget: int) -> None:
        """Deliver the first `budget` bytes of `data`, make sure they left the kernel, then RST both sides."""
        if budget:
            self.proxy._count(bytes_down=budget)
            self.client_w.write(data[:budget])
            await self.client_w.drain()
            sock = self.client_w.get_extra_info("socket")
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 1.0
            while _unsent(sock) and loop.time() < deadline:  # an RST discards what is still queued
                await asyncio.sleep(0.005)
        self.proxy._count(bytes_dropped=len(data) - budget)
        self.finish(rst_client=True, rst_upstream=True)


class FaultProxy:
    """A TCP proxy on 127.0.0.1 in front of `upstream_host:upstream_port` that injects `Fault`s.

    `drop_quiet` and `drop_max_wait` (seconds) tune how DROP_RESPONSE decides upstream has answered.
    """

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        drop_quiet: float = 0.05,
        drop_max_wait: float = 1.0,
    ) -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.drop_quiet = drop_quiet
        self.drop_max_wait = drop_max_wait
        self._port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._listener: socket.socket | None = None  # listening, or bound only (REFUSE)
        self._accepting: asyncio.Task[None] | None = None
        self._serving: set[asyncio.Task[None]] = set()
        self._links: set[_Link] = set()
        self._live = 0
        # fault configuration: written by the public methods in the proxy's loop, read by the accept loop
        self._fault = Fault.NONE
        self._truncate_after = 0
        self._chaos: _Chaos | None = None
        self._latency = 0.0
        self._lock = threading.Lock()  # guards the counters
        self._accepted = 0
        self._resets = 0
        self._bytes_up = 0
        self._bytes_down = 0
        self._bytes_dropped = 0
        self._faults: Counter[Fault] = Counter()

    # -- lifecycle

    def start(self) -> int:
        """Listen on a free port of 127.0.0.1, start the loop thread; returns the port."""
        if self._thread is not None:
            raise RuntimeError("FaultProxy already started")
        listener = _bind(0)
        try:
            listener.listen(128)
        except BaseException:
            listener.close()
            raise
        self._listener = listener
        self._port = int(listener.getsockname()[1])
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=self._run_loop, name=f"faultproxy-{self._port}", daemon=True)
        self._thread.start()
        self._call(self._start_accepting())
        return self._port

    def stop(self) -> None:
        """Close the listener and every connection (FIN, as if the proxy process died), join the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        try:
            self._call(self._shutdown())
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(_CALL_TIMEOUT)

    def __enter__(self) -> FaultProxy:
        if self._thread is None:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`."""
        return f"http://127.0.0.1:{self._port}"

    # -- faults

    @property
    def fault(self) -> Fault:
        """The fault set by `set_fault()` (NONE in chaos mode)."""
        return self._fault

    def set_fault(self, fault: Fault, *, truncate_after: int = 0) -> None:
        """Apply `fault` to connections accepted from now on; ends chaos mode.

        Anything but STALL releases the stalled connections; REFUSE stops listening, anything else
        listens again. `truncate_after` is TRUNCATE's byte budget per connection.
        """
        if truncate_after < 0:
            raise ValueError("truncate_after must be >= 0")

        async def apply() -> None:
            self._fault, self._truncate_after, self._chaos = fault, truncate_after, None
            await self._set_listening(fault is not Fault.REFUSE)
            if fault is not Fault.STALL:
                self._release()

        self._call(apply())

    def set_chaos(
        self,
        seed: int,
        *,
        p_reset: float = 0.0,
        p_drop_response: float = 0.0,
        p_stall: float = 0.0,
        stall_seconds: float = 0.2,
        p_truncate: float = 0.0,
        truncate_after: int = 0,
    ) -> None:
        """Pick each new connection's fault from `random.Random(seed)`; NONE with the remaining probability.

        A chaos STALL releases itself after `stall_seconds`. The same seed gives the same sequence of
        faults for the same sequence of connections: reproducible when the client opens them one at a time
        (`max_keepalive_connections=0` and no concurrency). `set_fault()` ends chaos mode.
        """
        probabilities = (p_reset, p_drop_response, p_stall, p_truncate)
        if any(p < 0 for p in probabilities) or sum(probabilities) > 1:
            raise ValueError("probabilities must be >= 0 and sum to at most 1")
        chaos = _Chaos(
            random.Random(seed), p_reset, p_drop_response, p_stall, stall_seconds, p_truncate, truncate_after
        )

        async def apply() -> None:
            self._fault, self._chaos = Fault.NONE, chaos
            await self._set_listening(True)
            self._release()

        self._call(apply())

    def set_latency(self, seconds: float) -> None:
        """Delay every chunk by `seconds` in each direction (live connections too); 0 to turn off."""
        if seconds < 0:
            raise ValueError("latency must be >= 0")

        async def apply() -> None:
            self._latency = seconds

        self._call(apply())

    def reset_all(self) -> int:
        """RST every live connection, both sides, now; returns how many."""

        async def apply() -> int:
            links = list(self._links)
            for link in links:
                link.finish(rst_client=True, rst_upstream=True)
            await self._settle(links)
            return len(links)

        return self._call(apply())

    def stall_all(self) -> int:
        """`set_fault(Fault.STALL)`, and stall the live connections too; returns how many were live.

        Like new ones, they resume (bytes held included) when the fault changes.
        """

        async def apply() -> int:
            self._fault, self._chaos = Fault.STALL, None
            await self._set_listening(True)
            for link in self._links:
                link.flowing.clear()
            return len(self._links)

        return self._call(apply())

    # -- observation

    @property
    def connections(self) -> int:
        """Connections accepted and not yet closed down."""
        return self._live

    @property
    def stats(self) -> Stats:
        with self._lock:
            return Stats(
                accepted=self._accepted,
                resets=self._resets,
                bytes_up=self._bytes_up,
                bytes_down=self._bytes_down,
                bytes_dropped=self._bytes_dropped,
                faults=dict(self._faults),
            )

    # -- internals (proxy loop)

    def _call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        loop = self._loop
        if loop is None or self._thread is None or not self._thread.is_alive():
            coro.close()
            raise RuntimeError("FaultProxy is not running")
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("FaultProxy methods block: do not call them from the proxy's loop")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(_CALL_TIMEOUT)

    def _run_loop(self) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    def _count(
        self,
        *,
        accepted: int = 0,
        resets: int = 0,
        bytes_up: int = 0,
        bytes_down: int = 0,
        bytes_dropped: int = 0,
    ) -> None:
        with self._lock:
            self._accepted += accepted
            self._resets += resets
            self._bytes_up += bytes_up
            self._bytes_down += bytes_down
            self._bytes_dropped += bytes_dropped

    async def _start_accepting(self) -> None:
        assert self._listener is not None
        self._accepting = asyncio.get_running_loop().create_task(self._accept_loop(self._listener))

    async def _set_listening(self, listening: bool) -> None:
        """REFUSE: swap the listener for a socket bound to the same port that does not listen, and back."""
        if listening == (self._accepting is not None):
            return
        if listening:
            assert self._listener is not None
            self._listener.listen(128)
            await self._start_accepting()
            return
        assert self._accepting is not None
        assert self._listener is not None
        try:  # bind the holder first where SO_REUSEPORT allows, so the port is never free
            holder: socket.socket | None = _bind(self._port)
        except OSError:
            holder = None
        self._accepting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._accepting
        self._accepting = None
        self._listener.close()
        self._listener = holder if holder is not None else _bind(self._port)

    async def _accept_loop(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(listener)
            except OSError:  # e.g. EMFILE: the client sees a slow accept, like a busy server
                await asyncio.sleep(0.01)
                continue
            self._live += 1
            task = loop.create_task(self._serve(conn))
            self._serving.add(task)
            task.add_done_callback(self._serving.discard)

    def _pick(self) -> tuple[Fault, int, float | None]:
        """The fault for a new connection, its truncate budget, and when a chaos stall releases itself."""
        chaos = self._chaos
        if chaos is None:
            return self._fault, self._truncate_after, None
        fault = chaos.pick()
        return fault, chaos.truncate_after, chaos.stall_seconds if fault is Fault.STALL else None

    async def _serve(self, conn: socket.socket) -> None:
        fault, truncate_after, stall_for = self._pick()
        with self._lock:
            self._accepted += 1
            self._faults[fault] += 1
        try:
            if fault is Fault.RESET:
                self._count(resets=1)
                _set_rst_on_close(conn)
                conn.close()
                return
            try:
                reader, writer = await asyncio.open_connection(sock=conn, limit=_CHUNK)
            except OSError:
                conn.close()
                return
            link = _Link(self, fault, truncate_after, reader, writer)
            self._links.add(link)
            # stall_all() or set_fault() may have run while this connection was set up, and they reach
            # only the links they saw: follow the stall as it is now (once a keep-alive connection
            # escaped stall_all that way, and its console stayed online through the stall phase).
            if self._chaos is None and stall_for is None:
                if self._fault is Fault.STALL:
                    link.flowing.clear()
                else:
                    link.flowing.set()
            release = None
            if stall_for is not None:
                release = asyncio.get_running_loop().call_later(stall_for, link.flowing.set)
            try:
                await link.run()
            finally:
                self._links.discard(link)
                if release is not None:
                    release.cancel()
        finally:
            self._live -= 1

    def _release(self) -> None:
        for link in self._links:
            link.flowing.set()

    async def _settle(self, links: list[_Link]) -> None:
        """Wait (briefly) until these links are torn down."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2.0
        while any(link in self._links for link in links) and loop.time() < deadline:
            await asyncio.sleep(0.001)

    async def _shutdown(self) -> None:
        if self._accepting is not None:
            self._accepting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accepting
            self._accepting = None
        if self._listener is not None:
            self._listener.close()
        for link in list(self._links):
            link.finish(rst_client=False, rst_upstream=False)
        serving = list(self._serving)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*serving, return_exceptions=True), 3.0)
        for task in serving:
            task.cancel()
        await asyncio.gather(*serving, return_exceptions=True)
