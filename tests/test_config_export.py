"""A TeamConfig written as a team file reads back equal (any valid configuration, built by Hypothesis),
in the layout the docs show; the fingerprint the editor's compare-and-set carries; what an edit from
the console makes of the configuration, and what it refuses, at its line."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.config_export import (
    config_fingerprint,
    console_edit_problems,
    console_merge,
    export_team,
    without_overrides,
)
from console.config_file import ROLES, Service, TeamConfig, User, _good_name, load, parse
from console.domain.escalation import Level, Policy, ScheduleTarget, Target, UserTarget
from console.domain.schedule import Layer, Override, Restriction, Schedule, Turn

EXAMPLE = Path(__file__).resolve().parent.parent / "resources" / "examples" / "team.toml"

# Names with what a writer must escape (quotes, backslashes) and more than ASCII.
names = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), max_codepoint=0x2FFF) | st.sampled_from('"\\#=[]{}'),
    min_size=1,
    max_size=8,
).filter(_good_name)
# Amsterdam was +00:19:32 before 1937: an offset TOML cannot write, so such instants are written in UTC.
zones = st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Europe/Amsterdam"])
clocks = st.one_of(
    st.times().map(lambda t: t.replace(second=0, microsecond=0)),  # as people write them
    st.times(),  # seconds and fractions still read back
)
instants = st.datetimes(datetime(1900, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC))
turns = st.one_of(
    st.integers(1, 366).map(Turn.daily),
    st.integers(1, 52).map(Turn.weekly),
    st.integers(1, 366 * 24 * 60).map(lambda m: Turn.custom(timedelta(minutes=m))),
)


def _restriction_key(restriction: Restriction) -> tuple[tuple[int, ...], time, time]:
    return tuple(sorted(restriction.days)), restriction.start, restriction.end


restrictions = st.lists(
    st.builds(Restriction, clocks, clocks, st.frozensets(st.integers(0, 6), min_size=1)), max_size=3
).map(lambda found: tuple(sorted(found, key=_restriction_key)))  # the canonical order parse keeps


@st.composite
def layers(draw: st.DrawFn, name: str, people: list[str]) -> Layer:
    starts = draw(st.none() | instants)
    ends = draw(st.none() | instants.filter(lambda at: starts is None or at > starts))
    return Layer(
        name,
        tuple(draw(st.lists(st.sampled_from(people), min_size=1, max_size=4))),
        draw(zones),
        draw(st.dates(date(1990, 1, 1), date(2100, 1, 1))),
        draw(clocks),
        draw(turns),
        draw(restrictions),
        starts,
        ends,
    )


@st.composite
def overrides(draw: st.DrawFn, people: list[str], everyone: list[str]) -> tuple[Override, ...]:
    """Overrides one after the other (two that overlap are refused)."""
    found: list[Override] = []
    at = draw(instants)
    for number, override_id in enumerate(draw(st.lists(names, max_size=3, unique=True))):
        start = at + draw(st.timedeltas(timedelta(0), timedelta(days=30)))
        end = start + draw(st.timedeltas(timedelta(minutes=1), timedelta(days=30)))
        user = draw(st.sampled_from(people))
        others = [other for other in everyone if other != user]
        replaces = draw(st.none() | st.sampled_from(others)) if others else None
        found.append(
            Override(override_id if number % 2 else f"override-{number + 1}", user, start, end, replaces)
        )
        at = end
    return tuple(found)


@st.composite
def team_configs(draw: st.DrawFn) -> TeamConfig:
    user_names = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    roles = [draw(st.sampled_from(ROLES)) for _ in user_names]
    roles[0] = draw(st.sampled_from([role for role in ROLES if role != "viewer"]))  # someone to page
    users = [User(name, role, draw(st.none() | zones)) for name, role in zip(user_names, roles, strict=True)]
    people = [user.name for user in users if user.role != "viewer"]
    schedules = [
        Schedule(
            name,
            tuple(
                draw(layers(layer, people))
                for layer in draw(st.lists(names, min_size=1, max_size=2, unique=True))
            ),
            draw(overrides(people, user_names)),
        )
        for name in draw(st.lists(names, max_size=2, unique=True))
    ]
    targets: list[Target] = [UserTarget(person) for person in people]
    targets += [ScheduleTarget(schedule.name) for schedule in schedules]
    policies = [
        Policy(
            name,
            tuple(
                Level(
                    tuple(draw(st.lists(st.sampled_from(targets), min_size=1, max_size=3))),
                    draw(st.integers(1, 999)),
                )
                for _ in range(draw(st.integers(1, 3)))
            ),
            draw(st.integers(0, 9)),
        )
        for name in draw(st.lists(names, max_size=2, unique=True))
    ]
    services: list[Service] = []
    for name in draw(st.lists(names, max_size=4, unique=True)):
        parent = (
            draw(st.none() | st.sampled_from([s.name for s in services])) if services else None
        )  # no loops
        policy = draw(st.none() | st.sampled_from([p.name for p in policies])) if policies else None
        services.append(Service(name, parent, policy, draw(st.none() | st.integers(1, 10_000))))
    return TeamConfig(tuple(users), tuple(services), tuple(schedules), tuple(policies))


@settings(max_examples=300, deadline=None)
@given(team_configs())
def test_any_configuration_reads_back_equal(config: TeamConfig) -> None:
    text = export_team(config)
    assert parse(text) == config
    assert export_team(parse(text)) == text  # and writing it again gives the same text


def test_the_example_team_reads_back_equal_in_the_documented_layout() -> None:
    config = load(EXAMPLE)
    text = export_team(config)
    assert parse(text) == config
    assert (
        "[[schedules.layers]]\n"
        'name = "americas-daytime"\n'
        'participants = ["morgan"]\n'
        'time_zone = "America/New_York"\n'
        'turn = "weekly"\n'
        'handoff = "09:00"\n'
        "anchor = 2026-11-02\n"
        "restrictions = [\n"
        '    { days = ["mon-fri"], start = "09:00", end = "17:00" },\n'
        "]\n"
    ) in text
    assert 'turn = "12 hours"' in text
    assert "start = 2026-12-24T18:00:00+01:00\n" in text  # local time in the schedule's zone


def test_only_writes_the_kinds_named() -> None:
    config = load(EXAMPLE)
    text = export_team(config, only={"schedules"})
    assert "[[schedules]]" in text
    assert "[[users]]" not in text
    assert "[[escalation_policies]]" not in text
    assert export_team(config, only=set()) == ""
    with pytest.raises(ValueError, match="unknown kinds policies"):
        export_team(config, only={"policies"})


def test_the_fingerprint_follows_what_the_editor_shows_and_nothing_else() -> None:
    config = load(EXAMPLE)
    same = parse(export_team(config))
    assert config_fingerprint(config) == config_fingerprint(same)
    assert config_fingerprint(config) == config_fingerprint(without_overrides(config))  # overrides: not shown
    policy = config.escalation_policies[0]
    faster = TeamConfig(
        config.users,
        config.services,
        config.schedules,
        (Policy(policy.name, policy.levels, policy.repeats - 1), *config.escalation_policies[1:]),
    )
    assert config_fingerprint(faster) != config_fingerprint(config)


# -- what an edit from the console makes, and refuses --


def _edited(text: str, old: str, new: str) -> tuple[str, TeamConfig]:
    assert old in text
    changed = text.replace(old, new, 1)
    return changed, parse(changed)


def _line_of(text: str, fragment: str) -> int:
    return text[: text.index(fragment)].count("\n") + 1


def test_the_merge_keeps_overrides_users_and_unnamed_services() -> None:
    current = load(EXAMPLE)
    services = tuple(
        Service("auth", "k8s-platform", "payments", 45) if s.name == "auth" else s
        for s in current.services
        if s.name != "payments-gateway"  # left out: kept as it is
    )
    text = export_team(
        TeamConfig(current.users, services, without_overrides(current).schedules, current.escalation_policies)
    )
    edited = parse(text)
    merged = console_merge(current, edited)
    assert merged.schedule("payments-primary") == current.schedule("payments-primary")  # its overrides kept
    assert merged.service("auth") == Service("auth", "k8s-platform", "payments", 45)
    assert merged.service("payments-gateway") == current.service("payments-gateway")
    assert merged.users == current.users
    assert console_edit_problems(current, edited, text) == []


def test_users_new_services_parents_and_overrides_are_refused_at_their_line() -> None:
    current = load(EXAMPLE)
    text = export_team(without_overrides(current))
    text, _ = _edited(text, 'name = "sam"\nrole = "responder"', 'name = "sam"\nrole = "manager"')
    text, _ = _edited(
        text, 'name = "auth"\nparent = "k8s-platform"', 'name = "auth"\nparent = "postgres-main"'
    )
    text += '\n[[services]]\nname = "search"\n'
    text, edited = _edited(
        text,
        '\n[[schedules]]\nname = "platform-primary"',
        '\n[[schedules.overrides]]\nuser = "jordan"\n'
        "start = 2026-12-01T00:00:00Z\nend = 2026-12-02T00:00:00Z\n"
        '\n[[schedules]]\nname = "platform-primary"',
    )
    problems = console_edit_problems(current, edited, text)
    assert [(p.line, p.message.split(":")[0]) for p in problems] == [
        (_line_of(text, 'name = "sam"\nrole = "manager"') + 1, "role"),
        (_line_of(text, 'parent = "postgres-main"'), "parent"),
        (_line_of(text, "[[schedules.overrides]]"), "overrides"),
        (_line_of(text, 'name = "search"'), "name"),
    ]
    assert "admin commands" in problems[0].message
    assert "admin apply" in problems[-1].message


def test_a_policy_still_used_by_a_service_the_file_leaves_out_cannot_go() -> None:
    current = load(EXAMPLE)
    edited = TeamConfig(
        current.users,
        (),  # the file names no service: they keep their policies
        without_overrides(current).schedules,
        tuple(p for p in current.escalation_policies if p.name != "platform"),
    )
    text = export_team(edited)
    problems = console_edit_problems(current, parse(text), text)
    assert [(p.line, p.message) for p in problems] == [
        (
            1,
            f"escalation policy 'platform' is gone, but service {name} (not in this file) pages with it: "
            "keep the policy, or list the service with another",
        )
        for name in ("auth", "k8s-platform")
    ]
