"""Applies intake commands to the database in one transaction per batch (the group-commit unit).

Lookups go to the database once per key and are then served from intake's view (`IntakeView`), so
several events for one key in a batch see each other, and the next batch starts from it when nothing
else wrote in between. A body whose events all belong to one group
(Alertmanager) is folded as a unit (`fold_group`): its group's open alerts and incident are loaded
for the whole batch in a couple of queries, and the body changes the incident once. Writes are
collected and sent as a few executemany statements at the end, rows as tuples: that is what lets one
SQLite writer keep thousands of events a second durable.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NoReturn

from sqlalchemy import Connection, bindparam, func, select

from console.domain.incident import Alert, AlertStatus, EntryKind, Incident, Link, TimelineEntry, quick_init
from console.domain.intake import AlertEvent, Context, Outcome, fold, fold_group
from console.domain.priority import Priority, Severity
from console.domain.runbook import runbook_url_of
from console.domain.status import Rank, Status
from console.server.bulk import Codec, Row, chunks, fetch, insert_rows, raw, update_rows
from console.server.tables import alerts, events, incidents, timeline

log = logging.getLogger(__name__)

OPEN_STATUSES = (Rank.TRIGGERED.label, Rank.ACKNOWLEDGED.label)


@dataclass(frozen=True, slots=True)
class Integration:
    id: int
    service_id: int
    ancestors: tuple[int, ...] = ()  # parent service first


@quick_init  # one per request: dataclass's frozen __init__ cost twice as much
@dataclass(frozen=True, slots=True)
class Ingest:
    """One accepted body: its events, applied in order, and the raw text kept for audit."""

    integration: Integration
    format: str
    actor: str
    events: Sequence[AlertEvent]
    raw: str
    action: str


@dataclass(frozen=True, slots=True)
class ServiceNote:
    """A timeline entry on a service, not on an incident (PagerDuty change events)."""

    integration: Integration
    actor: str
    body: Mapping[str, Any]
    raw: str


Command = Ingest | ServiceNote


@dataclass(slots=True)
class _Pending:
    new_incidents: dict[str, Incident] = field(default_factory=dict)
    changed_incidents: dict[str, Incident] = field(default_factory=dict)
    new_alerts: dict[str, Alert] = field(default_factory=dict)
    changed_alerts: dict[str, Alert] = field(default_factory=dict)
    timeline: list[TimelineEntry] = field(default_factory=list)
    events: list[Row] = field(default_factory=list)


# Alerts are read with their columns in this order, as the driver gives them (see `bulk.raw`).
_ALERT_COLUMNS = (
    "id",
    "incident_id",
    "service_id",
    "integration_id",
    "dedup_key",
    "group_key",
    "status",
    "summary",
    "source",
    "severity",
    "priority",
    "component",
    "group_name",
    "class_name",
    "labels",
    "details",
    "links",
    "repeat_count",
    "first_seen",
    "last_seen",
    "acknowledged_at",
    "resolved_at",
)
_ALERT_INSERT = (*_ALERT_COLUMNS, "runbook_url", "seq")
_INCIDENT_COLUMNS = (
    "id",
    "number",
    "service_id",
    "integration_id",
    "group_key",
    "title",
    "priority",
    "category",
    "status",
    "epoch",
    "alert_count",
    "open_alerts",
    "created_at",
    "updated_at",
    "acknowledged_at",
    "resolved_at",
    "assignee",
    "description",
    "snoozed_until",
    "clocks",
    "seq",
)
_RAW_INCIDENTS = [raw(incidents.c[name]) for name in _INCIDENT_COLUMNS[:-1]]  # all but seq
# Stored alerts are read without their labels, details and links: intake never reads them (see
# `_ALERT_UPDATE`), and a re-sent Alertmanager group loads a hundred alerts a body.
_UNLOADED = ("labels", "details", "links")
_LOADED_COLUMNS = tuple(name for name in _ALERT_COLUMNS if name not in _UNLOADED)
_RAW_ALERTS = [raw(alerts.c[name]) for name in _LOADED_COLUMNS]
_OPEN_ALERTS_BY_KEYS = select(*_RAW_ALERTS).where(  # ungrouped ones: uq_alerts_open_key's order
    alerts.c.integration_id == bindparam("i"),
    alerts.c.group_key == "",
    alerts.c.dedup_key.in_(bindparam("keys", expanding=True)),
    alerts.c.resolved_at.is_(None),
)
_OPEN_ALERTS_OF_GROUPS = select(*_RAW_ALERTS).where(
    alerts.c.integration_id == bindparam("i"),
    alerts.c.group_key.in_(bindparam("groups", expanding=True)),
    alerts.c.resolved_at.is_(None),
)
_ALERT_BY_KEY = select(*_RAW_ALERTS).where(
    alerts.c.integration_id == bindparam("i"),
    alerts.c.group_key == bindparam("g"),
    alerts.c.dedup_key == bindparam("d"),
    alerts.c.resolved_at.is_(None),
)
_INCIDENTS_BY_IDS = select(*_RAW_INCIDENTS).where(incidents.c.id.in_(bindparam("ids", expanding=True)))
_INCIDENT_BY_ID = select(*_RAW_INCIDENTS).where(incidents.c.id == bindparam("id"))
_OPEN_INCIDENTS_OF_GROUPS = (
    select(*_RAW_INCIDENTS)
    .where(
        incidents.c.integration_id == bindparam("i"),
        incidents.c.group_key.in_(bindparam("groups", expanding=True)),
        incidents.c.status.in_(OPEN_STATUSES),
    )
    .order_by(incidents.c.created_at)  # the newest last: it wins, as with one group's query below
)
_OPEN_INCIDENT_OF_GROUP = (
    select(*_RAW_INCIDENTS)
    .where(
        incidents.c.integration_id == bindparam("i"),
        incidents.c.group_key == bindparam("g"),
        incidents.c.status.in_(OPEN_STATUSES),
    )
    .order_by(incidents.c.created_at.desc())
    .limit(1)
)
_OPEN_INCIDENT_OF_SERVICE = (
    select(*_RAW_INCIDENTS)
    .where(incidents.c.service_id == bindparam("s"), incidents.c.status.in_(OPEN_STATUSES))
    .order_by(incidents.c.created_at.desc())
    .limit(1)
)


@dataclass(slots=True)
class IntakeView:
    """What intake has read or written of the stored alerts and incidents, by the keys it looks
    them up by. A transaction starts from the view the last one left when nothing else has written
    since (see `GroupCommitWriter`): an Alertmanager group re-sent every minute, or a PagerDuty key
    repeated, is then found without a query."""

    # ungrouped: the open alert of a key, or None; grouped: a group's open alerts, by key
    alerts: dict[tuple[int, str], Alert | None] = field(default_factory=dict)
    groups: dict[tuple[int, str], dict[str, Alert]] = field(default_factory=dict)
    stored_alerts: dict[str, AlertStatus] = field(default_factory=dict)  # alerts with a row: stored status
    incidents: dict[str, Incident] = field(default_factory=dict)
    stored_incidents: dict[str, Incident] = field(default_factory=dict)  # as their rows hold them
    group_incident: dict[tuple[int, str], str | None] = field(default_factory=dict)
    service_incident: dict[int, str | None] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Entries held, to bound the memory a view may keep."""
        return len(self.alerts) + len(self.stored_alerts) + len(self.incidents) + len(self.group_incident)

    def forget_incidents(self, written: Iterable[Row]) -> None:
        """After other work wrote these incidents (rows of `incidents_written_at`: an engine pass):
        they, and which incident is open for their group and service, are read again when needed.
        The rest of the view stands: nothing else wrote it."""
        for incident_id, integration_id, group_key, service_id in written:
            self.incidents.pop(incident_id, None)
            self.stored_incidents.pop(incident_id, None)
            self.group_incident.pop((integration_id, group_key), None)
            self.service_incident.pop(service_id, None)

    def drain(self, per_slice: int = 1000) -> Iterator[None]:
        """Empty the view, pausing (yielding) after about `per_slice` entries, a group's alerts
        counted one by one: freeing a full view at once (200,000 entries) held the server's event
        loop for 122 ms, so its caller frees it between other work."""
        budget = per_slice
        for held in (self.groups, self.alerts, self.stored_alerts, self.incidents, self.stored_incidents):
            while held:
                _, value = held.popitem()
                budget -= len(value) + 1 if isinstance(value, dict) else 1
                del value  # freed here, inside the slice
                if budget <= 0:
                    yield
                    budget = per_slice
        self.group_incident.clear()  # ids and None: cheap to free
        self.service_incident.clear()


