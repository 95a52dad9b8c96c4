"""Intake's SQL and commits in a process of their own (`serve --write-process`, SQLite only).

The writer's work is one thread's: Python holds one lock (the GIL) for the event loop, the folding of
each group and SQLite's inserts alike, and a thread of its own for the SQL waited for that lock at
every row. In a process of its own the SQL and the commit run beside the folding of the next group
instead: measured, PagerDuty intake 1.2 times as fast, new Alertmanager groups 1.0 to 1.36 times.

The server records a group's writes (`RecordedWrites`) instead of running them, sends them here in
order, and answers the group's requests when this process says it has committed them. Several groups
that arrive while one commits go into the next transaction together, so one fsync serves them all.
After a failure this process refuses every group sent after it, until the server says `RESET`: those
were folded on top of the one that failed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import multiprocessing
import queue
import sqlite3
import threading
from multiprocessing.connection import Connection as Pipe
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the write process imports this module: it needs no SQLAlchemy
    from sqlalchemy import Dialect

log = logging.getLogger(__name__)

Statement = tuple[str, Any, bool]  # SQL, its parameters, executemany or not
RESET = "reset"
_OK = "ok"
_SKIPPED = "skipped: an earlier group failed"


class _RecordingCursor:
    """What `bulk` asks of a DB-API cursor, keeping the statements instead of running them."""

    description = None

    def __init__(self, statements: list[Statement]) -> None:
        self._statements = statements

    def execute(self, sql: str, parameters: Any = ()) -> None:
        self._statements.append((sql, parameters, False))

    def executemany(self, sql: str, parameters: Any) -> None:
        self._statements.append((sql, parameters, True))

    def fetchall(self) -> list[Any]:
        return []

    def close(self) -> None:
        pass


class RecordedWrites:
    """Stands for a write connection in `bulk.insert_rows` and `update_rows` (the only writes intake
    makes), recording the statements for the write process."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.statements: list[Statement] = []
        self.connection = self  # `conn.connection.dbapi_connection.cursor()`, as bulk reaches the driver
        self.dbapi_connection = self

    def cursor(self) -> _RecordingCursor:
        return _RecordingCursor(self.statements)


class WriteFailed(Exception):
    """The write process could not commit a group (or refused it after an earlier one failed)."""


class WriteProcess:
    """The server's end: `submit` sends a group's statements and returns a future that resolves when
    they are committed, in the order sent. Start and use it on one event loop."""

    def __init__(self, database: str) -> None:
        self._database = database
        self._pipe: Pipe | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self._outbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self._threads: list[threading.Thread] = []
        self._ended = False

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        # spawn, not fork: the server has threads, and a forked child could inherit a lock one held
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        self._process = context.Process(
            target=serve_writes, args=(theirs, self._database), name="intake-writes", daemon=True
        )
        self._process.start()
        theirs.close()
        self._pipe = ours
        # Blocking pipe I/O in two threads: a group's statements can be a megabyte, more than the
        # pipe holds, and sending or waiting must not stop the loop. Each holds the GIL only to
        # pickle or unpickle.
        self._threads = [
            threading.Thread(target=self._send, name="write-process-send", daemon=True),
            threading.Thread(target=self._receive, args=(loop,), name="write-process-receive", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @property
    def alive(self) -> bool:
        """False once the process has ended (or its pipe broke): nothing sent is committed after."""
        return not self._ended

    def submit(self, statements: list[Statement]) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        self._outbox.put(statements)
        return future

    def reset(self) -> None:
        """After a failure, once every group sent has been answered: take groups again."""
        assert not self._waiting
        self._outbox.put(RESET)

    def close(self, timeout: float = 10.0) -> None:
        self._outbox.put(None)
        for thread in self._threads:
            thread.join(timeout)
        if self._process is not None:
            self._process.join(timeout)
            if self._process.is_alive():
                self._process.kill()
        if self._pipe is not None:
            self._pipe.close()

    def _send(self) -> None:
        assert self._pipe is not None
        while (item := self._outbox.get()) is not None:
            try:
                self._pipe.send(item)
            except OSError:
                return  # the process is gone: the receiver fails what waits
        with contextlib.suppress(OSError):
            self._pipe.send(None)  # the process commits what it has and ends

    def _receive(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self._pipe is not None
        while True:
            try:
                reply = self._pipe.recv()
            except (EOFError, OSError):
                reply = None
            try:
                loop.call_soon_threadsafe(self._answer, reply)
            except RuntimeError:  # the loop is closed
                return
            if reply is None:
                return

    def _answer(self, reply: str | None) -> None:
        if reply is None:  # the process ended: nothing more will be committed
            self._ended = True
            while self._waiting:
                future = self._waiting.popleft()
                if not future.done():
                    future.set_exception(WriteFailed("the write process ended"))
            return
        future = self._waiting.popleft()
        if future.done():
            return
        if reply == _OK:
            future.set_result(None)
        else:
            future.set_exception(WriteFailed(reply))


def serve_writes(pipe: Pipe, database: str) -> None:
    """The write process: commit the groups the pipe brings, in order, answering each."""
    db = _connect(database)
    failed = False  # a group failed: refuse the rest until RESET (while failed, `batch` stays empty)
    ending = False
    while not ending:
        try:
            items = [pipe.recv()]
            while pipe.poll():  # what queued up while the last commit ran: one transaction for all
                items.append(pipe.recv())
        except EOFError:
            break
        batch: list[list[Statement]] = []
        for item in items:
            if item is None:
                ending = True
                break
            if item == RESET:
                failed = False
            elif failed:
                pipe.send(_SKIPPED)
            else:
                batch.append(item)
        if batch and not _commit(db, pipe, batch):
            failed = True
    db.close()


def _commit(db: sqlite3.Connection, pipe: Pipe, groups: list[list[Statement]]) -> bool:
    """Run `groups` in one transaction and answer each; False if they failed."""
    if not groups:
        return True
    try:
        db.execute("BEGIN IMMEDIATE")
        for statements in groups:
            for sql, parameters, many in statements:
                if many:
                    db.executemany(sql, parameters)
                else:
                    db.execute(sql, parameters)
        db.execute("COMMIT")
    except sqlite3.Error as exc:
        if db.in_transaction:
            db.execute("ROLLBACK")
        for _ in groups:
            pipe.send(f"{type(exc).__name__}: {exc}")
        return False
    for _ in groups:
        pipe.send(_OK)
    return True


def _connect(database: str) -> sqlite3.Connection:
    """As `database.open_engine` sets up a writer's connection (WAL, synchronous=FULL: a commit is on
    the disk before it returns)."""
    db = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    for pragma in (
        "journal_mode=WAL",
        "synchronous=FULL",
        "foreign_keys=ON",
        "busy_timeout=30000",
        "wal_autocheckpoint=16000",
    ):
        db.execute(f"PRAGMA {pragma}")
    return db
