from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from console.domain.incident import Alert, EntryKind, Incident, TimelineEntry
from console.domain.intake import AlertEvent, Context, EventAction, Outcome, fold
from console.domain.priority import Priority, Severity
from console.domain.status import Rank

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
DB, CHECKOUT = 1, 2  # service ids; checkout depends on db


@dataclass
class FakeIntake:
    """The lookups the server's storage does, over dicts: enough to drive `fold` through sequences."""

    parents: dict[int, tuple[int, ...]] = field(default_factory=lambda: {DB: (), CHECKOUT: (DB,)})
    alerts: dict[str, Alert] = field(default_factory=dict)
    incidents: dict[str, Incident] = field(default_factory=dict)
    timeline: list[TimelineEntry] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    clock: datetime = T0

    def send(self, event: AlertEvent, *, service: int = DB) -> Outcome:
        self.clock += timedelta(seconds=1)
        integration = service  # one integration per service here
        alert = next(
            (
                a
                for a in self.alerts.values()
                if a.is_open
                and (a.integration_id, a.group_key, a.dedup_key)
                == (integration, event.group_key, event.dedup_key)
            ),
            None,
        )
        incident = self.incidents[alert.incident_id] if alert else None
        if alert is None and event.group_key:
            incident = next(
                (
                    i
                    for i in self.incidents.values()
                    if i.status.is_open and (i.integration_id, i.group_key) == (integration, event.group_key)
                ),
                None,
            )

        def parent() -> Incident | None:
            for service_id in self.parents[service]:
                for candidate in self.incidents.values():
                    if candidate.service_id == service_id and candidate.status.is_open:
                        return candidate
            return None

        ctx = Context(
            service,
            integration,
            "test",
            self.clock,
            lambda: f"id-{next(self._ids)}",
            lambda: next(self._numbers),
        )
        folded = fold(event, alert=alert, incident=incident, parent_incident=parent, ctx=ctx)
        if folded.alert:
            self.alerts[folded.alert.id] = folded.alert
        if folded.incident:
            self.incidents[folded.incident.id] = folded.incident
        self.timeline.extend(folded.timeline)
        return folded.outcome

    def only_incident(self) -> Incident:
        (incident,) = self.incidents.values()
        return incident


def trigger(key: str, severity: Severity | None = Severity.CRITICAL, **kw: object) -> AlertEvent:
    return AlertEvent(
        EventAction.TRIGGER, key, summary=f"{key} is down", source="host", severity=severity, **kw
    )  # type: ignore[arg-type]


def ack(key: str) -> AlertEvent:
    return AlertEvent(EventAction.ACKNOWLEDGE, key)


def resolve(key: str, **kw: object) -> AlertEvent:
    return AlertEvent(EventAction.RESOLVE, key, **kw)  # type: ignore[arg-type]


def test_a_trigger_opens_an_incident_with_priority_from_severity() -> None:
    intake = FakeIntake()
    assert intake.send(trigger("disk", Severity.WARNING, klass="disk usage")) is Outcome.CREATED
    incident = intake.only_incident()
    assert (incident.priority, incident.category, incident.status.rank) == (
        Priority.LOW,
        "disk usage",
        Rank.TRIGGERED,
    )
    assert [e.kind for e in intake.timeline] == [EntryKind.TRIGGERED]


def test_a_repeated_trigger_counts_on_the_same_alert() -> None:
    intake = FakeIntake()
    intake.send(trigger("disk"))
    assert intake.send(trigger("disk")) is Outcome.REPEATED
    (alert,) = intake.alerts.values()
    assert alert.repeat_count == 1
    assert len(intake.incidents) == 1
    assert intake.timeline[-1].kind is EntryKind.ALERT_REPEATED


def test_acknowledge_then_resolve_moves_the_incident_and_records_who_and_when() -> None:
    intake = FakeIntake()
    intake.send(trigger("disk"))
    assert intake.send(ack("disk")) is Outcome.ACKNOWLEDGED
    assert intake.send(ack("disk")) is Outcome.UNCHANGED
    assert intake.send(resolve("disk")) is Outcome.RESOLVED
    incident = intake.only_incident()
    assert incident.status.rank is Rank.RESOLVED
    assert incident.acknowledged_at is not None
    assert incident.resolved_at is not None
    assert incident.acknowledged_at < incident.resolved_at


