"""/sync/push, /sync/pull and /sync/stream against a real server (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import itertools
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from console.domain.clock import Hlc, to_ms
from console.domain.ids import uuid7
from console.server.admin import add_user, compact, remove_user
from console.server.database import open_engine
from tests.server.stack import Served, embedded

SCHEMA = {"X-Responder-Schema": "1"}
_seq = itertools.count(1)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with embedded(tmp_path_factory.mktemp("sync-server"), {"shop": None, "web": None}) as server:
        yield server


@pytest.fixture(scope="module")
def token(served: Served) -> str:
    engine = open_engine(f"sqlite:///{served.db}", writer=True)
    try:
        return add_user(engine, "ann")
    finally:
        engine.dispose()


def headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **SCHEMA}


def trigger(served: Served, summary: str = "disk full", severity: str = "critical") -> str:
    dedup = uuid.uuid4().hex
    body = {
        "routing_key": served.key,
        "event_action": "trigger",
        "dedup_key": dedup,
        "payload": {"summary": summary, "source": "db1", "severity": severity},
    }
    assert served.client.post("/v2/enqueue", json=body).status_code == 202
    rows = (
        sqlite3.connect(served.db)
        .execute("SELECT incident_id FROM alerts WHERE dedup_key = ?", (dedup,))
        .fetchall()
    )
    return str(rows[0][0])


def hlc(offset: timedelta = timedelta(0), node: str = "c") -> str:
    return Hlc(to_ms(datetime.now(UTC) + offset), 0, node).encode()


def op(kind: str, incident_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "client_seq": fields.pop("client_seq", 1),
        "op_id": fields.pop("op_id", uuid7()),
        "type": kind,
        "entity_id": incident_id,
        "args": fields.pop("args", {}),
        "hlc": fields.pop("hlc", hlc()),
        "base_epoch": fields.pop("base_epoch", 0),
    }


def push(served: Served, token: str, client_id: str, ops: list[dict[str, Any]]) -> httpx.Response:
    return served.client.post("/sync/push", json={"client_id": client_id, "ops": ops}, headers=headers(token))


def pull_all(
    served: Served, token: str, cursor: str = "", limit: int = 5000
) -> tuple[dict[str, list[Any]], str]:
    tables: dict[str, list[Any]] = {}
    while True:
        response = served.client.get(
            "/sync/pull", params={"cursor": cursor, "limit": limit}, headers=headers(token)
        )
        assert response.status_code == 200, response.text
        page = response.json()
        for name, rows in page["tables"].items():
            tables.setdefault(name, []).extend(
                dict(zip(rows["columns"], row, strict=True)) for row in rows["rows"]
            )
        cursor = page["cursor"]
        if not page["more"]:
            return tables, cursor


def test_push_applies_ops_once_and_answers_a_resend_from_its_record(served: Served, token: str) -> None:
    incident = trigger(served)
    client = str(uuid.uuid4())
    ops = [
        op("acknowledge", incident, client_seq=1),
        op("note", incident, client_seq=2, args={"text": "looking"}),
        op("explode", incident, client_seq=3),
    ]
    first = push(served, token, client, ops)
    assert first.status_code == 200, first.text
    answer = first.json()
    assert answer["last_client_seq"] == 3
    assert [r["status"] for r in answer["results"]] == ["applied", "applied", "rejected"]
    assert "unknown op" in answer["results"][2]["reason"]

    again = push(served, token, client, ops)  # the answer was lost; the console sends it all again
    assert again.json()["results"] == answer["results"]
    timeline = (
        sqlite3.connect(served.db)
        .execute(
            "SELECT id, kind, actor FROM timeline WHERE incident_id = ? AND kind IN ('acknowledged', 'note')",
            (incident,),
        )
        .fetchall()
    )
    assert sorted(timeline) == sorted(
        [(ops[0]["op_id"], "acknowledged", "ann"), (ops[1]["op_id"], "note", "ann")]
    )


def test_a_gap_in_client_seq_is_a_409_and_applies_nothing(served: Served, token: str) -> None:
    incident = trigger(served)
    response = push(served, token, str(uuid.uuid4()), [op("acknowledge", incident, client_seq=2)])
    assert response.status_code == 409
    assert "ops: a gap in client_seq" in response.json()["errors"]
    status = (
        sqlite3.connect(served.db)
        .execute("SELECT status FROM incidents WHERE id = ?", (incident,))
        .fetchone()
    )
    assert status == ("triggered",)


def test_a_stale_resolve_does_not_close_a_reopened_incident(served: Served, token: str) -> None:
    incident = trigger(served)
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    stale = op("resolve", incident, client_seq=1, base_epoch=0)  # made offline, before the reopen
    assert (
        push(served, token, b, [op("resolve", incident, client_seq=1)]).json()["results"][0]["status"]
        == "applied"
    )
    reopened = push(served, token, b, [op("reopen", incident, client_seq=2, base_epoch=0)])
    assert reopened.json()["results"][0]["status"] == "applied"
    late = push(served, token, a, [stale]).json()["results"][0]
    assert late["status"] == "noop"
    assert "reopened" in late["reason"]
    row = (
        sqlite3.connect(served.db)
        .execute("SELECT status, epoch FROM incidents WHERE id = ?", (incident,))
        .fetchone()
    )
    assert row == ("triggered", 1)


def test_resolving_resolves_the_open_alerts_so_the_next_trigger_opens_a_new_incident(
    served: Served, token: str
) -> None:
    incident = trigger(served)
    push(served, token, str(uuid.uuid4()), [op("resolve", incident)])
    db = sqlite3.connect(served.db)
    assert db.execute("SELECT status FROM alerts WHERE incident_id = ?", (incident,)).fetchall() == [
        ("resolved",)
    ]
    dedup = db.execute("SELECT dedup_key FROM alerts WHERE incident_id = ?", (incident,)).fetchone()[0]
    body = {"routing_key": served.key, "event_action": "trigger", "dedup_key": dedup, "payload": {
        "summary": "again", "source": "db1", "severity": "critical"}}  # fmt: skip
    assert served.client.post("/v2/enqueue", json=body).status_code == 202
    opened = db.execute("SELECT DISTINCT incident_id FROM alerts WHERE dedup_key = ?", (dedup,)).fetchall()
    assert len(opened) == 2


def test_report_creates_the_incident_with_the_consoles_id_and_a_number(served: Served, token: str) -> None:
    incident = uuid7()
    args = {"title": "printer on fire", "service_id": served.service_ids["web"], "priority": "low"}
    answer = push(served, token, str(uuid.uuid4()), [op("report", incident, args=args)]).json()
    assert answer["results"][0]["status"] == "applied"
    row = (
        sqlite3.connect(served.db)
        .execute("SELECT title, priority, number > 0, status FROM incidents WHERE id = ?", (incident,))
        .fetchone()
    )
    assert row == ("printer on fire", "low", 1, "triggered")
    unknown = {"title": "x", "service_id": 9999}
    rejected = push(served, token, str(uuid.uuid4()), [op("report", uuid7(), args=unknown)]).json()[
        "results"
    ][0]
    assert rejected["status"] == "rejected"
    assert "service_id" in rejected["reason"]


def test_last_writer_wins_by_clock_and_a_clock_far_ahead_is_clamped(served: Served, token: str) -> None:
    incident = trigger(served, severity="warning")
    ahead = op("priority", incident, args={"priority": "high"}, hlc=hlc(timedelta(hours=1), "fast"))
    later = op("priority", incident, args={"priority": "low"}, hlc=hlc(timedelta(minutes=2), "honest"))
    client = str(uuid.uuid4())
    push(served, token, client, [{**ahead, "client_seq": 1}])
    result = push(served, token, client, [{**later, "client_seq": 2}]).json()["results"][0]
    # Clamped to now + 60 s, the console an hour ahead does not win against a later honest edit.
    assert result["status"] == "applied"
    row = (
        sqlite3.connect(served.db)
        .execute("SELECT priority FROM incidents WHERE id = ?", (incident,))
        .fetchone()
    )
    assert row == ("low",)


def test_pull_pages_are_exact_whatever_the_page_size(served: Served, token: str) -> None:
    for n in range(7):
        trigger(served, f"page test {n}")
    whole, _ = pull_all(served, token)
    paged, _ = pull_all(served, token, limit=3)

    def ids(tables: dict[str, list[Any]]) -> dict[str, set[Any]]:
        return {name: {row["id"] for row in rows} for name, rows in tables.items()}

    assert ids(paged) == ids(whole)
    assert {row["name"] for row in whole["users"]} >= {"ann", "reader"}
    assert "token_hash" not in whole["users"][0]


def test_pull_after_a_cursor_brings_only_what_changed(served: Served, token: str) -> None:
    _, cursor = pull_all(served, token)
    incident = trigger(served, "after the cursor")
    tables, _ = pull_all(served, token, cursor)
    assert [row["id"] for row in tables["incidents"]] == [incident]
    assert all(row["incident_id"] == incident for row in tables["alerts"])


def test_a_cursor_from_another_database_or_before_the_horizon_is_410(served: Served, token: str) -> None:
    _, cursor = pull_all(served, token)
    version, _server_id, rest = cursor.split(".", 2)
    foreign = f"{version}.{uuid.uuid4()}.{rest}"
    response = served.client.get("/sync/pull", params={"cursor": foreign}, headers=headers(token))
    assert response.status_code == 410
    assert "snapshot" in response.json()["message"]
    garbage = served.client.get("/sync/pull", params={"cursor": "nonsense"}, headers=headers(token))
    assert garbage.status_code == 400
    assert garbage.json()["errors"] == ["cursor: not a cursor this server gave out"]

    engine = open_engine(f"sqlite:///{served.db}", writer=True)
    try:
        add_user(engine, "leaver")
        remove_user(engine, "leaver")
        tables, _ = pull_all(served, token, cursor)
        assert [row["entity"] for row in tables["tombstones"]] == ["users"]
        assert "leaver" not in {row["name"] for row in tables.get("users", [])}
        assert (
            served.client.get("/sync/pull", params={"cursor": cursor}, headers=headers(token)).status_code
            == 200
        )
        compact(engine, keep=timedelta(0))
    finally:
        engine.dispose()
    expired = served.client.get("/sync/pull", params={"cursor": cursor}, headers=headers(token))
    assert expired.status_code == 410
    assert served.client.get("/sync/pull", params={"cursor": ""}, headers=headers(token)).status_code == 200


def test_schema_versions_and_tokens_are_checked(served: Served, token: str) -> None:
    old = served.client.get(
        "/sync/pull", headers={"Authorization": f"Bearer {token}", "X-Responder-Schema": "0"}
    )
    assert old.status_code == 426
    assert "Upgrade the console" in old.json()["message"]
    new = served.client.get(
        "/sync/pull", headers={"Authorization": f"Bearer {token}", "X-Responder-Schema": "99"}
    )
    assert new.status_code == 426
    assert "Upgrade the server" in new.json()["message"]
    missing = served.client.get("/sync/pull", headers={"Authorization": f"Bearer {token}"})
    assert missing.status_code == 400
    assert served.client.get("/sync/pull", headers=SCHEMA).status_code == 401
    assert (
        served.client.get("/sync/pull", headers={"Authorization": "Bearer nope", **SCHEMA}).status_code == 403
    )
    viewer = push(served, served.token, str(uuid.uuid4()), [])
    assert viewer.status_code == 403
    assert "Viewers" in viewer.json()["message"]
    other = str(uuid.uuid4())
    assert push(served, token, other, []).status_code == 200
    engine = open_engine(f"sqlite:///{served.db}", writer=True)
    try:
        someone = add_user(engine, f"someone-{uuid.uuid4().hex[:6]}")
    finally:
        engine.dispose()
    assert push(served, someone, other, []).status_code == 403  # that console id is ann's


def test_whoami_names_the_tokens_user(served: Served, token: str) -> None:
    answer = served.client.get("/sync/whoami", headers=headers(token)).json()
    assert answer["user"] == "ann"
    assert answer["role"] == "responder"
    assert answer["server_id"]


def test_the_stream_pokes_with_the_new_seq_after_a_commit(served: Served, token: str) -> None:
    seen: list[int] = []
    with (
        httpx.Client(base_url=served.url, timeout=10) as client,
        client.stream("GET", "/sync/stream", headers=headers(token)) as stream,
    ):
        for line in stream.iter_lines():
            if line.startswith("id: "):
                seen.append(int(line[4:]))
                if len(seen) == 1:
                    trigger(served, "poke me")
                else:
                    break
    assert seen[1] > seen[0]


def test_a_server_that_lost_a_consoles_answered_ops_continues_after_them(served: Served, token: str) -> None:
    """A restored backup does not know ops the console already had answers for: the console says
    so (`settled_through`) and its pending ops are applied, once."""
    incident = trigger(served)
    client = str(uuid.uuid4())
    note = op("note", incident, client_seq=8, args={"text": "after the restore"})
    body = {"client_id": client, "ops": [note], "settled_through": 7}
    answer = served.client.post("/sync/push", json=body, headers=headers(token)).json()
    assert answer["last_client_seq"] == 8
    assert answer["results"][0]["status"] == "applied"
    resent = {**note, "client_seq": 9}  # the same op under another number is still applied once
    again = served.client.post(
        "/sync/push",
        json={"client_id": client, "ops": [resent], "settled_through": 8},
        headers=headers(token),
    ).json()
    assert again["results"][0]["status"] == "noop"
    count = sqlite3.connect(served.db).execute("SELECT count(*) FROM timeline WHERE id = ?", (note["op_id"],))
    assert count.fetchone() == (1,)
