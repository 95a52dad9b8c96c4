"""The alert policy: how loud, how often, and how few bubbles in a storm."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta, timezone

import pytest

from console.domain.priority import Priority
from console.domain.status import Rank
from console.notify.policy import (
    ACTIONS,
    OVERFLOW_KEY,
    AlertPolicy,
    AlertSettings,
    Close,
    Page,
    PlayLowSound,
    Show,
    StartHighSound,
    StopHighSound,
    Urgency,
)
from tests.notify.incidents import ME, T0, Desktop, acknowledged, closes, low, resolved, shows, view

MIN = timedelta(minutes=1)


def policy(**settings: object) -> AlertPolicy:
    return AlertPolicy(ME, AlertSettings(**settings), zone=UTC)  # type: ignore[arg-type]


def test_a_high_incident_is_persistent_and_loops_until_acknowledged() -> None:
    p = policy()
    incident = view(1, title="Checkout 500s")
    commands = p.update([incident], T0)
    assert commands == [
        Show(
            key="incident:inc-1",
            title="checkout-api: Checkout 500s",
            body="#1 · High priority",
            urgency=Urgency.HIGH,
            persistent=True,
            incident_ids=("inc-1",),
            actions=ACTIONS,
        ),
        StartHighSound(),
    ]
    assert (p.high_sound_on, p.open_keys) == (True, frozenset({"incident:inc-1"}))
    assert p.incidents_of("incident:inc-1") == ("inc-1",)
    assert p.update([acknowledged(incident)], T0 + MIN) == [Close("incident:inc-1"), StopHighSound()]
    assert (p.high_sound_on, p.open_keys) == (False, frozenset())


def test_the_loop_stops_only_when_no_high_incident_is_left_unacknowledged() -> None:
    p = policy()
    first, second = view(1), view(2, service="payments")
    assert StartHighSound() in p.update([first, second], T0)
    assert p.update([resolved(first)], T0 + MIN) == [Close("incident:inc-1")]
    assert p.update([acknowledged(second)], T0 + 2 * MIN) == [Close("incident:inc-2"), StopHighSound()]


def test_an_unacknowledged_high_incident_is_shown_again_every_interval() -> None:
    p = policy(renotify_minutes=5)
    p.update([view(1)], T0)
    assert p.tick(T0 + 4 * MIN) == []
    again = p.tick(T0 + 5 * MIN)
    assert [(s.key, s.persistent) for s in shows(again)] == [("incident:inc-1", True)]
    assert shows(again)[0].body.endswith("Not acknowledged for 5 min.")
    assert p.tick(T0 + 9 * MIN) == []
    assert len(shows(p.tick(T0 + 10 * MIN))) == 1
    assert StartHighSound() not in again  # the loop never stopped


def test_renotification_can_be_turned_off() -> None:
    p = policy(renotify_minutes=0)
    p.update([view(1)], T0)
    assert p.tick(T0 + 60 * MIN) == []


def test_a_low_incident_gets_one_quiet_notification_and_one_soft_sound() -> None:
    p = policy()
    incident = low(1)
    commands = p.update([incident], T0)
    assert [type(c) for c in commands] == [Show, PlayLowSound]
    show = shows(commands)[0]
    assert (show.urgency, show.persistent, show.body) == (Urgency.LOW, False, "#1 · Low priority")
    assert p.tick(T0 + 60 * MIN) == []  # never again
    assert p.update([incident], T0 + 61 * MIN) == []  # the same incident again: nothing new
    assert p.update([resolved(incident)], T0 + 62 * MIN) == [Close("incident:inc-1")]


@pytest.mark.parametrize(
    ("at", "silent"),
    [
        (time(21, 59), False),
        (time(22, 0), True),
        (time(23, 59), True),
        (time(0, 0), True),
        (time(6, 59), True),
        (time(7, 0), False),
        (time(12, 0), False),
    ],
)
def test_quiet_hours_across_midnight_silence_low_priority(at: time, silent: bool) -> None:
    p = policy(quiet_from=time(22, 0), quiet_until=time(7, 0))
    now = datetime.combine(T0.date(), at, tzinfo=UTC)
    commands = p.update([low(1)], now)
    assert commands == ([] if silent else [shows(commands)[0], PlayLowSound()])


def test_quiet_hours_are_local_time() -> None:
    zone = timezone(timedelta(hours=2))
    p = AlertPolicy(ME, AlertSettings(quiet_from=time(22, 0), quiet_until=time(7, 0)), zone=zone)
    assert p.update([low(1)], datetime(2026, 11, 27, 21, 0, tzinfo=UTC)) == []  # 23:00 there


def test_quiet_hours_never_silence_high_priority() -> None:
    p = policy(quiet_from=time(22, 0), quiet_until=time(7, 0))
    commands = p.update([view(1)], datetime(2026, 11, 27, 23, 0, tzinfo=UTC))
    assert [type(c) for c in commands] == [Show, StartHighSound]


def test_a_low_incident_silenced_at_night_is_not_announced_in_the_morning() -> None:
    p = policy(quiet_from=time(22, 0), quiet_until=time(7, 0))
    night = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)
    incident = low(1, created_at=night)
    assert p.update([incident], night) == []
    morning = datetime(2026, 11, 28, 7, 30, tzinfo=UTC)
    assert p.tick(morning) == []
    assert p.update([incident], morning) == []


def test_low_priority_can_be_muted_for_a_while() -> None:
    p = policy(low_muted_until=T0 + 30 * MIN)
    assert p.update([low(1)], T0) == []
    assert [type(c) for c in p.update([low(2)], T0 + 30 * MIN)] == [Show, PlayLowSound]


def test_a_muted_sound_still_shows_notifications_and_unmuting_starts_the_loop() -> None:
    p = policy(sound_muted=True)
    assert [type(c) for c in p.update([view(1), low(2, service="payments")], T0)] == [Show, Show]
    assert not p.high_sound_on
    assert p.configure(AlertSettings(), T0 + MIN) == [StartHighSound()]
    assert p.configure(AlertSettings(sound_muted=True), T0 + 2 * MIN) == [StopHighSound()]


def test_the_low_chime_does_not_play_over_the_high_loop() -> None:
    p = policy()
    commands = p.update([view(1), low(2, service="payments")], T0)
    assert PlayLowSound() not in commands
    assert StartHighSound() in commands


def test_a_storm_on_one_service_is_one_summary() -> None:
    p = policy()
    storm = [view(n, title=f"pod {n} down") for n in range(1, 13)]
    commands = p.update(storm, T0)
    assert commands == [
        Show(
            key="service:checkout-api",
            title="12 new incidents on checkout-api",
            body="pod 1 down\npod 2 down\npod 3 down\n…and 9 more",
            urgency=Urgency.HIGH,
            persistent=True,
            incident_ids=tuple(v.id for v in storm),
        ),
        StartHighSound(),
    ]
    assert p.update([acknowledged(v) for v in storm[:11]], T0 + MIN) == []  # one is still unacknowledged
    assert p.incidents_of("service:checkout-api") == ("inc-12",)
    assert p.update([acknowledged(storm[11])], T0 + 2 * MIN) == [
        Close("service:checkout-api"),
        StopHighSound(),
    ]


def test_three_new_incidents_on_a_service_are_still_shown_one_by_one() -> None:
    commands = policy().update([view(n) for n in (1, 2, 3)], T0)
    assert [s.key for s in shows(commands)] == ["incident:inc-1", "incident:inc-2", "incident:inc-3"]


def test_a_service_past_the_threshold_within_the_window_folds_its_bubbles_into_a_summary() -> None:
    p = policy()
    p.update([view(1), view(2)], T0)
    commands = p.update([view(3), view(4)], T0 + timedelta(seconds=30))
    assert closes(commands) == ["incident:inc-1", "incident:inc-2"]
    assert [(s.key, s.title, s.incident_ids) for s in shows(commands)] == [
        ("service:checkout-api", "4 new incidents on checkout-api", ("inc-1", "inc-2", "inc-3", "inc-4"))
    ]
    # later ones join the summary while it is open
    later = p.update([view(5)], T0 + 10 * MIN)
    assert [(s.key, len(s.incident_ids)) for s in shows(later)] == [("service:checkout-api", 5)]


def test_incidents_spread_apart_in_time_stay_separate() -> None:
    p = policy()
    p.update([low(1), low(2)], T0)
    commands = p.update([low(3), low(4)], T0 + 2 * MIN)
    assert [s.key for s in shows(commands)] == ["incident:inc-3", "incident:inc-4"]
    assert closes(commands) == []


def test_a_storm_across_many_services_never_shows_more_than_five_bubbles() -> None:
    p = policy()
    storm = [view(n, service=f"svc-{n:02}") for n in range(1, 21)]
    commands = p.update(storm, T0)
    shown = shows(commands)
    assert len(shown) == 5
    assert [s.key for s in shown[:4]] == [f"incident:inc-{n}" for n in (1, 2, 3, 4)]
    overflow = shown[4]
    assert (overflow.key, overflow.title, overflow.persistent) == (
        OVERFLOW_KEY,
        "16 new incidents on 16 services",
        True,
    )
    assert overflow.body == "svc-05 (1), svc-06 (1), svc-07 (1), …and 13 more"
    more = p.update([view(n, service=f"svc-{n}") for n in range(21, 40)], T0 + MIN)
    assert [s.key for s in shows(more)] == [OVERFLOW_KEY]


def test_high_incidents_get_the_free_bubbles_before_low_ones() -> None:
    p = policy()
    lows = [low(n, service=f"low-{n}") for n in range(1, 10)]
    highs = [view(n, service=f"high-{n}") for n in range(10, 13)]
    shown = shows(p.update(lows + highs, T0))
    assert [s.key for s in shown[:3]] == ["incident:inc-10", "incident:inc-11", "incident:inc-12"]
    assert shown[-1].key == OVERFLOW_KEY
    assert not shown[-1].persistent  # only low incidents in it


def test_a_page_to_me_makes_a_low_incident_loud() -> None:
    p = policy()
    incident = low(1)
    assert [type(c) for c in p.update([incident], T0)] == [Show, PlayLowSound]
    assert p.update([], T0 + MIN, pages=[Page("inc-1", "bob")]) == []
    commands = p.update([], T0 + 2 * MIN, pages=[Page("inc-1", ME)])
    assert [(type(c), getattr(c, "persistent", None)) for c in commands] == [
        (Show, True),
        (StartHighSound, None),
    ]
    assert "paged to you" in shows(commands)[0].body
    assert p.update([acknowledged(incident)], T0 + 3 * MIN) == [Close("incident:inc-1"), StopHighSound()]


def test_a_priority_raised_to_high_is_announced_again_loudly() -> None:
    p = policy()
    incident = low(1)
    p.update([incident], T0)
    commands = p.update(
        [replace(incident, incident=replace(incident.incident, priority=Priority.HIGH))], T0 + MIN
    )
    assert [(type(c), getattr(c, "urgency", None)) for c in commands] == [
        (Show, Urgency.HIGH),
        (StartHighSound, None),
    ]


def test_a_priority_lowered_closes_the_persistent_notification() -> None:
    p = policy()
    incident = view(1)
    p.update([incident], T0)
    lowered = replace(incident, incident=replace(incident.incident, priority=Priority.LOW))
    assert p.update([lowered], T0 + MIN) == [Close("incident:inc-1"), StopHighSound()]


def test_a_snoozed_incident_is_silent_until_the_snooze_ends() -> None:
    p = policy()
    incident = view(1)
    p.update([incident], T0)
    snoozed = replace(incident, incident=replace(incident.incident, snoozed_until=T0 + 30 * MIN))
    assert p.update([snoozed], T0 + MIN) == [Close("incident:inc-1"), StopHighSound()]
    assert p.tick(T0 + 29 * MIN) == []
    assert [type(c) for c in p.tick(T0 + 30 * MIN)] == [Show, StartHighSound]


def test_a_reopened_incident_is_announced_again() -> None:
    p = policy()
    incident = view(1)
    p.update([incident], T0)
    p.update([resolved(incident)], T0 + MIN)
    reopened = view(1, epoch=1)
    assert [type(c) for c in p.update([reopened], T0 + 2 * MIN)] == [Show, StartHighSound]


def test_a_complete_snapshot_closes_what_is_gone() -> None:
    p = policy()
    p.update([view(1), view(2, service="payments")], T0)
    commands = p.update([view(2, service="payments")], T0 + MIN, complete=True)
    assert commands == [Close("incident:inc-1")]


def test_a_dismissed_high_notification_comes_back_and_a_dismissed_low_one_does_not() -> None:
    p = policy(renotify_minutes=5)
    p.update([view(1), low(2, service="payments")], T0)
    assert p.dismissed("incident:inc-1", T0 + MIN) == []
    assert p.dismissed("incident:inc-2", T0 + MIN) == []
    assert [s.key for s in shows(p.tick(T0 + 5 * MIN))] == ["incident:inc-1"]
    assert p.update([resolved(low(2, service="payments"))], T0 + 6 * MIN) == []  # nothing left to close


def test_a_summary_left_with_only_low_incidents_stops_being_persistent() -> None:
    p = policy()
    mixed = [view(1), low(2), low(3), low(4)]
    desktop = Desktop()
    desktop.apply(p.update(mixed, T0))
    assert desktop.open["service:checkout-api"].persistent
    desktop.apply(p.update([acknowledged(mixed[0])], T0 + MIN))
    assert desktop.open == {}
    assert not desktop.looping


def test_the_assignee_is_named_when_it_is_me() -> None:
    commands = policy().update([view(1, assignee=ME)], T0)
    assert shows(commands)[0].body == "#1 · High priority · assigned to you"


def test_at_least_two_bubbles_are_needed() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        AlertPolicy(ME, max_bubbles=1)


def test_an_acknowledged_incident_seen_first_raises_nothing() -> None:
    assert policy().update([acknowledged(view(1)), view(2, rank=Rank.RESOLVED)], T0) == []


def test_an_incident_that_went_quiet_is_announced_again_when_it_gets_loud_again() -> None:
    p = policy()
    incident = view(1)
    p.update([incident], T0)
    lowered = replace(incident, incident=replace(incident.incident, priority=Priority.LOW))
    p.update([lowered], T0 + MIN)
    commands = p.update([], T0 + 2 * MIN, pages=[Page("inc-1", ME)])
    assert [(type(c), getattr(c, "persistent", None)) for c in commands] == [
        (Show, True),
        (StartHighSound, None),
    ]


def test_a_page_that_comes_with_its_incident_counts_and_one_for_an_unknown_incident_does_not() -> None:
    p = policy()
    assert p.update([], T0, pages=[Page("inc-9", ME)]) == []
    commands = p.update([low(1), low(9, service="payments")], T0 + MIN, pages=[Page("inc-1", ME)])
    assert [(type(c), getattr(c, "persistent", None)) for c in commands] == [
        (Show, True),
        (Show, False),
        (StartHighSound, None),
    ]
    assert p.pending_loud() == {"inc-1"}


def test_on_a_service_the_server_pages_for_only_a_page_makes_high_loud() -> None:
    p = policy()
    escalated = frozenset({"checkout-api"})
    commands = p.update([view(1)], T0, escalated=escalated)
    assert StartHighSound() not in commands  # someone else may be on call: no alarm here
    assert [show.persistent for show in shows(commands)] == [False]
    commands = p.update([], T0 + MIN, pages=[Page("inc-1", ME)])
    assert StartHighSound() in commands
    assert [show.persistent for show in shows(commands)] == [True]


def test_a_service_without_escalation_stays_loud_for_everyone() -> None:
    p = policy()
    commands = p.update([view(1, service="payments")], T0, escalated=frozenset({"checkout-api"}))
    assert StartHighSound() in commands