_WRITTEN_AT = select(
    *(raw(incidents.c[name]) for name in ("id", "integration_id", "group_key", "service_id"))
).where(incidents.c.seq == bindparam("seq"))


def incidents_written_at(conn: Connection, seq: int) -> list[Row]:
    """(id, integration_id, group_key, service_id) of the incidents the transaction of `seq` wrote:
    every write of an incident stamps its row with the writer's seq."""
    return fetch(conn, _WRITTEN_AT, {"seq": seq})


class IngestTransaction:
    """One batch of commands inside one database transaction."""

    def __init__(
        self,
        conn: Connection,
        *,
        at: datetime,
        new_id: Callable[[], str],
        numbers: Callable[[], int],
        seq: int,
        view: IntakeView | None = None,
    ):
        self._conn = conn
        self._seq = seq  # the change-log seq this transaction stamps on every row it writes
        self._at = at
        self._new_id = new_id
        self._numbers = numbers
        self._codec = Codec(conn.dialect)
        self.view = view = view if view is not None else IntakeView()
        self._alerts = view.alerts
        self._groups = view.groups
        self._stored_alerts = view.stored_alerts
        self._incidents = view.incidents
        self._stored_incidents = view.stored_incidents
        self._group_incident = view.group_incident
        self._service_incident = view.service_incident
        self._pending = _Pending()

    # -- lookups, served from this transaction's view once loaded --

    def prefetch(self, commands: Sequence[Command]) -> None:
        """Load what a batch will look up in a few queries instead of one or two per event."""
        wanted: set[tuple[int, str]] = set()
        groups: dict[int, set[str]] = {}
        for command in commands:
            if not isinstance(command, Ingest):
                continue
            integration_id = command.integration.id
            for event in command.events:
                if event.group_key:
                    groups.setdefault(integration_id, set()).add(event.group_key)
                else:
                    wanted.add((integration_id, event.dedup_key))
        for integration_id, group_keys in groups.items():
            self._load_groups(integration_id, group_keys)
        unknown = {key for key in wanted if key not in self._alerts}  # not `-`: that walks the view
        by_integration: dict[int, list[str]] = {}
        for integration_id, dedup_key in sorted(unknown):
            by_integration.setdefault(integration_id, []).append(dedup_key)
        for integration_id, dedup_keys in by_integration.items():
            for chunk in chunks(dedup_keys):
                for row in fetch(self._conn, _OPEN_ALERTS_BY_KEYS, {"i": integration_id, "keys": chunk}):
                    alert = self._alert(row)
                    self._alerts[(alert.integration_id, alert.dedup_key)] = alert
        for key in unknown:
            self._alerts.setdefault(key, None)
        self._load_incidents_of_alerts(wanted, groups)

    def _load_incidents_of_alerts(self, keys: set[tuple[int, str]], groups: dict[int, set[str]]) -> None:
        """The incidents of the batch's open alerts, those the view does not hold, in a query."""
        wanted = {alert.incident_id for key in keys if (alert := self._alerts[key])}
        for integration_id, group_keys in groups.items():
            for group_key in group_keys:
                wanted.update(a.incident_id for a in self._groups[(integration_id, group_key)].values())
        missing = sorted(incident_id for incident_id in wanted if incident_id not in self._incidents)
        for chunk in chunks(missing):
            for row in fetch(self._conn, _INCIDENTS_BY_IDS, {"ids": chunk}):
                self._remember(row)

    def _load_groups(self, integration_id: int, group_keys: Iterable[str]) -> None:
        """Alertmanager posts whole groups: a query or two load every open alert and the open
        incident of each group of a batch."""
        keys = sorted(g for g in group_keys if (integration_id, g) not in self._groups)
        for chunk in chunks(keys):
            params = {"i": integration_id, "groups": chunk}
            for g in chunk:
                self._groups[(integration_id, g)] = {}
            for row in fetch(self._conn, _OPEN_ALERTS_OF_GROUPS, params):
                alert = self._alert(row)
                self._groups[(integration_id, alert.group_key)].setdefault(alert.dedup_key, alert)
            found: dict[str, str] = {}
            for incident_row in fetch(self._conn, _OPEN_INCIDENTS_OF_GROUPS, params):
                found[incident_row[4]] = self._remember(incident_row)
            for g in chunk:  # what this batch did to a group's incident already stands
                self._group_incident.setdefault((integration_id, g), found.get(g))

    def _group(self, integration_id: int, group_key: str) -> dict[str, Alert]:
        if (integration_id, group_key) not in self._groups:
            self._load_groups(integration_id, [group_key])
        return self._groups[(integration_id, group_key)]

    def _open_alert(self, integration_id: int, group_key: str, dedup_key: str) -> Alert | None:
        if group_key:
            return self._group(integration_id, group_key).get(dedup_key)
        key = (integration_id, dedup_key)
        if key not in self._alerts:
            rows = fetch(self._conn, _ALERT_BY_KEY, {"i": integration_id, "g": group_key, "d": dedup_key})
            self._alerts[key] = self._alert(rows[0]) if rows else None
        return self._alerts[key]

    def _incident(self, incident_id: str) -> Incident | None:
        if incident_id not in self._incidents:
            incident = read_incident(self._conn, incident_id, self._codec)
            if incident is None:
                return None
            self._incidents[incident_id] = self._stored_incidents[incident_id] = incident
        return self._incidents[incident_id]

    def _cached_open(self, incident_id: str | None) -> Incident | None:
        incident = self._incident(incident_id) if incident_id else None
        return incident if incident is not None and incident.status.is_open else None

    def _open_incident_of_group(self, integration_id: int, group_key: str) -> Incident | None:
        key = (integration_id, group_key)
        if key not in self._group_incident:
            rows = fetch(self._conn, _OPEN_INCIDENT_OF_GROUP, {"i": integration_id, "g": group_key})
            self._group_incident[key] = self._remember(rows[0]) if rows else None
        return self._cached_open(self._group_incident[key])

    def _open_incidents_of_services(self, service_ids: Iterable[int]) -> Iterator[Incident]:
        """The open incident of each service, in order, as far as the caller reads."""
        for service_id in service_ids:
            if service_id not in self._service_incident:
                rows = fetch(self._conn, _OPEN_INCIDENT_OF_SERVICE, {"s": service_id})
                self._service_incident[service_id] = self._remember(rows[0]) if rows else None
            incident = self._cached_open(self._service_incident[service_id])
            if incident is not None:
                yield incident

    def _remember(self, row: Row) -> str:
        """An incident from a row of `_RAW_INCIDENTS`, kept unless this transaction has it already."""
        incident = _raw_incident(row, self._codec)
        self._incidents.setdefault(incident.id, incident)
        self._stored_incidents.setdefault(incident.id, incident)
        return incident.id

    def _alert(self, row: Sequence[Any]) -> Alert:
        """An alert from a row of `_LOADED_COLUMNS`, remembered as stored."""
        alert = _alert(row, self._codec)
        self._stored_alerts[alert.id] = alert.status
        return alert

    # -- commands --

    def apply(self, command: Command) -> list[Outcome]:
        if isinstance(command, ServiceNote):
            service_id = command.integration.service_id
            self._pending.timeline.append(
                TimelineEntry(
                    self._new_id(), None, service_id, self._at, EntryKind.CHANGE, command.actor, command.body
                )
            )
            self._record_event(command.integration, "pagerduty-change", "change", None, "stored", command.raw)
            return []
        integration = command.integration
        ctx = Context(
            service_id=integration.service_id,
            integration_id=integration.id,
            actor=command.actor,
            at=self._at,
            new_id=self._new_id,
            next_number=self._numbers,
        )
        group_key = command.events[0].group_key if command.events else ""
        if group_key and all(event.group_key == group_key for event in command.events):
            outcomes = self._apply_group(command.events, integration, group_key, ctx)
        else:
            outcomes = [self._apply_one(event, integration, ctx) for event in command.events]
        dedup = command.events[0].dedup_key if len(command.events) == 1 else None
        self._record_event(
            integration, command.format, command.action, dedup, _summary(outcomes), command.raw
        )
        return outcomes

    def _apply_group(
        self, events: Sequence[AlertEvent], integration: Integration, group_key: str, ctx: Context
    ) -> list[Outcome]:
        folded = fold_group(
            events,
            alerts=self._group(integration.id, group_key),
            incident=self._open_incident_of_group(integration.id, group_key),
            incident_of=self._incident,
            parent_incidents=lambda: self._open_incidents_of_services(integration.ancestors),
            ctx=ctx,
        )
        for incident in folded.incidents:
            self._keep_incident(incident)
        for alert in folded.alerts:
            self._keep_alert(alert)
        self._pending.timeline.extend(folded.timeline)
        return list(folded.outcomes)

    def _apply_one(self, event: AlertEvent, integration: Integration, ctx: Context) -> Outcome:
        alert = self._open_alert(integration.id, event.group_key, event.dedup_key)
        if alert is not None:
            incident = self._incident(alert.incident_id)
        elif event.group_key:
            incident = self._open_incident_of_group(integration.id, event.group_key)
        else:
            incident = None
        folded = fold(
            event,
            alert=alert,
            incident=incident,
            parent_incident=lambda: next(self._open_incidents_of_services(integration.ancestors), None),
            ctx=ctx,
        )
        if folded.incident is not None:
            self._keep_incident(folded.incident)
        if folded.alert is not None:
            self._keep_alert(folded.alert)
        self._pending.timeline.extend(folded.timeline)
        return folded.outcome

    def _keep_incident(self, incident: Incident) -> None:
        pending = self._pending
        known = incident.id in self._incidents and incident.id not in pending.new_incidents
        self._incidents[incident.id] = incident
        (pending.changed_incidents if known else pending.new_incidents)[incident.id] = incident
        if incident.group_key and incident.integration_id is not None:
            self._group_incident[(incident.integration_id, incident.group_key)] = incident.id
        if incident.status.is_open:
            self._service_incident[incident.service_id] = incident.id
        else:  # another incident of the service may still be open: ask again next time
            self._service_incident.pop(incident.service_id, None)

    def _keep_alert(self, alert: Alert) -> None:
        pending = self._pending
        if alert.id in self._stored_alerts:
            pending.changed_alerts[alert.id] = alert
        else:
            pending.new_alerts[alert.id] = alert
        if alert.group_key:
            group = self._group(alert.integration_id, alert.group_key)
            if alert.is_open:
                group[alert.dedup_key] = alert
            elif (known := group.get(alert.dedup_key)) is not None and known.id == alert.id:
                del group[alert.dedup_key]
        else:
            key = (alert.integration_id, alert.dedup_key)
            if alert.is_open:
                self._alerts[key] = alert
            elif (known := self._alerts.get(key)) is not None and known.id == alert.id:
                self._alerts[key] = None

    def _keep_light(self, alert: Alert) -> None:
        """Once written, an alert stays in the view without its labels, details and links, as stored
        alerts are read (`_LOADED_COLUMNS`): labels and details were most of the memory a view of a
        storm kept, and links two more objects an alert for the collector to scan."""
        if alert.group_key:
            held = self._groups.get((alert.integration_id, alert.group_key))
            if held is not None and held.get(alert.dedup_key) is alert:
                _lighten(alert)
        elif self._alerts.get((alert.integration_id, alert.dedup_key)) is alert:
            _lighten(alert)

    def _record_event(
        self, integration: Integration, fmt: str, action: str, dedup_key: str | None, outcome: str, raw: str
    ) -> None:
        self._pending.events.append(
            (self._codec.time(self._at), integration.id, fmt, action, dedup_key, outcome, raw)
        )

    def flush(self) -> None:
        """Write what the batch changed; updates first, so a resolved key can be opened again."""
        pending, conn, codec, seq = self._pending, self._conn, self._codec, self._seq
        write_incidents(
            conn,
            codec,
            seq,
            new=pending.new_incidents.values(),
            changed=pending.changed_incidents.values(),
            stored=self._stored_incidents,
        )
        self._stored_incidents.update(pending.new_incidents)
        self._stored_incidents.update(pending.changed_incidents)
        refreshed: list[Row] = []
        moved: list[Row] = []
        stored = self._stored_alerts
        for alert in pending.changed_alerts.values():
            if alert.status is stored[alert.id]:
                refreshed.append(_alert_refresh_row(alert, codec, seq))
            else:
                moved.append(_alert_update_row(alert, codec, seq))
                stored[alert.id] = alert.status
        update_rows(conn, alerts, _ALERT_REFRESH, refreshed)
        update_rows(conn, alerts, _ALERT_UPDATE, moved)
        json_of_links: dict[int, tuple[tuple[Link, ...], str]] = {}  # a body's alerts share theirs
        new_alerts = [_alert_row(a, codec, json_of_links, seq) for a in pending.new_alerts.values()]
        insert_rows(conn, alerts, _ALERT_INSERT, new_alerts)
        write_timeline(conn, codec, seq, pending.timeline)
        insert_rows(conn, events, _EVENT_COLUMNS, pending.events)
        for alert in pending.new_alerts.values():
            stored[alert.id] = alert.status
            self._keep_light(alert)
        self._pending = _Pending()


