from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.domain.incident import Alert, AlertStatus, EntryKind, Incident, TimelineEntry
from console.domain.intake import (
    REFRESH_AFTER,
    AlertEvent,
    Context,
    EventAction,
    GroupFolded,
    Outcome,
    fold,
    fold_group,
)
from console.domain.priority import Priority, Severity
from console.domain.status import Rank

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
DB, CHECKOUT, CART = 1, 2, 3  # service ids; checkout depends on db, cart on checkout (then db)


@dataclass
class FakeIntake:
    """The lookups the server's storage does, over dicts: enough to drive `fold` through sequences."""

    parents: dict[int, tuple[int, ...]] = field(
        default_factory=lambda: {DB: (), CHECKOUT: (DB,), CART: (CHECKOUT, DB)}
    )
    alerts: dict[str, Alert] = field(default_factory=dict)
    incidents: dict[str, Incident] = field(default_factory=dict)
    timeline: list[TimelineEntry] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    clock: datetime = T0

    def open_alert(self, integration: int, group_key: str, dedup_key: str) -> Alert | None:
        return next(
            (
                a
                for a in self.alerts.values()
                if a.is_open
                and (a.integration_id, a.group_key, a.dedup_key) == (integration, group_key, dedup_key)
            ),
            None,
        )

    def group_incident(self, integration: int, group_key: str) -> Incident | None:
        return next(
            (
                i
                for i in self.incidents.values()
                if i.status.is_open and (i.integration_id, i.group_key) == (integration, group_key)
            ),
            None,
        )

    def parent_incidents(self, service: int) -> Iterator[Incident]:
        for service_id in self.parents[service]:
            for candidate in self.incidents.values():
                if candidate.service_id == service_id and candidate.status.is_open:
                    yield candidate
                    break

    def context(self, service: int) -> Context:
        return Context(
            service,
            service,  # one integration per service here
            "test",
            self.clock,
            lambda: f"id-{next(self._ids)}",
            lambda: next(self._numbers),
        )

    def send(
        self, event: AlertEvent, *, service: int = DB, tick: timedelta = timedelta(seconds=1)
    ) -> Outcome:
        self.clock += tick
        integration = service
        alert = self.open_alert(integration, event.group_key, event.dedup_key)
        incident = self.incidents[alert.incident_id] if alert else None
        if alert is None and event.group_key:
            incident = self.group_incident(integration, event.group_key)
        folded = fold(
            event,
            alert=alert,
            incident=incident,
            parent_incident=lambda: next(self.parent_incidents(service), None),
            ctx=self.context(service),
        )
        if folded.alert:
            self.alerts[folded.alert.id] = folded.alert
        if folded.incident:
            self.incidents[folded.incident.id] = folded.incident
        self.timeline.extend(folded.timeline)
        return folded.outcome

    def send_body(
        self, events: Sequence[AlertEvent], *, service: int = DB, tick: timedelta = timedelta(seconds=1)
    ) -> GroupFolded:
        """A body of events of one group, folded as a unit."""
        self.clock += tick
        group_key = events[0].group_key
        folded = fold_group(
            events,
            alerts={
                a.dedup_key: a
                for a in self.alerts.values()
                if a.is_open and (a.integration_id, a.group_key) == (service, group_key)
            },
            incident=self.group_incident(service, group_key),
            incident_of=self.incidents.get,
            parent_incidents=lambda: self.parent_incidents(service),
            ctx=self.context(service),
        )
        for alert in folded.alerts:
            self.alerts[alert.id] = alert
        for incident in folded.incidents:
            self.incidents[incident.id] = incident
        self.timeline.extend(folded.timeline)
        return folded

    def only_incident(self) -> Incident:
        (incident,) = self.incidents.values()
        return incident


def trigger(key: str, severity: Severity | None = Severity.CRITICAL, **kw: Any) -> AlertEvent:
    kw.setdefault("summary", f"{key} is down")
    return AlertEvent(EventAction.TRIGGER, key, source="host", severity=severity, **kw)


def ack(key: str) -> AlertEvent:
    return AlertEvent(EventAction.ACKNOWLEDGE, key)


def resolve(key: str, **kw: Any) -> AlertEvent:
    return AlertEvent(EventAction.RESOLVE, key, **kw)


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


# -- a body of one group (Alertmanager) folded as a unit --


def firing(key: str, severity: Severity | None = Severity.WARNING, **kw: Any) -> AlertEvent:
    """An Alertmanager alert: grouped, and a re-send is not a repeat."""
    kw.setdefault("group_key", "g")
    return trigger(key, severity, counts_repeat=False, **kw)


