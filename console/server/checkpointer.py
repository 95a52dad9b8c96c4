"""Copies SQLite's write-ahead log into the database in the background.

Left to itself SQLite checkpoints inside whichever commit crosses the WAL size limit, with the write
lock held and the requests of that batch waiting; measured, that cost a third of Alertmanager intake.
A passive checkpoint from this thread's own connection never blocks writers, and the writers' own
automatic checkpoint (set high in database.py) remains as a safety net.

While the log keeps growing, checkpoints follow each other closely (`busy`): each then writes a
little of the database and syncs it, instead of a second's worth at once. A big sync stalled the
commits' own fsyncs of the log: bench_intake at 2,000 events/s saw commits of up to 80-200 ms with a
checkpoint a second, 28-34 ms with one every 50 ms. An idle server checkpoints once a second.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

from sqlalchemy import Engine

log = logging.getLogger(__name__)


class Checkpointer:
    def __init__(self, engine: Engine, *, every: float = 1.0, busy: float = 0.05) -> None:
        self._engine = engine
        self._every = every
        self._busy = busy
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._engine.dialect.name != "sqlite":
            return
        self._thread = threading.Thread(target=self._run, name="wal-checkpointer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        with self._engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            wait, seen = self._every, None
            while not self._stop.wait(wait):
                try:
                    # data_version moves whenever another connection has committed since the last read
                    [(version,)] = raw.execute("PRAGMA data_version").fetchall()
                    raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # busy, or a full disk: the next round tries again
                    log.warning("WAL checkpoint failed: %s", exc)
                    continue
                wait, seen = (self._busy if version != seen else self._every), version