def test_acknowledge_or_resolve_of_an_unknown_key_is_dropped() -> None:
    intake = FakeIntake()
    assert intake.send(ack("nothing")) is Outcome.DROPPED
    assert intake.send(resolve("nothing")) is Outcome.DROPPED
    assert intake.incidents == {}
    assert intake.timeline == []


def test_a_trigger_after_resolve_opens_a_new_incident() -> None:
    intake = FakeIntake()
    intake.send(trigger("disk"))
    intake.send(resolve("disk"))
    assert intake.send(resolve("disk")) is Outcome.DROPPED
    assert intake.send(trigger("disk")) is Outcome.CREATED
    first, second = sorted(intake.incidents.values(), key=lambda i: i.number)
    assert first.status.rank is Rank.RESOLVED
    assert second.status.rank is Rank.TRIGGERED


def test_a_resent_alert_is_not_a_repeat_and_writes_no_timeline() -> None:
    intake = FakeIntake()
    intake.send(trigger("fp1", group_key="g", counts_repeat=False))
    before = len(intake.timeline)
    assert intake.send(trigger("fp1", group_key="g", counts_repeat=False)) is Outcome.REFRESHED
    assert len(intake.timeline) == before
    (alert,) = intake.alerts.values()
    assert alert.repeat_count == 0


def test_a_group_resolves_only_when_all_its_alerts_have() -> None:
    intake = FakeIntake()
    intake.send(trigger("fp1", group_key="g"))
    assert intake.send(trigger("fp2", group_key="g")) is Outcome.ADDED
    intake.send(resolve("fp1", group_key="g"))
    assert intake.only_incident().status.is_open
    assert intake.only_incident().open_alerts == 1
    intake.send(resolve("fp2", group_key="g"))
    assert intake.only_incident().status.rank is Rank.RESOLVED


def test_an_alert_of_a_dependent_service_attaches_to_the_parent_incident() -> None:
    intake = FakeIntake()
    intake.send(trigger("db down"), service=DB)
    assert intake.send(trigger("checkout 500s"), service=CHECKOUT) is Outcome.ATTACHED
    incident = intake.only_incident()
    assert (incident.service_id, incident.alert_count) == (DB, 2)
    attached = intake.timeline[-1]
    assert attached.kind is EntryKind.ALERT_ATTACHED
    assert attached.body["service_id"] == CHECKOUT


def test_a_dependent_service_opens_its_own_incident_once_the_parent_is_resolved() -> None:
    intake = FakeIntake()
    intake.send(trigger("db down"), service=DB)
    intake.send(resolve("db down"), service=DB)
    assert intake.send(trigger("checkout 500s"), service=CHECKOUT) is Outcome.CREATED


def test_a_high_alert_raises_a_low_incident() -> None:
    intake = FakeIntake()
    intake.send(trigger("fp1", Severity.WARNING, group_key="g"))
    intake.send(trigger("fp2", Severity.CRITICAL, group_key="g"))
    assert intake.only_incident().priority is Priority.HIGH
    assert intake.timeline[-1].kind is EntryKind.PRIORITY_RAISED


keys = st.sampled_from(["a", "b", "c"])
events = st.one_of(
    st.builds(trigger, keys, st.sampled_from([*Severity, None])),
    st.builds(ack, keys),
    st.builds(resolve, keys),
)


@given(st.lists(st.tuples(events, st.sampled_from([DB, CHECKOUT])), max_size=40))
def test_any_event_sequence_keeps_alerts_and_incidents_consistent(
    sequence: list[tuple[AlertEvent, int]],
) -> None:
    intake = FakeIntake()
    for event, service in sequence:
        entries_before = len(intake.timeline)
        outcome = intake.send(event, service=service)
        if outcome in (
            Outcome.CREATED,
            Outcome.REPEATED,
            Outcome.ACKNOWLEDGED,
            Outcome.RESOLVED,
            Outcome.ATTACHED,
        ):
            assert (
                len(intake.timeline) > entries_before
            )  # every event that changed something is on a timeline
        if outcome is Outcome.DROPPED:
            assert len(intake.timeline) == entries_before
    open_keys = [(a.integration_id, a.dedup_key) for a in intake.alerts.values() if a.is_open]
    assert len(open_keys) == len(set(open_keys))  # at most one open alert per key
    for incident in intake.incidents.values():
        mine = [a for a in intake.alerts.values() if a.incident_id == incident.id]
        assert incident.alert_count == len(mine)
        assert incident.open_alerts == sum(a.is_open for a in mine)
        assert incident.status.is_open == (incident.open_alerts > 0)
