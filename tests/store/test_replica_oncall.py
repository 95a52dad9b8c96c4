"""On-call in a console's replica, with a real server: schedules replicate, an override made here is
pending (not in effect) until the server accepts it, and one that overlaps is refused with the reason,
here when this replica can tell and by the server when only it can."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from console.config_file import parse
from console.domain.ids import uuid7
from console.domain.schedule import Override, OverrideRejected, on_call
from console.server.oncall import apply_config
from console.store.replica import Replica
from tests.stack import Stack

TEAM = """
[[users]]
name = "ann"
[[users]]
name = "bob"
time_zone = "Europe/Berlin"
[[schedules]]
name = "primary"
time_zone = "UTC"
[[schedules.layers]]
name = "all"
participants = ["ann"]
anchor = 2026-11-02
"""
AT = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def cover(hours: int = 4, start: datetime = AT) -> Override:
    return Override(uuid7(), "bob", start, start + timedelta(hours=hours))


@pytest.fixture
def team(stack: Stack) -> Stack:
    apply_config(stack.engine, parse(TEAM))
    stack.sync()
    return stack


def test_schedules_and_people_replicate(team: Stack) -> None:
    [schedule] = team.replica.schedules()
    assert on_call(schedule, AT) == "ann"
    assert team.replica.user_zones()["bob"] == "Europe/Berlin"
    assert [(a.schedule, a.user) for a in team.replica.on_call_now(AT)] == [("primary", "ann")]


def test_an_override_is_pending_until_the_server_accepts_it(team: Stack) -> None:
    override = cover()
    team.replica.add_override("primary", override)
    [pending] = team.replica.pending_overrides()
    assert (pending.schedule, pending.override, pending.reason) == ("primary", override, "")
    assert team.replica.on_call_now(AT + timedelta(hours=1))[0].user == "ann"  # not in effect yet
    team.sync()
    assert team.replica.pending_overrides() == []
    assert team.replica.on_call_now(AT + timedelta(hours=1))[0].user == "bob"
    [schedule] = team.replica.schedules()
    assert [o.id for o in schedule.overrides] == [override.id]


def test_an_overlap_this_replica_knows_is_refused_at_once(team: Stack) -> None:
    team.replica.add_override("primary", cover())
    with pytest.raises(OverrideRejected, match="overlaps an override: bob"):
        team.replica.add_override("primary", cover(start=AT + timedelta(hours=1)))
    assert len(team.replica.pending_overrides()) == 1


def test_an_overlap_only_the_server_knows_is_refused_there_with_the_reason(team: Stack) -> None:
    first = team.replica
    other = Replica(first.path.parent / "other.db")  # a second console of the same person
    other.set_server(team.url, "ann")

    def sync(replica: Replica) -> None:
        team.replica = replica
        try:
            team.sync()
        finally:
            team.replica = first

    sync(other)  # it knows the schedule, then loses the link
    first.add_override("primary", cover())
    sync(first)
    other.add_override("primary", cover(start=AT + timedelta(hours=2)))  # it cannot know the first
    sync(other)
    [refused] = other.pending_overrides()
    assert refused.reason.startswith("It overlaps an override: bob")
    assert [o.user for o in other.schedules()[0].overrides] == ["bob"]  # the first one only
    other.close()


def test_an_override_can_be_removed(team: Stack) -> None:
    override = cover()
    team.replica.add_override("primary", override)
    team.sync()
    team.replica.remove_override(override.id)
    team.sync()
    assert team.replica.schedules()[0].overrides == ()


def test_a_manager_edits_the_schedules_from_the_console(stack: Stack) -> None:
    from console.config_export import config_fingerprint, export_team
    from console.server.admin import add_user

    apply_config(stack.engine, parse(TEAM))
    stack.token = add_user(stack.engine, "max", role="manager")  # this console signs in as max
    stack.replica.set_server(stack.url, "max")
    stack.sync()
    team = stack.replica.team()
    text = export_team(team).replace('participants = ["ann"]', 'participants = ["bob"]')
    stack.replica.save_oncall_config(text, config_fingerprint(team))
    assert on_call(stack.replica.schedules()[0], AT) == "ann"  # not in effect before the server
    stack.sync()
    [op] = [o for o in stack.replica.outbox() if o.type == "oncall_config"]
    assert (op.state, op.reason) == ("applied", "")
    assert on_call(stack.replica.schedules()[0], AT) == "bob"
    # a second edit from the same, now outdated, starting point is refused: someone changed it
    stack.replica.save_oncall_config(text.replace('["bob"]', '["ann", "bob"]'), config_fingerprint(team))
    stack.sync()
    latest = max((o for o in stack.replica.outbox() if o.type == "oncall_config"), key=lambda o: o.client_seq)
    assert latest.state == "rejected"
    assert "changed the schedules meanwhile" in latest.reason


def test_a_responder_cannot_save_schedules(team: Stack) -> None:
    from console.config_export import config_fingerprint, export_team
    from console.domain.errors import DomainError

    current = team.replica.team()
    with pytest.raises(DomainError, match="manager or an admin"):
        team.replica.save_oncall_config(export_team(current), config_fingerprint(current))
