from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from console.domain.ids import uuid7
from console.server.checkpointer import Checkpointer
from console.server.database import migrate, open_engine


def test_the_checkpointer_copies_the_write_ahead_log_into_the_database(tmp_path: Path) -> None:
    database = tmp_path / "server.db"
    engine = open_engine(f"sqlite:///{database}", writer=True)
    migrate(engine)
    with engine.begin() as conn:  # about 2 MB: far below the writers' own automatic checkpoint
        conn.execute(text("CREATE TABLE filler (body TEXT)"))
        conn.execute(text("INSERT INTO filler VALUES (:b)"), [{"b": "x" * 1000} for _ in range(2000)])
    before = database.stat().st_size
    assert Path(f"{database}-wal").stat().st_size > 1_000_000  # the rows are still in the log

    checkpointer = Checkpointer(open_engine(f"sqlite:///{database}"), every=0.05)
    checkpointer.start()
    try:
        deadline = time.monotonic() + 10
        # until the copy is done: a checkpoint grows the file as it copies (seen mid-way at 256 KiB)
        while database.stat().st_size <= before + 1_000_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        after = database.stat().st_size  # measured while connections are open: closing the last one
    finally:  # checkpoints too
        checkpointer.stop()
        engine.dispose()
    assert after > before + 1_000_000


def test_checkpoints_follow_closely_while_writers_are_busy_and_slowly_when_idle(tmp_path: Path) -> None:
    database = tmp_path / "server.db"
    engine = open_engine(f"sqlite:///{database}", writer=True)
    migrate(engine)
    rounds: list[float] = []
    reader = open_engine(f"sqlite:///{database}")

    @event.listens_for(reader, "connect")
    def _trace(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.set_trace_callback(
            lambda sql: rounds.append(time.monotonic()) if "wal_checkpoint" in sql else None
        )

    checkpointer = Checkpointer(reader, every=0.5, busy=0.02)  # a fixed 0.5 s: 3 rounds while busy
    checkpointer.start()
    try:
        busy_until = time.monotonic() + 1.5
        while time.monotonic() < busy_until:  # a writer commits all the while
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO server_meta (key, value) VALUES (:k, 'x')"), {"k": uuid7()})
            time.sleep(0.005)
        busy = len(rounds)
        time.sleep(2.0)  # idle
        idle = len(rounds) - busy
    finally:
        checkpointer.stop()
        engine.dispose()
    assert busy >= 20  # every 20 ms or so, not every 500
    assert idle <= 5
