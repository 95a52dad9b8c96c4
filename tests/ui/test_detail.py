"""The incident detail pane: an empty state, a header a responder reads at a glance, alerts and a
timeline in words (both Alertmanager-list and single-alert bodies), unsynced and refused ops marked,
and text from monitoring never taken for markup."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from console.domain.incident import EntryKind, Incident, TimelineEntry
from console.domain.ops import OpType
from console.domain.priority import Priority
from console.domain.status import Rank, Status
from console.domain.views import AlertView, EntryView, IncidentDetail, IncidentView
from console.store.replica import Replica
from console.ui.detail import EMPTY_TEXT, UNSYNCED_MARKER, IncidentDetailPane

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
T0 = NOW - timedelta(hours=1)
INCIDENT_ID = "01aa-0001"


def incident(**changes: Any) -> Incident:
    values: dict[str, Any] = {
        "id": INCIDENT_ID,
        "number": 42,
        "service_id": 1,
        "title": "checkout is failing",
        "priority": Priority.HIGH,
        "category": "availability",
        "status": Status(0, Rank.TRIGGERED),
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(changes)
    return Incident(**values)


def alert(alert_id: str, summary: str, **changes: Any) -> AlertView:
    values: dict[str, Any] = {
        "id": alert_id,
        "summary": summary,
        "source": "prometheus",
        "status": "triggered",
        "severity": "critical",
        "priority": "high",
        "repeat_count": 0,
        "first_seen": T0,
        "last_seen": T0,
    }
    values.update(changes)
    return AlertView(**values)


def entry(
    entry_id: str,
    kind: EntryKind,
    body: Mapping[str, Any],
    *,
    at: datetime = T0,
    actor: str = "alertmanager",
    unsynced: bool = False,
) -> EntryView:
    return EntryView(TimelineEntry(entry_id, INCIDENT_ID, 1, at, kind, actor, body), unsynced)


def detail(
    inc: Incident | None = None,
    alerts: list[AlertView] | None = None,
    timeline: list[EntryView] | None = None,
    service: str = "checkout-api",
) -> IncidentDetail:
    return IncidentDetail(IncidentView(inc or incident(), service), alerts or [], timeline or [], [])


@pytest.fixture
def pane(qtbot: QtBot) -> IncidentDetailPane:
    made = IncidentDetailPane(now=lambda: NOW)
    qtbot.addWidget(made)
    return made


def only(texts: list[str], needle: str) -> str:
    found = [t for t in texts if needle in t]
    assert len(found) == 1, (needle, texts)
    return found[0]


# -- a replica like the console's, filled by server pages (as in tests/store/test_replica.py) --

INCIDENT_COLUMNS = [
    "id", "number", "service_id", "title", "priority", "category", "status", "epoch", "alert_count",
    "open_alerts", "created_at", "updated_at", "acknowledged_at", "resolved_at", "assignee", "description",
    "snoozed_until", "clocks", "seq",
]  # fmt: skip
TIMELINE_COLUMNS = ["id", "incident_id", "service_id", "at", "kind", "actor", "body", "seq"]


def incident_row(*, seq: int = 1) -> list[Any]:
    at = T0.isoformat()
    return [INCIDENT_ID, 7, 1, "disk full on db-1", "high", "general", "triggered", 0, 1, 1, at, at,
            None, None, None, "", None, {}, seq]  # fmt: skip


def page(*, seq: int, timeline: list[list[Any]] | None = None) -> dict[str, Any]:
    tables: dict[str, Any] = {
        "services": {"columns": ["id", "name", "parent_id", "seq"], "rows": [[1, "db", None, 1]]},
        "incidents": {"columns": INCIDENT_COLUMNS, "rows": [incident_row(seq=seq)]},
    }
    if timeline:
        tables["timeline"] = {"columns": TIMELINE_COLUMNS, "rows": timeline}
    return {"cursor": f"c{seq}", "last_seq": seq, "page_seq": seq, "more": False, "hlc": "", "tables": tables}


@pytest.fixture
def replica(tmp_path: Path) -> Replica:
    made = Replica(tmp_path / "replica.db")
    made.set_server("http://server", "ann")
    made.apply_page(page(seq=1))
    return made


# -- tests --


def test_with_no_incident_the_pane_says_to_select_one(pane: IncidentDetailPane) -> None:
    assert pane.empty_label.text() == EMPTY_TEXT == "Select an incident"
    assert not pane.empty_label.isHidden()
    assert pane.content.isHidden()

    pane.show_incident(detail(timeline=[entry("e1", EntryKind.NOTE, {"text": "hello"}, actor="ann")]))
    assert pane.empty_label.isHidden()
    assert not pane.content.isHidden()
    assert len(pane.timeline_texts()) == 1

    pane.show_incident(None)
    assert not pane.empty_label.isHidden()
    assert pane.content.isHidden()
    assert pane.timeline_texts() == []
    assert pane.alert_rows() == []


def test_the_header_shows_priority_number_and_who_acknowledged_first(pane: IncidentDetailPane) -> None:
    acked = incident(
        status=Status(1, Rank.ACKNOWLEDGED),
        acknowledged_at=NOW - timedelta(minutes=3),
        assignee="bob",
        description="payments time out after 30 s",
    )
    pane.show_incident(
        detail(
            acked,
            timeline=[
                entry("e1", EntryKind.ACKNOWLEDGED, {"epoch": 0}, at=T0, actor="zoe"),  # before the reopen
                entry("e2", EntryKind.REOPENED, {"epoch": 0}, at=T0 + timedelta(minutes=5), actor="zoe"),
                entry("e4", EntryKind.ACKNOWLEDGED, {"epoch": 1}, at=NOW - timedelta(minutes=2), actor="cy"),
                entry("e3", EntryKind.ACKNOWLEDGED, {"epoch": 1}, at=NOW - timedelta(minutes=3), actor="ann"),
            ],
        )
    )
    assert "HIGH" in pane.priority_label.text()
    assert "▲" in pane.priority_label.text()  # a shape as well as a colour
    assert pane.number_label.text() == "#42"
    assert pane.title_label.text() == "checkout is failing"
    assert pane.service_label.text() == "checkout-api"
    assert "acknowledged" in pane.status_label.text()
    assert "epoch 1" in pane.status_label.text()
    assert pane.ack_label.text().startswith("acknowledged by ann 3 min ago")
    assert pane.assignee_label.text() == "bob"
    assert pane.category_label.text() == "availability"
    assert pane.description_label.text() == "payments time out after 30 s"

    reported = incident(number=0, priority=Priority.LOW, snoozed_until=NOW + timedelta(minutes=25))
    pane.show_incident(detail(reported))
    assert "low" in pane.priority_label.text()
    assert "HIGH" not in pane.priority_label.text()
    assert pane.number_label.text() == "not numbered yet"
    assert "epoch" not in pane.status_label.text()
    assert pane.ack_label.text() == ""
    assert pane.assignee_label.text() == "nobody"
    assert "in 25 min" in pane.snoozed_label.text()


def test_alertmanager_lists_and_single_alerts_both_name_their_alerts(pane: IncidentDetailPane) -> None:
    alerts = [
        alert("a1", "CPU hot on web-1"),
        alert("a2", "Disk 95% on db-1", labels={"instance": "db-1"}),
        alert("a3", "Queue backlog", repeat_count=4, status="resolved"),
    ]
    grouped = {"alerts": [{"alert_id": "a1", "summary": "CPU hot on web-1"},
                          {"alert_id": "a2", "summary": "Disk 95% on db-1"}], "count": 2}  # fmt: skip
    pane.show_incident(
        detail(
            alerts=alerts,
            timeline=[
                entry("e1", EntryKind.TRIGGERED, {"alert_id": "a3", "summary": "Queue backlog"}),
                entry("e2", EntryKind.ALERT_ADDED, grouped, at=T0 + timedelta(minutes=1)),
                entry(
                    "e3",
                    EntryKind.ALERT_REPEATED,
                    {"alert_id": "a3", "repeat_count": 4},
                    at=T0 + timedelta(minutes=2),
                ),
            ],
        )
    )
    texts = pane.timeline_texts()
    added = only(texts, "alerts added")
    assert "CPU hot on web-1" in added
    assert "Disk 95% on db-1" in added
    assert "2 alerts added" in added
    assert "Queue backlog" in only(texts, "Triggered")
    assert "Queue backlog" in only(texts, "repeated")  # the summary looked up by the alert's id
    assert "repeated" in texts[0]  # newest first
    assert "Triggered" in texts[-1]

    rows = pane.alert_rows()
    assert [row[0] for row in rows] == ["CPU hot on web-1", "Disk 95% on db-1", "Queue backlog"]
    assert rows[2][3].endswith("resolved")
    assert rows[2][4] == "4"
    model = pane.alerts_model
    assert "instance=db-1" in plain_text(model.data(model.index(1, 0), Qt.ItemDataRole.ToolTipRole))


def plain_text(rich: str) -> str:
    """What a rich-text tooltip reads as once rendered."""
    document = QTextDocument()
    document.setHtml(rich)
    return document.toPlainText()


def test_a_note_is_shown_in_full_and_a_no_effect_entry_is_muted_with_its_reason(
    pane: IncidentDetailPane,
) -> None:
    note = "Rolled back 1.4.2.\nWatching error rates for ten minutes; " + "x" * 2000
    pane.show_incident(
        detail(
            timeline=[
                entry("e1", EntryKind.NOTE, {"text": note, "epoch": 0}, actor="ann"),
                entry(
                    "e2",
                    EntryKind.ACKNOWLEDGED,
                    {"epoch": 0, "no_effect": True, "reason": "The incident was already resolved."},
                    at=T0 + timedelta(minutes=1),
                    actor="bob",
                ),
            ]
        )
    )
    texts = pane.timeline_texts()
    assert note in only(texts, "Rolled back")
    assert "No effect: The incident was already resolved." in only(texts, "bob")
    model = pane.timeline_model
    muted_row = texts.index(only(texts, "bob"))
    assert model.data(model.index(muted_row), Qt.ItemDataRole.ForegroundRole) is not None
    assert model.data(model.index(1 - muted_row), Qt.ItemDataRole.ForegroundRole) is None
    assert pane.ack_label.text() == ""  # an acknowledgement that changed nothing is no acknowledgement


def test_an_unsynced_op_is_marked_until_the_server_confirms_it(
    pane: IncidentDetailPane, replica: Replica
) -> None:
    op = replica.act(OpType.NOTE, INCIDENT_ID, {"text": "rebooting db-1"})
    shown = replica.incident(INCIDENT_ID)
    pane.show_incident(shown)
    assert UNSYNCED_MARKER in only(pane.timeline_texts(), "rebooting db-1")
    assert not pane.unsynced_label.isHidden()

    (pending,) = replica.pending_ops()
    replica.record_results(
        [{"client_seq": pending.client_seq, "op_id": op.op_id, "status": "applied", "reason": "", "seq": 2}]
    )
    pane.show_incident(replica.incident(INCIDENT_ID))  # applied, but the page holding it is not here yet
    assert UNSYNCED_MARKER in only(pane.timeline_texts(), "rebooting db-1")

    (made,) = [e.entry for e in shown.timeline if e.entry.id == op.op_id]
    row = [
        op.op_id,
        INCIDENT_ID,
        1,
        made.at.isoformat(),
        "note",
        "ann",
        {"text": "rebooting db-1", "epoch": 0},
        2,
    ]
    replica.apply_page(page(seq=2, timeline=[row]))
    pane.show_incident(replica.incident(INCIDENT_ID))
    synced = only(pane.timeline_texts(), "rebooting db-1")
    assert UNSYNCED_MARKER not in synced
    assert "ann" in synced
    assert pane.unsynced_label.isHidden()


def test_a_rejected_op_shows_the_servers_reason(pane: IncidentDetailPane, replica: Replica) -> None:
    pane.show_incident(replica.incident(INCIDENT_ID))
    assert pane.rejected_label.isHidden()

    op = replica.act(OpType.ACKNOWLEDGE, INCIDENT_ID)
    (pending,) = replica.pending_ops()
    reason = "you are not on the db team's rota"
    replica.record_results(
        [
            {
                "client_seq": pending.client_seq,
                "op_id": op.op_id,
                "status": "rejected",
                "reason": reason,
                "seq": 2,
            }
        ]
    )
    pane.show_incident(replica.incident(INCIDENT_ID))
    assert not pane.rejected_label.isHidden()
    assert f"rejected by the server: {reason}" in pane.rejected_label.text()
    assert "Acknowledge" in pane.rejected_label.text()
    assert pane.ack_label.text() == ""  # the refused acknowledgement does not count


def test_markup_from_monitoring_is_shown_literally(pane: IncidentDetailPane) -> None:
    markup = "<b>x</b>"
    pane.show_incident(
        detail(
            incident(title=markup, description="<i>desc</i>"),
            alerts=[alert("a1", markup, labels={"env": "<i>prod</i>"})],
            timeline=[
                entry("e1", EntryKind.TRIGGERED, {"alert_id": "a1", "summary": markup}),
                entry("e2", EntryKind.NOTE, {"text": "<img src=x>"}, at=T0 + timedelta(minutes=1)),
            ],
            service=markup,
        )
    )
    assert pane.title_label.text() == markup
    # rendered literally: as wide as the eight characters, not one bold "x"
    width = pane.service_label.fontMetrics().horizontalAdvance(markup)
    assert pane.service_label.sizeHint().width() >= width
    for label in pane.findChildren(QLabel):  # every label showing data is plain text
        assert label.textFormat() is Qt.TextFormat.PlainText or "<" not in label.text(), label.text()

    assert pane.alert_rows()[0][0] == markup
    tip = pane.alerts_model.data(pane.alerts_model.index(0, 0), Qt.ItemDataRole.ToolTipRole)
    shown = plain_text(tip)
    assert markup in shown
    assert "env=<i>prod</i>" in shown

    texts = pane.timeline_texts()
    assert markup in only(texts, "Triggered")
    assert "<img src=x>" in only(texts, "Note")
