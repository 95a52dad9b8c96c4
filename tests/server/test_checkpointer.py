from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import text

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
        while database.stat().st_size <= before and time.monotonic() < deadline:
            time.sleep(0.05)
        after = database.stat().st_size  # measured while connections are open: closing the last one
    finally:  # checkpoints too
        checkpointer.stop()
        engine.dispose()
    assert after > before + 1_000_000