_MAX_NUMBER = select(func.coalesce(func.max(incidents.c.number), 0))


def incident_numbers(conn: Connection) -> Callable[[], int]:
    """Hands out incident numbers, reading the highest one on first use: call it inside the locked
    write transaction, so other writers of the database never hand out the same number."""
    counter: Iterator[int] | None = None

    def next_number() -> int:
        nonlocal counter
        if counter is None:
            counter = itertools.count(int(fetch(conn, _MAX_NUMBER, {})[0][0]) + 1)
        return next(counter)

    return next_number


def _summary(outcomes: Sequence[Outcome]) -> str:
    if len(outcomes) == 1:
        return outcomes[0]._value_
    counts: dict[str, int] = {}
    for outcome in outcomes:
        name = outcome._value_  # not .value: this runs for each alert of a body
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{n} {name}" for name, n in counts.items()) or "empty"


# -- rows ↔ domain values --

_STATUS = {status.value: status for status in AlertStatus}
_SEVERITY = {severity.value: severity for severity in Severity}
_PRIORITY = {priority.value: priority for priority in Priority}


class _Unread(Mapping[str, Any]):
    """Labels, details or links that were not read from the database: any use is a bug, and says so."""

    def _refuse(self) -> NoReturn:
        raise LookupError("intake loads stored alerts without labels, details and links (ingest._UNLOADED)")

    def __getitem__(self, key: str) -> Any:
        self._refuse()

    def __iter__(self) -> Iterator[str]:
        self._refuse()

    def __len__(self) -> int:
        self._refuse()