def gone(key: str, group_key: str = "g") -> AlertEvent:
    return resolve(key, group_key=group_key)


def entries(intake: FakeIntake, kind: EntryKind) -> list[TimelineEntry]:
    return [entry for entry in intake.timeline if entry.kind is kind]


def test_a_new_group_opens_one_incident_with_one_entry_for_all_the_alerts_it_adds() -> None:
    intake = FakeIntake()
    folded = intake.send_body([firing(f"fp{n}") for n in range(5)])

    assert folded.outcomes == (Outcome.CREATED, *[Outcome.ADDED] * 4)
    incident = intake.only_incident()
    assert (incident.alert_count, incident.open_alerts, incident.group_key) == (5, 5, "g")
    assert [e.kind for e in intake.timeline] == [EntryKind.TRIGGERED, EntryKind.ALERT_ADDED]
    added = intake.timeline[1].body
    assert added["count"] == 4
    assert added["service_id"] == DB
    by_id = {a.id: a for a in intake.alerts.values()}
    assert [(by_id[x["alert_id"]].dedup_key, x["summary"]) for x in added["alerts"]] == [
        (f"fp{n}", f"fp{n} is down") for n in range(1, 5)
    ]
    assert len(folded.incidents) == 1  # the incident is written once, in its final state


def test_the_alerts_a_body_adds_to_an_open_incident_make_one_entry() -> None:
    intake = FakeIntake()
    intake.send_body([firing("fp0")])
    folded = intake.send_body([firing(f"fp{n}") for n in range(4)])

    assert folded.outcomes == (Outcome.REFRESHED, *[Outcome.ADDED] * 3)
    assert [e.kind for e in intake.timeline] == [EntryKind.TRIGGERED, EntryKind.ALERT_ADDED]
    assert intake.timeline[-1].body["count"] == 3
    assert intake.only_incident().alert_count == 4


def test_a_group_reposted_within_a_minute_changes_nothing_at_all() -> None:
    intake = FakeIntake()
    body = [firing(f"fp{n}") for n in range(3)]
    intake.send_body(body)

    folded = intake.send_body(body, tick=REFRESH_AFTER - timedelta(seconds=1))

    assert folded == GroupFolded((Outcome.REFRESHED,) * 3)


def test_a_group_reposted_later_refreshes_last_seen_and_writes_no_timeline() -> None:
    intake = FakeIntake()
    body = [firing(f"fp{n}") for n in range(3)]
    intake.send_body(body)
    before = len(intake.timeline)

    folded = intake.send_body(body, tick=REFRESH_AFTER)

    assert folded.outcomes == (Outcome.REFRESHED,) * 3
    assert [a.last_seen for a in folded.alerts] == [intake.clock] * 3
    assert {a.repeat_count for a in folded.alerts} == {0}
    assert folded.incidents == ()
    assert len(intake.timeline) == before


def test_a_resent_alert_with_a_new_summary_is_rewritten_at_once() -> None:
    intake = FakeIntake()
    intake.send_body([firing("fp0"), firing("fp1")])

    folded = intake.send_body([firing("fp0", summary="now 95% full"), firing("fp1")])

    assert [a.summary for a in folded.alerts] == ["now 95% full"]


def test_a_body_raises_the_priority_once() -> None:
    intake = FakeIntake()
    intake.send_body([firing("fp0", Severity.WARNING)])

    intake.send_body([firing("fp0"), *[firing(f"fp{n}", Severity.CRITICAL) for n in range(1, 4)]])

    assert intake.only_incident().priority is Priority.HIGH
    kinds = [e.kind for e in intake.timeline]
    assert kinds == [EntryKind.TRIGGERED, EntryKind.ALERT_ADDED, EntryKind.PRIORITY_RAISED]
    raised_by = intake.alerts[intake.timeline[-1].body["alert_id"]]
    assert raised_by.dedup_key == "fp1"


def test_a_resent_alert_whose_severity_rose_raises_the_priority() -> None:
    intake = FakeIntake()
    intake.send_body([firing("fp0", Severity.WARNING)])

    folded = intake.send_body([firing("fp0", Severity.CRITICAL)])

    assert [i.priority for i in folded.incidents] == [Priority.HIGH]
    assert [e.kind for e in folded.timeline] == [EntryKind.PRIORITY_RAISED]


