"""Runbooks in the server database: imported from a folder of Markdown files (`admin import-runbooks`)
or saved from a manager's console, read back for `admin export-runbooks`, and attached to new
incidents as runs by the escalation engine's pass, off the intake path.

A runbook row holds its latest version; a run holds a copy of the version it started with, so an
edit never changes the steps of a run under the people working through it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, insert, select, update

from console.domain.errors import DomainError
from console.domain.ids import uuid7
from console.domain.incident import Alert, AlertStatus, EntryKind
from console.domain.priority import Priority, Severity
from console.domain.runbook import Runbook, alert_fields, attach
from console.domain.runbook_json import runbook_from_json, runbook_json
from console.domain.status import Rank
from console.server.admin import change_seq
from console.server.bulk import Codec, chunks, fetch, raw
from console.server.tables import alerts, incidents, runbooks, runs, services, timeline

AUTO = "auto"  # who started a run the engine attached
_OPEN = (Rank.TRIGGERED.label, Rank.ACKNOWLEDGED.label)


class ImportRefused(DomainError):
    """Runbooks changed without a higher version; nothing was imported. `refusals`: (id, message)."""

    def __init__(self, refusals: Sequence[tuple[str, str]]) -> None:
        self.refusals = tuple(refusals)
        super().__init__("\n".join(f"{runbook_id}: {message}" for runbook_id, message in self.refusals))


@dataclass(frozen=True, slots=True)
class Imported:
    added: list[Runbook] = field(default_factory=list)
    changed: list[tuple[int, Runbook]] = field(default_factory=list)  # (the version replaced, the new one)
    unchanged: int = 0


def read_runbooks(conn: Connection) -> list[Runbook]:
    return [
        runbook_from_json(row.body) for row in conn.execute(select(runbooks.c.body).order_by(runbooks.c.id))
    ]


def write_runbook(
    conn: Connection, runbook: Runbook, *, by: str, at: datetime, seq: int, exists: bool
) -> None:
    values: dict[str, Any] = {
        "title": runbook.title,
        "version": runbook.version,
        "body": runbook_json(runbook),
        "saved_by": by,
        "saved_at": at,
        "seq": seq,
    }
    if exists:
        conn.execute(update(runbooks).where(runbooks.c.id == runbook.id).values(values))
    else:
        conn.execute(insert(runbooks).values(id=runbook.id, **values))


def import_runbooks(engine: Engine, found: Sequence[Runbook]) -> Imported:
    """Store every runbook of `found` in one transaction: all or nothing, and nothing (not even an
    empty change) when the database holds them already. A runbook that differs from the stored one
    must have a higher version, else the whole import is refused (ImportRefused)."""
    with engine.connect() as conn, conn.begin() as transaction:
        now = datetime.now(UTC)
        seq = change_seq(conn, now)
        stored = {
            row.id: row for row in conn.execute(select(runbooks.c.id, runbooks.c.version, runbooks.c.body))
        }
        added: list[Runbook] = []
        changed: list[tuple[int, Runbook]] = []
        refusals: list[tuple[str, str]] = []
        for runbook in found:
            row = stored.get(runbook.id)
            if row is None:
                added.append(runbook)
            elif row.body == runbook_json(runbook):
                continue
            elif runbook.version <= row.version:
                message = (
                    f"version: {runbook.version} is not above version {row.version}, which the server "
                    f"holds with other content; raise it to {row.version + 1}"
                )
                refusals.append((runbook.id, message))
            else:
                changed.append((row.version, runbook))
        if refusals:
            transaction.rollback()
            raise ImportRefused(refusals)
        imported = Imported(added, changed, len(found) - len(added) - len(changed))
        if not added and not changed:
            transaction.rollback()  # not even an empty change in the log
            return imported
        for runbook in added:
            write_runbook(conn, runbook, by="admin", at=now, seq=seq, exists=False)
        for _old, runbook in changed:
            write_runbook(conn, runbook, by="admin", at=now, seq=seq, exists=True)
    return imported


# -- attaching runs to new incidents (in the escalation engine's pass) --


def attach_runs(conn: Connection, *, since: int, at: datetime, seq: int) -> int:
    """Runs of the matching runbooks (and of alerts' `runbook_url`s) on open incidents whose alerts
    were written after change `since`, or that were reported by hand after it; each runbook once per
    incident. Returns the number of runs started."""
    any_stored = bool(fetch(conn, _ANY_RUNBOOK, {}))
    new_alerts = list(_new_alerts(conn, since, at, any_stored=any_stored))
    reported = list(_reported(conn, since)) if any_stored else []
    if not new_alerts and not reported:
        return 0
    stored = read_runbooks(conn) if any_stored else []  # read only when there is something to match
    wanted: dict[str, list[Runbook]] = {}  # incident id → runbooks, in the order they matched
    # Matching reads only the fields the matchers name: alerts of a storm that agree on those (and
    # on service and runbook_url) get the same runbooks, matched once.
    names = sorted({matcher.name for runbook in stored for matcher in runbook.applies_to.matchers})
    chosen: dict[tuple[Any, ...], list[Runbook]] = {}
    for incident_id, service, fields, url in new_alerts:
        key = (service, url, *(fields.get(name) for name in names))
        if key not in chosen:
            chosen[key] = attach(stored, service=service, fields=fields, runbook_url=url)
        _add(wanted, incident_id, chosen[key])
    if stored:
        for incident_id, service, title in reported:
            _add(
                wanted,
                incident_id,
                attach(stored, service=service, fields={"summary": title}, runbook_url=None),
            )
    if not wanted:
        return 0
    started = 0
    for chunk in chunks(list(wanted)):
        have = {
            (row.incident_id, row.runbook_id)
            for row in conn.execute(
                select(runs.c.incident_id, runs.c.runbook_id).where(runs.c.incident_id.in_(chunk))
            )
        }
        rows = [
            {
                "id": uuid7(),
                "incident_id": incident_id,
                "runbook_id": runbook.id,
                "runbook_version": runbook.version,
                "runbook": runbook_json(runbook),
                "started_at": at,
                "started_by": AUTO,
                "seq": seq,
            }
            for incident_id in chunk
            for runbook in wanted[incident_id]
            if (incident_id, runbook.id) not in have
        ]
        if rows:
            conn.execute(insert(runs), rows)
            started += len(rows)
    return started


def _add(wanted: dict[str, list[Runbook]], incident_id: str, chosen: list[Runbook]) -> None:
    if not chosen:
        return
    found = wanted.setdefault(incident_id, [])
    ids = {runbook.id for runbook in found}
    found.extend(runbook for runbook in chosen if runbook.id not in ids)


def _new_alerts(
    conn: Connection, since: int, at: datetime, *, any_stored: bool
) -> Iterable[tuple[str, str, dict[str, str], str | None]]:
    """(incident id, the alert's service, its fields, its runbook_url) of new alerts written after
    `since` on open incidents. Without stored runbooks only a runbook_url can attach anything: then
    only the alerts that came with one are read, as one row per incident and url (a storm's group of
    a hundred alerts is one row), without their fields."""
    rows = fetch(conn, _NEW_ALERTS if any_stored else _NEW_URLS, {"since": since})
    if not rows:
        return
    open_ids = _open_incidents(conn, {row[0] for row in rows})
    names = _service_names(conn)
    if not any_stored:
        no_fields: dict[str, str] = {}
        for incident_id, service_id, url in rows:
            if incident_id in open_ids:
                yield incident_id, names[service_id], no_fields, url
        return
    codec = Codec(conn.dialect)
    for row in rows:
        if row[0] in open_ids:
            alert = _alert(row, at, codec)
            yield alert.incident_id, names[alert.service_id], alert_fields(alert), row[-1]


def _open_incidents(conn: Connection, ids: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for chunk in chunks(sorted(ids)):
        found.update(row[0] for row in fetch(conn, _OPEN_OF, {"ids": chunk}))
    return found


_OPEN_OF = select(raw(incidents.c.id)).where(
    incidents.c.id.in_(bindparam("ids", expanding=True)), incidents.c.status.in_(_OPEN)
)


def _service_names(conn: Connection) -> dict[int, str]:
    return {service_id: name for service_id, name in conn.execute(select(services.c.id, services.c.name))}


def _reported(conn: Connection, since: int) -> Iterable[tuple[str, str, str]]:
    """(incident id, service, title) of open incidents reported on a console after `since`."""
    t, i = timeline.c, incidents.c
    # as in _new_alerts: the timeline by seq first, then the incidents
    found = select(t.incident_id).where(t.seq > since, t.kind == EntryKind.REPORTED.value)
    ids = {incident_id for incident_id in conn.execute(found).scalars() if incident_id is not None}
    if not ids:
        return
    open_ids = _open_incidents(conn, ids)
    names = _service_names(conn)
    for chunk in chunks(sorted(open_ids)):
        for row in conn.execute(select(i.id, i.title, i.service_id).where(i.id.in_(chunk))):
            yield row.id, names[row.service_id], row.title


# What matching reads of an alert (console.domain.runbook.alert_fields) and the runbook_url intake
# kept: a storm of new alerts is read here once more, so not its times, counters, details or links.
_MATCHED = tuple(
    raw(alerts.c[name])
    for name in (
        "incident_id", "id", "service_id", "integration_id", "dedup_key", "summary", "source", "severity",
        "priority", "component", "group_name", "class_name", "labels", "runbook_url",
    )
)  # fmt: skip
_a = alerts.c
# The alerts alone, found by their seq; their incidents and services are read after. Joined in one
# query, SQLite walked every open incident on each pass instead (a storm's worth of them). A repeat
# says what the alert's first event said: a storm of repeats is not read again.
_NEW = (_a.seq > bindparam("since"), _a.repeat_count == 0)
_NEW_ALERTS = select(*_MATCHED).where(*_NEW).order_by(_a.first_seen, _a.id)
_NEW_URLS = (
    select(raw(_a.incident_id), raw(_a.service_id), raw(_a.runbook_url))
    .where(*_NEW, _a.runbook_url.is_not(None))
    .group_by(_a.incident_id, _a.service_id, _a.runbook_url)
    .order_by(func.min(_a.first_seen), func.min(_a.id))  # as the alerts came
)
_ANY_RUNBOOK = select(raw(runbooks.c.id)).limit(1)
_SEVERITIES = {severity.value: severity for severity in Severity}
_PRIORITIES = {priority.value: priority for priority in Priority}


def _alert(row: Sequence[Any], at: datetime, codec: Codec) -> Alert:
    """The alert as matching sees it; what matching never reads (its times, status, details and
    links) is a stand-in."""
    (incident_id, alert_id, service_id, integration_id, dedup_key, summary, source, severity, priority,
     component, group, klass, labels, _url) = row  # fmt: skip
    labels = codec.load_json(labels)
    return Alert(
        alert_id, incident_id, service_id, integration_id, dedup_key, "", AlertStatus.TRIGGERED, summary,
        source, _SEVERITIES.get(severity or ""), _PRIORITIES[priority], at, at, 0, component, group, klass,
        {str(k): str(v) for k, v in (labels or {}).items()},
    )  # fmt: skip