_UNREAD = _Unread()
# The slots' own setters: they write past the frozen dataclass's __setattr__ (see _lighten)
_SET_LABELS, _SET_DETAILS, _SET_LINKS = (getattr(Alert, name).__set__ for name in _UNLOADED)


def _lighten(alert: Alert) -> None:
    """Drop a written alert's labels, details and links in place.

    Alert is frozen, and this is the one place that changes one: a new alert the transaction made,
    whose row is written, and that only the view holds from now on (the fold's results and the
    pending writes are let go with the batch). Rebuilding it without those three fields (as stored
    alerts are read) cost 1.7 µs an alert, 9 % of the server's main thread while new Alertmanager
    groups came in; this costs 0.2."""
    _SET_LABELS(alert, _UNREAD)
    _SET_DETAILS(alert, _UNREAD)
    _SET_LINKS(alert, _UNREAD)


def _alert(row: Sequence[Any], codec: Codec) -> Alert:
    """An alert from a row of `_LOADED_COLUMNS` as the driver returns it."""
    time = codec.load_time
    return Alert(
        id=row[0],
        incident_id=row[1],
        service_id=row[2],
        integration_id=row[3],
        dedup_key=row[4],
        group_key=row[5],
        status=_STATUS[row[6]],
        summary=row[7],
        source=row[8],
        severity=_SEVERITY[row[9]] if row[9] else None,
        priority=_PRIORITY[row[10]],
        component=row[11],
        group=row[12],
        klass=row[13],
        labels=_UNREAD,
        details=_UNREAD,
        links=_UNREAD,  # type: ignore[arg-type]  # refuses any use, as labels and details do
        repeat_count=row[14],
        first_seen=time(row[15]),  # type: ignore[arg-type]
        last_seen=time(row[16]),  # type: ignore[arg-type]
        acknowledged_at=time(row[17]),
        resolved_at=time(row[18]),
    )