def test_alerts_resolved_by_a_body_make_one_entry_and_the_last_resolves_the_incident() -> None:
    intake = FakeIntake()
    intake.send_body([firing(f"fp{n}") for n in range(4)])

    partly = intake.send_body([gone("fp0"), gone("fp1"), firing("fp2"), firing("fp3")])
    assert partly.outcomes == (Outcome.RESOLVED, Outcome.RESOLVED, Outcome.REFRESHED, Outcome.REFRESHED)
    assert [e.kind for e in partly.timeline] == [EntryKind.ALERT_RESOLVED]
    assert (partly.timeline[0].body["count"], partly.timeline[0].body["open_alerts"]) == (2, 2)
    assert intake.only_incident().open_alerts == 2

    rest = intake.send_body([gone(f"fp{n}") for n in range(4)])
    assert rest.outcomes == (Outcome.DROPPED, Outcome.DROPPED, Outcome.RESOLVED, Outcome.RESOLVED)
    assert [e.kind for e in rest.timeline] == [EntryKind.ALERT_RESOLVED, EntryKind.RESOLVED]
    incident = intake.only_incident()
    assert (incident.status.rank, incident.open_alerts, incident.resolved_at) == (
        Rank.RESOLVED,
        0,
        intake.clock,
    )
    assert {a.status for a in intake.alerts.values()} == {AlertStatus.RESOLVED}

    again = intake.send_body([gone(f"fp{n}") for n in range(4)])
    assert again == GroupFolded((Outcome.DROPPED,) * 4)


def test_a_group_that_resolves_and_fires_again_in_one_body_opens_a_new_incident() -> None:
    intake = FakeIntake()
    intake.send_body([firing("fp0")])

    folded = intake.send_body([gone("fp0"), firing("fp1"), firing("fp0")])

    assert folded.outcomes == (Outcome.RESOLVED, Outcome.CREATED, Outcome.ADDED)
    old, new = sorted(intake.incidents.values(), key=lambda i: i.number)
    assert (old.status.rank, new.status.rank, new.alert_count) == (Rank.RESOLVED, Rank.TRIGGERED, 2)
    by_incident = [(e.incident_id == new.id, e.kind) for e in folded.timeline]
    assert by_incident == [
        (False, EntryKind.RESOLVED),
        (True, EntryKind.TRIGGERED),
        (True, EntryKind.ALERT_ADDED),
    ]


def test_group_alerts_of_a_dependent_service_attach_to_the_parent_incident_one_by_one() -> None:
    intake = FakeIntake()
    intake.send(trigger("db down"), service=DB)

    folded = intake.send_body([firing("fp0"), firing("fp1")], service=CHECKOUT)

    assert folded.outcomes == (Outcome.ATTACHED, Outcome.ATTACHED)
    incident = intake.only_incident()
    assert (incident.service_id, incident.alert_count, incident.open_alerts) == (DB, 3, 3)
    assert [e.kind for e in folded.timeline] == [EntryKind.ALERT_ATTACHED] * 2
    assert len(folded.incidents) == 1

    resolved = intake.send_body([gone("fp0"), firing("fp1"), firing("fp2")], service=CHECKOUT)
    assert resolved.outcomes == (Outcome.RESOLVED, Outcome.REFRESHED, Outcome.ATTACHED)
    assert intake.only_incident().open_alerts == 3


def test_once_the_parent_incident_resolves_in_the_body_the_group_opens_its_own() -> None:
    intake = FakeIntake()
    intake.send_body([firing("fp0")], service=CHECKOUT)  # its own incident: db is fine
    intake.send(trigger("db down"), service=DB)
    intake.send_body([firing("fp1")], service=CHECKOUT)  # joins its group's incident, not db's
    assert len(intake.incidents) == 2


def test_a_parent_incident_the_body_resolves_is_passed_over_for_the_next_ancestor() -> None:
    intake = FakeIntake()
    intake.send(trigger("checkout down"), service=CHECKOUT)
    intake.send_body([firing("x")], service=CART)  # on checkout's incident, the nearest
    intake.send(trigger("db down"), service=DB)
    intake.send(resolve("checkout down"), service=CHECKOUT)

    folded = intake.send_body([gone("x"), firing("y")], service=CART)

    assert folded.outcomes == (Outcome.RESOLVED, Outcome.ATTACHED)
    checkout, db = (next(i for i in intake.incidents.values() if i.service_id == s) for s in (CHECKOUT, DB))
    assert checkout.status.rank is Rank.RESOLVED
    assert (db.alert_count, db.open_alerts) == (2, 2)


