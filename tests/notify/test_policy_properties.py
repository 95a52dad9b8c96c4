"""The alert policy's promises, under any sequence of incidents, changes, settings and time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from console.domain.priority import Priority
from console.domain.status import Rank, Status
from console.domain.views import IncidentView
from console.notify.policy import AlertPolicy, AlertSettings, Close, Command, Page, PlayLowSound, Show
from tests.notify.incidents import ME, T0, Desktop, view

MAX_BUBBLES = 5
SERVICES = ["checkout-api", "payments", "search", "auth", "db", "cdn", "mail"]


class AlertingMachine(RuleBasedStateMachine):
    """Drives an AlertPolicy and keeps its own truth about the incidents to check it against."""

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.settings = AlertSettings(renotify_minutes=5)
        self.policy = AlertPolicy(ME, self.settings, zone=UTC, max_bubbles=MAX_BUBBLES)
        self.truth: dict[str, IncidentView] = {}  # every incident ever made, as it is now
        self.paged: set[str] = set()
        self.desktop = Desktop()
        self.dismissed: set[str] = set()  # loud notifications the person closed: back at re-notify
        self.numbers = 0

    # --- helpers ------------------------------------------------------------------------------

    def _pending(self, v: IncidentView) -> bool:
        until = v.incident.snoozed_until
        return v.incident.status.rank is Rank.TRIGGERED and (until is None or until <= self.now)

    def _loud(self, v: IncidentView) -> bool:
        return v.incident.priority is Priority.HIGH or v.id in self.paged

    def _apply(self, commands: list[Command]) -> None:
        # closing what the person already dismissed is harmless on a real desktop
        commands = [c for c in commands if not (isinstance(c, Close) and c.key in self.dismissed)]
        self.dismissed -= {c.key for c in commands if isinstance(c, Show | Close)}
        self.dismissed &= self.policy.open_keys
        self.desktop.apply(commands)
        assert self.desktop.shown_per_call[-1] <= MAX_BUBBLES
        keys = [c.key for c in commands if isinstance(c, Show)]
        assert len(keys) == len(set(keys)), "one notification shown twice in one call"
        if PlayLowSound() in commands:
            assert not self.settings.sound_muted
            assert not self.desktop.looping

    def _pick(self, data: st.DataObject) -> IncidentView:
        number = data.draw(st.integers(1, len(self.truth)), label="incident number")
        return self.truth[f"inc-{number}"]

    def _low_silenced(self) -> bool:
        until = self.settings.low_muted_until
        return (until is not None and self.now < until) or self.settings.quiet_at(self.now.time())

    def _change(self, v: IncidentView, **changes: object) -> None:
        changed = IncidentView(replace(v.incident, **changes), v.service)  # type: ignore[arg-type]
        self.truth[v.id] = changed
        if not changed.incident.status.is_open:
            self.paged.discard(v.id)  # a page counts while its incident is open
        self._apply(self.policy.update([changed], self.now))

    # --- rules --------------------------------------------------------------------------------

    @rule(
        batch=st.lists(
            st.tuples(st.sampled_from(SERVICES), st.sampled_from([Priority.HIGH, Priority.LOW])),
            min_size=1,
            max_size=25,
        )
    )
    def new_incidents(self, batch: list[tuple[str, Priority]]) -> None:
        views = []
        for service, priority in batch:
            self.numbers += 1
            views.append(view(self.numbers, service=service, priority=priority, created_at=self.now))
        self.truth.update((v.id, v) for v in views)
        commands = self.policy.update(views, self.now)
        self._apply(commands)
        if self._low_silenced():
            assert PlayLowSound() not in commands
            shown = {i for c in commands if isinstance(c, Show) for i in c.incident_ids}
            assert not any(v.id in shown for v in views if not self._loud(v)), "a low incident in quiet hours"

    @precondition(lambda self: bool(self.truth))
    @rule(data=st.data(), rank=st.sampled_from([Rank.ACKNOWLEDGED, Rank.RESOLVED, Rank.CLOSED]))
    def advance(self, data: st.DataObject, rank: Rank) -> None:
        v = self._pick(data)
        status = v.incident.status
        if rank > status.rank:
            self._change(v, status=Status(status.epoch, rank))

    @precondition(lambda self: bool(self.truth))
    @rule(data=st.data())
    def reopen(self, data: st.DataObject) -> None:
        v = self._pick(data)
        if v.incident.status.rank >= Rank.RESOLVED:
            self._change(v, status=v.incident.status.reopen(base_epoch=v.incident.status.epoch))

    @precondition(lambda self: bool(self.truth))
    @rule(data=st.data(), minutes=st.integers(1, 30))
    def snooze(self, data: st.DataObject, minutes: int) -> None:
        v = self._pick(data)
        self._change(v, snoozed_until=self.now + timedelta(minutes=minutes))

    @precondition(lambda self: bool(self.truth))
    @rule(data=st.data(), priority=st.sampled_from([Priority.HIGH, Priority.LOW]))
    def reprioritise(self, data: st.DataObject, priority: Priority) -> None:
        v = self._pick(data)
        self._change(v, priority=priority)

    @precondition(lambda self: bool(self.truth))
    @rule(data=st.data(), user=st.sampled_from([ME, "bob"]))
    def page(self, data: st.DataObject, user: str) -> None:
        v = self._pick(data)
        if user == ME and v.incident.status.is_open:
            self.paged.add(v.id)
        self._apply(self.policy.update([], self.now, pages=[Page(v.id, user)]))

    @rule(seconds=st.integers(1, 900))
    def time_passes(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)
        self._apply(self.policy.tick(self.now))

    @rule(
        muted=st.booleans(),
        quiet=st.booleans(),
        low_muted_minutes=st.none() | st.integers(1, 60),
    )
    def configure(self, muted: bool, quiet: bool, low_muted_minutes: int | None) -> None:
        self.settings = AlertSettings(
            quiet_from=time(22, 0) if quiet else None,
            quiet_until=time(7, 0) if quiet else None,
            renotify_minutes=5,
            low_muted_until=self.now + timedelta(minutes=low_muted_minutes) if low_muted_minutes else None,
            sound_muted=muted,
        )
        self._apply(self.policy.configure(self.settings, self.now))

    @precondition(lambda self: bool(self.desktop.open))
    @rule(data=st.data())
    def person_dismisses(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.desktop.open)))
        show = self.desktop.open.pop(key)
        if show.persistent:
            self.dismissed.add(key)
        self._apply(self.policy.dismissed(key, self.now))

    # --- what must always hold ----------------------------------------------------------------

    @invariant()
    def the_loop_plays_exactly_while_a_loud_incident_is_pending_and_sound_is_on(self) -> None:
        loud_pending = any(self._pending(v) and self._loud(v) for v in self.truth.values())
        expected = loud_pending and not self.settings.sound_muted
        assert self.desktop.looping == expected == self.policy.high_sound_on

    @invariant()
    def every_open_notification_stands_for_a_pending_incident(self) -> None:
        for key, show in self.desktop.open.items():
            pending = [i for i in show.incident_ids if self._pending(self.truth[i])]
            assert pending, f"{key} is still open, but everything in it was acknowledged or resolved"
            if show.persistent:
                assert any(self._loud(self.truth[i]) for i in pending), (
                    f"{key} is persistent with nothing loud"
                )

    @invariant()
    def every_loud_pending_incident_is_on_the_desktop(self) -> None:
        shown = {i for key, s in self.desktop.open.items() for i in s.incident_ids}
        for v in self.truth.values():
            if self._pending(v) and self._loud(v):
                assert v.id in shown or any(v.id in self.policy.incidents_of(k) for k in self.dismissed), (
                    f"{v.id} is loud and pending but on no notification"
                )

    @invariant()
    def the_policy_and_the_desktop_agree_on_what_is_open(self) -> None:
        assert set(self.desktop.open) <= self.policy.open_keys <= set(self.desktop.open) | self.dismissed

    def teardown(self) -> None:
        # resolving everything leaves nothing on the desktop and no sound
        self.now += timedelta(seconds=1)
        for v in list(self.truth.values()):
            if v.incident.status.is_open:
                self._change(v, status=Status(v.incident.status.epoch, Rank.RESOLVED))
        assert self.desktop.open == {}
        assert not self.desktop.looping
        assert self.policy.open_keys == frozenset()


AlertingMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
test_the_alert_policy_keeps_its_promises = AlertingMachine.TestCase


@settings(max_examples=50, deadline=None)
@given(
    storm=st.lists(
        st.tuples(st.integers(0, 60), st.sampled_from([Priority.HIGH, Priority.LOW])),
        min_size=1,
        max_size=400,
    ),
    earlier=st.integers(0, 6),
)
def test_a_storm_of_any_size_shows_at_most_five_bubbles_and_leaves_no_loud_incident_out(
    storm: list[tuple[int, Priority]], earlier: int
) -> None:
    policy = AlertPolicy(ME, zone=UTC, max_bubbles=MAX_BUBBLES)
    desktop = Desktop()
    # a few incidents already on screen when the storm starts
    desktop.apply(policy.update([view(n, service=f"svc-{n}") for n in range(1, earlier + 1)], T0))
    views = [
        view(1000 + n, service=f"svc-{service}", priority=priority)
        for n, (service, priority) in enumerate(storm)
    ]
    desktop.apply(policy.update(views, T0 + timedelta(seconds=10)))
    assert max(desktop.shown_per_call) <= MAX_BUBBLES
    assert len(desktop.open) <= MAX_BUBBLES
    on_screen = {i for show in desktop.open.values() for i in show.incident_ids}
    assert {v.id for v in views if v.incident.priority is Priority.HIGH} <= on_screen