def _alert_row(
    alert: Alert, codec: Codec, json_of_links: dict[int, tuple[tuple[Link, ...], str]], seq: int
) -> Row:
    """A new alert as a row of `_ALERT_INSERT`; `json_of_links` remembers links already encoded."""
    time, json = codec.time, codec.json
    severity, links = alert.severity, alert.links
    known = json_of_links.get(id(links))
    if known is not None and known[0] is links:
        links_json = known[1]
    else:
        links_json = json(links)  # Link is a dataclass: {"href", "text"}
        json_of_links[id(links)] = (links, links_json)
    return (
        alert.id,
        alert.incident_id,
        alert.service_id,
        alert.integration_id,
        alert.dedup_key,
        alert.group_key,
        alert.status._value_,
        alert.summary,
        alert.source,
        severity._value_ if severity is not None else None,
        alert.priority._value_,
        alert.component,
        alert.group,
        alert.klass,
        json(alert.labels),
        json(alert.details),
        links_json,
        alert.repeat_count,
        time(alert.first_seen),
        time(alert.last_seen),
        time(alert.acknowledged_at),
        time(alert.resolved_at),
        runbook_url_of(alert),
        seq,
    )


# An alert row is updated in the columns `fold` can change (repeat, acknowledge, resolve); the rest
# (keys, labels, details, links, first_seen) is written once, when the alert is made. An alert whose
# status did not change (a repeat, a re-send) is refreshed without the status columns: setting those
# makes SQLite rework both partial indexes of open alerts, which doubles the cost of the update.
_ALERT_REFRESH = ("summary", "severity", "priority", "repeat_count", "last_seen", "seq", "_id")
_ALERT_UPDATE = (
    "status",
    "summary",
    "severity",
    "priority",
    "repeat_count",
    "last_seen",
    "acknowledged_at",
    "resolved_at",
    "seq",
    "_id",
)