def test_acknowledge_and_counted_repeats_in_a_group_body_are_folded_one_by_one() -> None:
    intake = FakeIntake()
    intake.send_body([trigger("a", group_key="g"), trigger("b", group_key="g")])

    acknowledge_a = AlertEvent(EventAction.ACKNOWLEDGE, "a", group_key="g")

    folded = intake.send_body([trigger("c", group_key="g"), acknowledge_a, trigger("b", group_key="g")])

    assert folded.outcomes == (Outcome.ADDED, Outcome.ACKNOWLEDGED, Outcome.REPEATED)
    assert [e.kind for e in folded.timeline] == [
        EntryKind.ALERT_ADDED,
        EntryKind.ACKNOWLEDGED,
        EntryKind.ALERT_REPEATED,
    ]
    incident = intake.only_incident()
    assert (incident.status.rank, incident.alert_count) == (Rank.ACKNOWLEDGED, 3)


def test_a_body_must_be_of_one_group() -> None:
    with pytest.raises(ValueError, match="one group"):
        FakeIntake().send_body([firing("a", group_key="g"), firing("b", group_key="h")])


def _state(intake: FakeIntake) -> tuple[list[str], list[str]]:
    """Alerts and incidents without their ids (which depend on how many entries were made)."""
    number = {i.id: i.number for i in intake.incidents.values()}

    def values(item: Alert | Incident) -> dict[str, object]:
        out = {f.name: getattr(item, f.name) for f in fields(item) if f.name != "id"}
        if "incident_id" in out:
            out["incident_id"] = number[str(out["incident_id"])]
        return out

    return (
        sorted(repr(values(a)) for a in intake.alerts.values()),
        sorted(repr(values(i)) for i in intake.incidents.values()),
    )


def _touched(intake: FakeIntake, entries: Sequence[TimelineEntry], kind: EntryKind) -> set[tuple[int, str]]:
    """(incident number, dedup key) of the alerts that entries of a kind are about."""
    out = set()
    for entry in entries:
        if entry.kind is kind:
            assert entry.incident_id is not None
            ids = [x["alert_id"] for x in entry.body["alerts"]] if "alerts" in entry.body else []
            ids += [entry.body["alert_id"]] if "alert_id" in entry.body else []
            number = intake.incidents[entry.incident_id].number
            out |= {(number, intake.alerts[alert_id].dedup_key) for alert_id in ids}
    return out


group_events = st.builds(
    lambda action, key, severity, summary, counted: AlertEvent(
        action,
        key,
        summary=summary,
        severity=severity,
        group_key="g",
        counts_repeat=counted,
    ),
    st.sampled_from([EventAction.TRIGGER] * 4 + [EventAction.RESOLVE] * 2 + [EventAction.ACKNOWLEDGE]),
    st.sampled_from(["a", "b", "c", "d"]),
    st.sampled_from([*Severity, None]),
    st.sampled_from(["", "disk full", "disk very full"]),
    st.sampled_from([False, False, False, True]),
)
steps = st.one_of(
    st.tuples(
        st.just("body"), st.lists(group_events, min_size=1, max_size=8), st.sampled_from([DB, CHECKOUT])
    ),
    st.tuples(st.just("single"), st.lists(events, min_size=1, max_size=1), st.sampled_from([DB, CHECKOUT])),
)


@given(
    st.lists(
        st.tuples(steps, st.sampled_from([timedelta(0), timedelta(seconds=30), timedelta(minutes=5)])),
        max_size=25,
    )
)
def test_a_body_folded_as_a_unit_ends_as_if_its_events_were_folded_one_by_one(
    sequence: list[tuple[tuple[str, list[AlertEvent], int], timedelta]],
) -> None:
    grouped, single = FakeIntake(), FakeIntake()
    for (how, body, service), tick in sequence:
        if how == "single":
            grouped.send(body[0], service=service, tick=tick)
            single.send(body[0], service=service, tick=tick)
            continue
        before = len(single.timeline)
        folded = grouped.send_body(body, service=service, tick=tick)
        outcomes = [
            single.send(event, service=service, tick=tick if n == 0 else timedelta(0))
            for n, event in enumerate(body)
        ]
        one_by_one = single.timeline[before:]

        assert list(folded.outcomes) == outcomes
        assert _state(grouped) == _state(single)
        for kind in EntryKind:  # the same alerts are on the timelines, in fewer entries
            assert _touched(grouped, folded.timeline, kind) == _touched(single, one_by_one, kind)
        plain = all(e.action is not EventAction.ACKNOWLEDGE and not e.counts_repeat for e in body)
        if plain:  # an Alertmanager body: one entry per kind on the group's incidents
            own = {
                i.id for i in grouped.incidents.values() if (i.integration_id, i.group_key) == (service, "g")
            }
            made = [(e.incident_id, e.kind) for e in folded.timeline if e.incident_id in own]
            assert len(made) == len(set(made))
        assert len(folded.alerts) == len({a.id for a in folded.alerts})
        assert len(folded.incidents) == len({i.id for i in folded.incidents})
