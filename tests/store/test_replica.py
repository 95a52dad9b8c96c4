"""The console replica: ops are one local transaction each and show at once; server pages replace
what they cover; a rejected op drops out of view; a snapshot keeps the outbox; a full disk is a
message and leaves the replica intact."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event

from console.domain.errors import StorageFull
from console.domain.ops import OpRejected, OpType
from console.domain.status import Rank
from console.server.pull import REPLICATED
from console.store.database import HEAD, MIGRATIONS
from console.store.replica import NotFound, Replica
from console.store.tables import URGENCY
from console.store.tables import metadata as replica_metadata

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
INCIDENT_COLUMNS = [
    "id", "number", "service_id", "title", "priority", "category", "status", "epoch", "alert_count",
    "open_alerts", "created_at", "updated_at", "acknowledged_at", "resolved_at", "assignee", "description",
    "snoozed_until", "clocks", "seq",
]  # fmt: skip


def incident_row(
    incident_id: str, number: int, *, status: str = "triggered", epoch: int = 0, seq: int = 1
) -> list[Any]:
    at = T0.isoformat()
    return [incident_id, number, 1, f"incident {number}", "high", "general", status, epoch, 1, 1, at, at,
            None, None, None, "", None, {}, seq]  # fmt: skip


def page(*incidents: list[Any], seq: int = 1, cursor: str = "c1", more: bool = False) -> dict[str, Any]:
    return {
        "cursor": cursor,
        "last_seq": seq,
        "page_seq": seq,
        "more": more,
        "hlc": "",
        "tables": {
            "services": {"columns": ["id", "name", "parent_id", "seq"], "rows": [[1, "shop", None, 1]]},
            "incidents": {"columns": INCIDENT_COLUMNS, "rows": list(incidents)},
        },
    }


@pytest.fixture
def replica(tmp_path: Path) -> Replica:
    made = Replica(tmp_path / "replica.db")
    made.set_server("http://server", "ann")
    made.apply_page(
        page(incident_row("01aa-0001", 1), incident_row("01aa-0002", 2), incident_row("01bb-0003", 3))
    )
    return made


def test_an_op_shows_at_once_and_waits_in_the_outbox(replica: Replica) -> None:
    op = replica.act(OpType.ACKNOWLEDGE, "01aa-0001")
    view = {v.id: v for v in replica.incidents()}
    assert view["01aa-0001"].incident.status.rank is Rank.ACKNOWLEDGED
    assert view["01aa-0001"].unsynced == 1
    assert view["01aa-0002"].unsynced == 0
    assert [o.op_id for o in replica.pending_ops()] == [op.op_id]
    assert replica.pending_count() == 1
    stored = (
        sqlite3.connect(replica.path)
        .execute("SELECT status FROM incidents WHERE id = '01aa-0001'")
        .fetchone()
    )
    assert stored == ("triggered",)  # the replica keeps only what the server confirmed


def test_ops_get_increasing_client_seqs_and_clock_stamps(replica: Replica) -> None:
    first = replica.act(OpType.NOTE, "01aa-0001", {"text": "one"})
    second = replica.act(OpType.NOTE, "01aa-0001", {"text": "two"})
    pending = replica.pending_ops()
    assert [o.client_seq for o in pending] == sorted(o.client_seq for o in pending)
    assert first.hlc < second.hlc
    detail = replica.incident("01aa-0001")
    notes = [e for e in detail.timeline if e.entry.kind.value == "note"]
    assert [(n.entry.body["text"], n.unsynced) for n in notes] == [("one", True), ("two", True)]


def test_an_applied_op_stays_in_view_until_the_page_holding_it_arrives(replica: Replica) -> None:
    op = replica.act(OpType.RESOLVE, "01aa-0002")
    replica.record_results(
        [{"client_seq": 1, "op_id": op.op_id, "status": "applied", "reason": "", "seq": 5}]
    )
    assert replica.pending_count() == 0
    view = {v.id: v for v in replica.incidents()}
    assert view["01aa-0002"].incident.status.rank is Rank.RESOLVED  # not flickering back to triggered
    replica.apply_page(page(incident_row("01aa-0002", 2, status="resolved", seq=5), seq=5, cursor="c5"))
    view = {v.id: v for v in replica.incidents()}
    assert view["01aa-0002"].incident.status.rank is Rank.RESOLVED
    assert view["01aa-0002"].unsynced == 0


def test_a_rejected_op_drops_out_of_view_and_keeps_its_reason(replica: Replica) -> None:
    op = replica.act(OpType.ACKNOWLEDGE, "01aa-0001")
    replica.record_results(
        [{"client_seq": 1, "op_id": op.op_id, "status": "rejected", "reason": "no such incident", "seq": 2}]
    )
    view = {v.id: v for v in replica.incidents()}
    assert view["01aa-0001"].incident.status.rank is Rank.TRIGGERED
    (kept,) = replica.outbox(states=["rejected"])
    assert kept.reason == "no such incident"


def test_ops_that_could_change_nothing_are_refused_locally(replica: Replica) -> None:
    replica.act(OpType.RESOLVE, "01aa-0001")
    with pytest.raises(OpRejected, match="already resolved"):
        replica.act(OpType.ACKNOWLEDGE, "01aa-0001")
    with pytest.raises(OpRejected, match="open"):
        replica.act(OpType.REOPEN, "01aa-0002")
    with pytest.raises(NotFound):
        replica.act(OpType.ACKNOWLEDGE, "no-such-id")


def test_a_reported_incident_exists_before_any_sync(replica: Replica) -> None:
    op = replica.report("printer on fire", "shop", priority="low", description="smoke")
    view = {v.id: v for v in replica.incidents()}
    made = view[op.entity_id].incident
    assert (made.title, made.priority.value, made.number, view[op.entity_id].service) == (
        "printer on fire", "low", 0, "shop")  # fmt: skip
    assert replica.find(op.entity_id[:36]) == op.entity_id
    with pytest.raises(NotFound, match="Known services: shop"):
        replica.report("x", "nope")


def test_find_takes_a_number_or_a_unique_prefix(replica: Replica) -> None:
    assert replica.find("2") == "01aa-0002"
    assert replica.find("#3") == "01bb-0003"
    assert replica.find("01bb") == "01bb-0003"
    with pytest.raises(NotFound, match="several"):
        replica.find("01aa")
    with pytest.raises(NotFound, match="No incident"):
        replica.find("ffff")


def test_filters_see_the_unsynced_state(replica: Replica) -> None:
    replica.act(OpType.ACKNOWLEDGE, "01aa-0001")
    assert [v.id for v in replica.incidents(statuses={"acknowledged"})] == ["01aa-0001"]
    assert "01aa-0001" not in [v.id for v in replica.incidents(statuses={"triggered"})]
    assert [v.id for v in replica.incidents(text="INCIDENT 3")] == ["01bb-0003"]


def test_a_new_snapshot_drops_the_rows_but_keeps_the_outbox(replica: Replica) -> None:
    replica.act(OpType.NOTE, "01aa-0001", {"text": "keep me"})
    replica.start_snapshot()
    assert replica.rows("incidents") == []
    assert replica.state().cursor == ""
    assert [o.args["text"] for o in replica.pending_ops()] == ["keep me"]


def test_tombstones_delete_rows(replica: Replica) -> None:
    replica.apply_page({"cursor": "c9", "last_seq": 9, "page_seq": 9, "more": False, "hlc": "",
                        "tables": {"tombstones": {"columns": ["entity", "entity_id", "seq"],
                                                  "rows": [["services", "1", 9]]}}})  # fmt: skip
    assert replica.services() == []


def test_the_outbox_and_replica_survive_a_restart_on_the_same_file(replica: Replica, tmp_path: Path) -> None:
    op = replica.act(OpType.NOTE, "01aa-0001", {"text": "before the restart"})
    client_id = replica.state().client_id
    replica.close()
    again = Replica(tmp_path / "replica.db")
    assert again.state().client_id == client_id
    assert [o.op_id for o in again.pending_ops()] == [op.op_id]
    later = again.act(OpType.NOTE, "01aa-0001", {"text": "after"})
    assert later.hlc > op.hlc  # the clock continues from its saved stamp


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_the_console_migrations_build_the_declared_schema(replica: Replica) -> None:
    with replica._engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), replica_metadata) == []
        # Alembic cannot compare the expression index (the warnings): as SQLite has it, its terms
        # are the ones the first read orders by
        sql = conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'ix_incidents_urgency'"
        ).scalar_one()
    assert URGENCY in sql
    assert sql.endswith("created_at DESC, id)")


def test_the_known_head_is_alembics_head() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD


def test_a_full_disk_is_a_message_and_the_replica_stays_whole(replica: Replica) -> None:
    engine = replica._engine

    @event.listens_for(engine, "connect")
    def _small(dbapi_connection: Any, _record: Any) -> None:
        size = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count={size + 2}")

    engine.dispose()  # new connections get the limit
    made: list[str] = []

    def fill() -> None:
        for n in range(10_000):
            made.append(replica.act(OpType.NOTE, "01aa-0001", {"text": f"note {n} " + "x" * 2000}).op_id)

    with pytest.raises(StorageFull, match="disk is full"):
        fill()
    event.remove(engine, "connect", _small)
    engine.dispose()  # space is back
    assert made
    assert [o.op_id for o in replica.pending_ops(limit=20_000)] == made  # every saved op, none half-saved
    assert sqlite3.connect(replica.path).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    replica.act(OpType.NOTE, "01aa-0001", {"text": "after freeing space"})
    assert datetime.now(UTC) - replica.outbox()[0].created_at < timedelta(minutes=5)


def test_an_unsynced_acknowledgement_shows_as_taking_effect(replica: Replica) -> None:
    replica.act(OpType.ACKNOWLEDGE, "01aa-0001")
    (entry,) = [e for e in replica.incident("01aa-0001").timeline if e.unsynced]
    assert entry.entry.kind.value == "acknowledged"
    assert "no_effect" not in entry.entry.body  # made on the confirmed incident, not the folded view


def test_every_column_the_server_sends_is_one_the_replica_keeps() -> None:
    # The replica drops columns it does not know (an older console, a newer server); within one
    # version, a column sent and dropped is bandwidth for nothing (the server's own shortcuts, such
    # as alerts.runbook_url, are withheld).
    for replicated in REPLICATED:
        kept = replica_metadata.tables[replicated.name].c
        assert [column for column in replicated.columns if column not in kept] == [], replicated.name