def _alert_refresh_row(alert: Alert, codec: Codec, seq: int) -> Row:
    severity = alert.severity
    return (
        alert.summary,
        severity._value_ if severity is not None else None,
        alert.priority._value_,
        alert.repeat_count,
        codec.time(alert.last_seen),
        seq,
        alert.id,
    )


def _alert_update_row(alert: Alert, codec: Codec, seq: int) -> Row:
    time, severity = codec.time, alert.severity
    return (
        alert.status._value_,
        alert.summary,
        severity._value_ if severity is not None else None,
        alert.priority._value_,
        alert.repeat_count,
        time(alert.last_seen),
        time(alert.acknowledged_at),
        time(alert.resolved_at),
        seq,
        alert.id,
    )


def read_incident(conn: Connection, incident_id: str, codec: Codec) -> Incident | None:
    """The stored incident, or None."""
    rows = fetch(conn, _INCIDENT_BY_ID, {"id": incident_id})
    return _raw_incident(rows[0], codec) if rows else None


_INCIDENT_UPDATE = (*_INCIDENT_COLUMNS[1:], "_id")
_INCIDENT_DIFFERING = range(1, len(_INCIDENT_COLUMNS) - 1)  # positions compared: not id, not seq


def write_incidents(
    conn: Connection,
    codec: Codec,
    seq: int,
    *,
    new: Iterable[Incident],
    changed: Iterable[Incident],
    stored: Mapping[str, Incident] | None = None,
) -> None:
    """Insert `new` and update `changed` incidents. Given the `stored` versions, an update sets only
    the columns that differ: SQLite reworks the index of every column an UPDATE sets, changed or
    not, and incidents have seven (a repeat's update cost 86 µs a row setting them all)."""
    insert_rows(conn, incidents, _INCIDENT_COLUMNS, [_incident_row(i, codec, seq) for i in new])
    shapes: dict[tuple[str, ...], list[Row]] = {}
    for incident in changed:
        row = _incident_row(incident, codec, seq)
        before = stored.get(incident.id) if stored is not None else None
        if before is None:
            shapes.setdefault(_INCIDENT_UPDATE, []).append((*row[1:], incident.id))
            continue
        old = _incident_row(before, codec, seq)
        differ = [n for n in _INCIDENT_DIFFERING if row[n] != old[n]]
        columns = (*(_INCIDENT_COLUMNS[n] for n in differ), "seq", "_id")
        shapes.setdefault(columns, []).append((*(row[n] for n in differ), seq, incident.id))
    for columns, rows in shapes.items():
        update_rows(conn, incidents, columns, rows)


def write_timeline(conn: Connection, codec: Codec, seq: int, entries: Iterable[TimelineEntry]) -> None:
    insert_rows(conn, timeline, _TIMELINE_COLUMNS, [_timeline_row(e, codec, seq) for e in entries])


def _raw_incident(row: Row, codec: Codec) -> Incident:
    """An incident from a row of `_RAW_INCIDENTS` as the driver returns it."""
    time = codec.load_time
    return Incident(
        id=row[0],
        number=row[1],
        service_id=row[2],
        integration_id=row[3],
        group_key=row[4],
        title=row[5],
        priority=_PRIORITY[row[6]],
        category=row[7],
        status=Status(row[9], Rank.from_label(row[8])),
        alert_count=row[10],
        open_alerts=row[11],
        created_at=time(row[12]),  # type: ignore[arg-type]
        updated_at=time(row[13]),  # type: ignore[arg-type]
        acknowledged_at=time(row[14]),
        resolved_at=time(row[15]),
        assignee=row[16],
        description=row[17],
        snoozed_until=time(row[18]),
        clocks=codec.load_json(row[19]) or {},
    )


def _incident_row(incident: Incident, codec: Codec, seq: int) -> Row:
    """An incident as a row of `_INCIDENT_COLUMNS`."""
    time = codec.time
    return (
        incident.id,
        incident.number,
        incident.service_id,
        incident.integration_id,
        incident.group_key,
        incident.title,
        incident.priority._value_,
        incident.category,
        incident.status.rank.label,
        incident.status.epoch,
        incident.alert_count,
        incident.open_alerts,
        time(incident.created_at),
        time(incident.updated_at),
        time(incident.acknowledged_at),
        time(incident.resolved_at),
        incident.assignee,
        incident.description,
        time(incident.snoozed_until),
        codec.json(incident.clocks),
        seq,
    )


_TIMELINE_COLUMNS = ("id", "incident_id", "service_id", "at", "kind", "actor", "body", "seq")


def _timeline_row(entry: TimelineEntry, codec: Codec, seq: int) -> Row:
    return (
        entry.id,
        entry.incident_id,
        entry.service_id,
        codec.time(entry.at),
        entry.kind._value_,
        entry.actor,
        codec.json(entry.body),
        seq,
    )


_EVENT_COLUMNS = ("received_at", "integration_id", "format", "action", "dedup_key", "outcome", "raw")
