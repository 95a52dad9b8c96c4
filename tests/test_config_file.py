"""Team configuration files: the example reads as the team it describes, equal files give equal
configurations, every bad file is refused whole with each problem at its line, and a file written
from any valid configuration reads back as that configuration."""

from __future__ import annotations

import json
import re
import textwrap
import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import console.config_file
from console.config_file import (
    ROLES,
    Change,
    ConfigError,
    Problem,
    Service,
    TeamConfig,
    User,
    _locate,
    describe,
    diff,
    load,
    parse,
)
from console.domain.escalation import Level, Policy, ScheduleTarget, UserTarget, resolve_targets
from console.domain.schedule import (
    EVERY_DAY,
    WEEKDAYS,
    Layer,
    Override,
    Restriction,
    Schedule,
    Turn,
    on_call,
    overlapping,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "resources" / "examples" / "team.toml"
BERLIN = ZoneInfo("Europe/Berlin")


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def problems_of(text: str) -> tuple[Problem, ...]:
    with pytest.raises(ConfigError) as caught:
        parse(text, "team.toml")
    return caught.value.problems


# -- the example --


def test_the_example_declares_two_teams() -> None:
    config = load(EXAMPLE)
    assert [(user.name, user.role) for user in config.users] == [
        ("jordan", "manager"),
        ("morgan", "admin"),
        ("priya", "responder"),
        ("sam", "responder"),
        ("wallboard", "viewer"),
    ]
    assert config.service("checkout-api") == Service("checkout-api", "postgres-main", "payments", 30)
    checkout = config.service("checkout-api")
    assert checkout is not None
    assert checkout.ack_timeout == timedelta(minutes=30)
    assert config.service("auth") == Service("auth", "k8s-platform", "platform")
    payments = config.escalation_policy("payments")
    assert payments is not None
    assert payments.repeats == 2
    assert [level.delay_minutes for level in payments.levels] == [15, 15, 30]
    assert payments.levels[2].targets == (UserTarget("morgan"), ScheduleTarget("platform-primary"))


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (berlin(2026, 11, 2, 10), "sam"),  # the anchor's Monday, after the 09:00 handoff
        (berlin(2026, 11, 2, 8, 59), "priya"),  # the turn before the anchor's
        (berlin(2026, 11, 9, 10), "priya"),  # the next week
        (berlin(2026, 11, 16, 10), "sam"),
        (berlin(2026, 11, 3, 16), "morgan"),  # Tuesday 10:00 in New York: follow the sun
        (berlin(2026, 11, 3, 23, 30), "sam"),  # 17:30 in New York: back to Berlin
        (berlin(2026, 11, 7, 16), "sam"),  # a Saturday: the weekday layer has nobody
        (berlin(2026, 11, 20, 10), "priya"),  # priya takes sam's shifts…
        (berlin(2026, 11, 20, 16), "morgan"),  # …not morgan's
        (berlin(2026, 11, 23, 9, 30), "priya"),  # her own week (the override ended at 09:00)
        (berlin(2026, 12, 24, 18), "jordan"),  # Christmas, in Berlin time
        (berlin(2026, 12, 26, 8, 59), "jordan"),
        (berlin(2026, 12, 26, 9), "priya"),  # a Saturday in priya's week
    ],
)
def test_the_example_primary_schedule_says_who_is_on_call(at: datetime, expected: str) -> None:
    schedule = load(EXAMPLE).schedule("payments-primary")
    assert schedule is not None
    assert on_call(schedule, at) == expected


def test_the_example_policies_page_whoever_is_on_call() -> None:
    config = load(EXAMPLE)
    platform = config.schedule("platform-primary")
    assert platform is not None
    # 12-hour turns from 08:00 New York time: morgan by day, priya by night.
    assert on_call(platform, datetime(2026, 11, 4, 9, tzinfo=ZoneInfo("America/New_York"))) == "morgan"
    assert on_call(platform, datetime(2026, 11, 4, 21, tzinfo=ZoneInfo("America/New_York"))) == "priya"
    payments = config.escalation_policy("payments")
    assert payments is not None
    at = berlin(2026, 11, 4, 3)  # 21:00 in New York
    assert resolve_targets(payments.levels[2].targets, config.schedules_by_name, at) == ("morgan", "priya")


def test_the_same_file_twice_is_the_same_configuration_and_nothing_to_change() -> None:
    text = EXAMPLE.read_text()
    first, second = parse(text), parse(text)
    assert first == second
    assert load(EXAMPLE) == first
    assert diff(first, second) == []
    assert describe(diff(first, second)) == "nothing to change"


def test_the_example_in_the_module_docstring_reads() -> None:
    doc = console.config_file.__doc__
    assert doc is not None
    block = doc.split("\n\n", 2)[2].split("\nThe rules of the layout:")[0]
    config = parse(textwrap.dedent(block))
    schedule = config.schedule("payments-primary")
    assert schedule is not None
    assert on_call(schedule, berlin(2026, 11, 3, 10)) == "sam"
    assert on_call(schedule, berlin(2026, 11, 3, 16)) == "morgan"
    assert on_call(schedule, berlin(2026, 12, 25)) == "jordan"


def test_the_roles_are_the_servers() -> None:
    from console.server.admin import ROLES as server_roles

    assert server_roles == ROLES


# -- reading --

USERS = """\
[[users]]
name = "ann"

[[users]]
name = "bob"
role = "manager"

[[users]]
name = "vic"
role = "viewer"
"""

SCHEDULE = """
[[schedules]]
name = "primary"
time_zone = "Europe/Berlin"

[[schedules.layers]]
name = "weekly"
participants = ["ann", "bob"]
turn = "weekly"
anchor = 2026-11-02
"""


def test_a_small_file_reads_with_its_defaults() -> None:
    config = parse(USERS + SCHEDULE)
    assert config.users == (User("ann", "responder"), User("bob", "manager"), User("vic", "viewer"))
    schedule = config.schedule("primary")
    assert schedule == Schedule(
        "primary",
        (Layer("weekly", ("ann", "bob"), "Europe/Berlin", date(2026, 11, 2), time(9), Turn.weekly()),),
    )
    assert parse("") == TeamConfig()


@pytest.mark.parametrize(
    ("written", "turn"),
    [
        ("daily", Turn.daily()),
        ("weekly", Turn.weekly()),
        ("3 days", Turn.daily(3)),
        ("1 day", Turn.daily()),
        ("2 weeks", Turn.weekly(2)),
        ("7 days", Turn.weekly()),
        ("12 hours", Turn.custom(timedelta(hours=12))),
        ("12h", Turn.custom(timedelta(hours=12))),
        ("90 minutes", Turn.custom(timedelta(minutes=90))),
        ("Weekly", Turn.weekly()),
    ],
)
def test_turns(written: str, turn: Turn) -> None:
    schedule = parse(USERS + SCHEDULE.replace('"weekly"\n', f'"{written}"\n')).schedule("primary")
    assert schedule is not None
    assert schedule.layers[0].turn == turn


def test_times_dates_and_instants_read_in_either_form_and_local_ones_in_the_right_zone() -> None:
    text = (
        USERS
        + SCHEDULE.replace(
            "anchor = 2026-11-02", 'anchor = "2026-11-02"\nhandoff = 08:30:00\nstarts = 2026-11-01'
        )
        + """
[[schedules.layers]]
name = "nights"
participants = ["ann"]
time_zone = "America/New_York"
anchor = 2026-11-02
handoff = "18:00"
starts = "2026-11-01T00:00"
ends = 2026-12-01T00:00:00Z
restrictions = [
    { days = ["sat", "Sunday"], start = 22:00:00, end = "06:00" },
    { start = "12:00", end = "13:00" },
]

[[schedules.overrides]]
user = "bob"
start = 2026-12-24T18:00:00
end = "2026-12-25T09:00:00+01:00"
"""
    )
    schedule = parse(text).schedule("primary")
    assert schedule is not None
    weekly, nights = schedule.layers
    assert (weekly.anchor, weekly.handoff, weekly.starts) == (
        date(2026, 11, 2),
        time(8, 30),
        datetime(2026, 10, 31, 23, tzinfo=UTC),
    )
    assert nights.starts == datetime(2026, 11, 1, 4, tzinfo=UTC)  # midnight in New York (EDT)
    assert nights.ends == datetime(2026, 12, 1, tzinfo=UTC)
    assert nights.restrictions == (  # canonical order
        Restriction(time(12), time(13), EVERY_DAY),
        Restriction(time(22), time(6), frozenset({5, 6})),
    )
    (override,) = schedule.overrides
    assert override == Override("override-1", "bob", berlin(2026, 12, 24, 18), berlin(2026, 12, 25, 9))


def test_day_ranges() -> None:
    text = USERS + SCHEDULE + 'restrictions = [{ days = ["mon-fri"], start = "09:00", end = "17:00" },'
    text += ' { days = ["fri-mon", "wed"], start = "20:00", end = "08:00" }]\n'
    schedule = parse(text).schedule("primary")
    assert schedule is not None
    assert {r.days for r in schedule.layers[0].restrictions} == {WEEKDAYS, frozenset({4, 5, 6, 0, 2})}


def test_arrays_of_inline_tables_read_as_arrays_of_tables() -> None:
    inline = """\
users = [{ name = "ann" }, { name = "bob", role = "manager" }, { name = "vic", role = "viewer" }]
schedules = [
    { name = "primary", time_zone = "Europe/Berlin", layers = [
        { name = "weekly", participants = ["ann", "bob"], turn = "weekly", anchor = 2026-11-02 },
    ] },
]
"""
    assert parse(inline) == parse(USERS + SCHEDULE)


def test_order_of_named_things_and_restrictions_is_not_a_difference() -> None:
    one = (
        USERS
        + SCHEDULE
        + 'restrictions = [{ start = "09:00", end = "12:00" }, { start = "13:00", end = "17:00" }]\n'
    )
    two = (
        '[[users]]\nname = "vic"\nrole = "viewer"\n\n[[users]]\nname = "bob"\nrole = "manager"\n\n'
        '[[users]]\nname = "ann"\nrole = "responder"\n'
        + SCHEDULE
        + 'restrictions = [{ start = "13:00", end = "17:00" }, { end = "12:00", start = "09:00" }]\n'
    )
    assert parse(one) == parse(two)
    assert diff(parse(one), parse(two)) == []


def test_a_byte_order_mark_and_windows_line_ends_are_fine() -> None:
    text = USERS + SCHEDULE
    assert parse("\ufeff" + text.replace("\n", "\r\n")) == parse(text)
    problems = problems_of("\ufeff" + (USERS + "oops = 1\n").replace("\n", "\r\n"))
    assert [(p.line, p.message.split(" (")[0]) for p in problems] == [(11, "unknown key 'oops' in a user")]


def test_load_names_the_file_and_refuses_what_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "team.toml"
    path.write_bytes(b'[[users]]\nname = "ann"\nrole = "boss"\n')
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert (
        str(caught.value)
        == f"{path}:3: role: 'boss' is not a role: use one of responder, manager, admin, viewer"
    )
    path.write_bytes(b'[[users]]\nname = "\xff"\n')
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert caught.value.problems == (Problem(str(path), 2, "not UTF-8 text"),)


# -- refusing bad files --

POLICY = """
[[escalation_policies]]
name = "default"

[[escalation_policies.levels]]
targets = ["schedule:primary"]
"""

# (id, text after USERS + SCHEDULE unless it starts with "!", what the problem says); the problem's
# line is the one marked "# <-".
BAD: list[tuple[str, str, str]] = [
    ("syntax", "[[services]]\nname = web  # <-\n", "not TOML: Invalid value (column 8)"),
    ("duplicate key", '[[services]]\nname = "a"\nname = "b"  # <-\n', "not TOML: Cannot overwrite a value"),
    (
        "unknown top key",
        "!service = []  # <-\n" + USERS,
        "unknown key 'service' in the file (did you mean services?",
    ),
    ("unknown user key", '[[users]]\nname = "cy"\nrol = "admin"  # <-\n', "unknown key 'rol' in a user"),
    (
        "unknown layer key",
        'handof = "10:00"  # <-\n',
        "unknown key 'handof' in a layer (did you mean handoff?",
    ),
    (
        "unknown restriction key",
        'restrictions = [\n  { start = "09:00", end = "17:00" },\n'
        '  { start = "18:00", ned = "19:00" },  # <-\n]\n',
        "unknown key 'ned' in a restriction",
    ),
    (
        "unknown level key",
        POLICY + "delay = 5  # <-\n",
        "unknown key 'delay' in a level (known: targets, delay_minutes)",
    ),
    (
        "unknown override key",
        '[[schedules.overrides]]\nuser = "ann"\nfrom = 2026-11-01  # <-\n',
        "unknown key 'from'",
    ),
    ("users not tables", '!users = "ann"  # <-\n', "users: must be [[users]] tables"),
    (
        "a user not a table",
        '!users = [\n  { name = "ann" },\n  "bob",  # <-\n]\n',
        "users: each must be a table",
    ),
    ("name not text", "[[services]]\nname = 3  # <-\n", "name: must be a name"),
    ("name with spaces around", '[[services]]\nname = " web"  # <-\n', "name: must be a name"),
    (
        "name on two lines",
        '[[services]]\nname = """web\napi"""\nparent = 1  # <-\n',
        "parent: must be a name",
    ),
    (
        "participants not a list",
        '\n[[schedules.layers]]\nname = "b"\nanchor = 2026-11-02\nparticipants = "ann"  # <-\n',
        "participants: must be a list of user names",
    ),
    (
        "timeout not whole",
        '[[services]]\nname = "web"\nack_timeout_minutes = 1.5  # <-\n',
        "must be a whole number",
    ),
    (
        "timeout zero",
        '[[services]]\nname = "web"\nack_timeout_minutes = 0  # <-\n',
        "0 is out of range: 1 or more",
    ),
    (
        "repeats as text",
        POLICY.replace('"default"', '"default"\nrepeats = "2"  # <-'),
        "repeats: must be a whole",
    ),
    (
        "repeats too many",
        POLICY.replace('"default"', '"default"\nrepeats = 10  # <-'),
        "10 is out of range: from 0 to 9",
    ),
    ("repeats negative", POLICY.replace('"default"', '"default"\nrepeats = -1  # <-'), "-1 is out of range"),
    (
        "delay a boolean",
        POLICY + "delay_minutes = true  # <-\n",
        "delay_minutes: must be a whole number, 1 or more",
    ),
    ("delay negative", POLICY + "delay_minutes = -5  # <-\n", "delay_minutes: -5 is out of range: 1 or more"),
    ("delay zero", POLICY + "delay_minutes = 0  # <-\n", "delay_minutes: 0 is out of range"),
    ("unknown role", '[[users]]\nname = "cy"\nrole = "owner"  # <-\n', "role: 'owner' is not a role"),
    (
        "duplicate user",
        '[[users]]\nname = "ann"  # <-\n',
        "name: there is a user named 'ann' already (line 2)",
    ),
    (
        "duplicate service",
        '[[services]]\nname = "web"\n\n[[services]]\nname = "web"  # <-\n',
        "there is a service named 'web' already (line 22)",
    ),
    (
        "duplicate schedule",
        SCHEDULE.replace('"primary"', '"primary"  # <-'),
        "there is a schedule named 'primary'",
    ),
    (
        "duplicate policy",
        POLICY + POLICY.replace('"default"', '"default"  # <-'),
        "there is a escalation policy named 'default'",
    ),
    (
        "duplicate layer",
        '\n[[schedules.layers]]\nname = "weekly"  # <-\nparticipants = ["ann"]\nanchor = 2026-11-02\n',
        "name: this schedule has a layer 'weekly' already (line 17)",
    ),
    (
        "duplicate override id",
        '[[schedules.overrides]]\nid = "x"\nuser = "ann"\nstart = 2026-11-01\nend = 2026-11-02\n'
        '[[schedules.overrides]]\nid = "x"  # <-\nuser = "bob"\nstart = 2026-12-01\nend = 2026-12-02\n',
        "id: this schedule has an override 'x' already (line 21)",
    ),
    (
        "unknown parent",
        '[[services]]\nname = "web"\nparent = "dbb"  # <-\n',
        "parent: there is no service named 'dbb'",
    ),
    (
        "parent loop",
        '[[services]]\nname = "a"\nparent = "c"  # <-\n[[services]]\nname = "b"\nparent = "a"\n'
        '[[services]]\nname = "c"\nparent = "b"\n',
        "parent: the parents go round in a loop: a → c → b → a",
    ),
    ("own parent", '[[services]]\nname = "a"\nparent = "a"  # <-\n', "parent: a cannot be its own parent"),
    (
        "unknown policy",
        POLICY + '[[services]]\nname = "web"\nescalation_policy = "defualt"  # <-\n',
        "escalation_policy: there is no escalation policy named 'defualt': did you mean 'default'?",
    ),
    (
        "unknown user target",
        POLICY.replace('["schedule:primary"]', '["schedule:primary", "user:zed"]  # <-'),
        "targets: there is no user named 'zed'",
    ),
    (
        "unknown schedule target",
        POLICY.replace('["schedule:primary"]', '[\n  "user:ann",\n  "schedule:primray",  # <-\n]'),
        "targets: there is no schedule named 'primray': did you mean 'primary'?",
    ),
    (
        "viewer target",
        POLICY.replace('["schedule:primary"]', '["user:vic"]  # <-'),
        "targets: vic is a viewer",
    ),
    (
        "bad target",
        POLICY.replace('["schedule:primary"]', '["team:ops"]  # <-'),
        'each is "user:NAME" or "schedule:NAME"',
    ),
    ("no targets", POLICY.replace('["schedule:primary"]', "[]  # <-"), "targets: a level must page someone"),
    ("no levels", '[[escalation_policies]]\nname = "p"\nlevels = []  # <-\n', "needs at least one level"),
    (
        "participant unknown",
        '\n[[schedules.layers]]\nname = "b"\nanchor = 2026-11-02\n'
        'participants = [\n  "ann",\n  "zoe",  # <-\n]\n',
        "participants: there is no user named 'zoe'",
    ),
    (
        "participant a viewer",
        '\n[[schedules.layers]]\nname = "b"\nanchor = 2026-11-02\nparticipants = ["vic"]  # <-\n',
        "participants: vic is a viewer, who cannot acknowledge",
    ),
    (
        "no participants",
        '\n[[schedules.layers]]\nname = "b"\nanchor = 2026-11-02\nparticipants = []  # <-\n',
        "participants: a layer needs at least one participant",
    ),
    (
        "no layers",
        "!" + USERS + '[[schedules]]\nname = "s"\ntime_zone = "UTC"\nlayers = []  # <-\n',
        "at least one layer",
    ),
    (
        "schedule zone",
        "!" + USERS + SCHEDULE.replace('"Europe/Berlin"', '"Europe/Berln"  # <-'),
        "unknown time zone",
    ),
    ("layer zone", 'time_zone = "CET+1"  # <-\n', "time_zone: unknown time zone 'CET+1'"),
    (
        "user zone",
        '[[users]]\nname = "cy"\ntime_zone = 1  # <-\n',
        "time_zone: must be an IANA time zone name",
    ),
    ("bad handoff", 'handoff = "9am"  # <-\n', 'handoff: must be a local time, as "09:00"'),
    ("handoff with a zone", 'handoff = "09:00+01:00"  # <-\n', "handoff: must be a local time"),
    (
        "bad restriction end",
        'restrictions = [{ start = "09:00", end = "24:00" }]  # <-\n',
        "end: must be a local time",
    ),
    (
        "bad days",
        'restrictions = [{ days = ["mo"], start = "09:00", end = "17:00" }]  # <-\n',
        "days: a list of",
    ),
    (
        "bad anchor",
        "!" + USERS + SCHEDULE.replace("2026-11-02", '"2026-02-30"  # <-'),
        "anchor: must be a date",
    ),
    (
        "anchor a date-time",
        "!" + USERS + SCHEDULE.replace("2026-11-02", "2026-11-02T09:00:00  # <-"),
        "anchor: must be a date",
    ),
    ("bad turn", "!" + USERS + SCHEDULE.replace('turn = "weekly"', 'turn = "fortnightly"  # <-'), "turn: "),
    ("zero turn", "!" + USERS + SCHEDULE.replace('turn = "weekly"', 'turn = "0 days"  # <-'), "turn: "),
    (
        "too long a turn",
        "!" + USERS + SCHEDULE.replace('turn = "weekly"', 'turn = "60 weeks"  # <-'),
        "up to a year",
    ),
    (
        "bad instant",
        '[[schedules.overrides]]\nuser = "ann"\nstart = "tomorrow"  # <-\nend = 2026-11-02\n',
        "start: must be a date and time",
    ),
    (
        "instant out of range",
        '[[schedules.overrides]]\nuser = "ann"\nstart = 0001-01-01T00:00:00+01:00  # <-\nend = 2026-11-02\n',
        "start: 0001-01-01T00:00:00+01:00 is out of range",
    ),
    (
        "layer ends first",
        "starts = 2026-11-02\nends = 2026-11-01  # <-\n",
        "ends: a layer must end after it starts",
    ),
    (
        "override ends first",
        '[[schedules.overrides]]\nuser = "ann"\nstart = 2026-11-02\nend = 2026-11-02  # <-\n',
        "end: an override must end after it starts",
    ),
    (
        "taking one's own shift",
        '[[schedules.overrides]]\nuser = "ann"\nreplaces = "ann"  # <-\n'
        "start = 2026-11-02\nend = 2026-11-03\n",
        "replaces: nobody can take their own shift",
    ),
    (
        "override by nobody known",
        '[[schedules.overrides]]\nuser = "zed"  # <-\nstart = 2026-11-02\nend = 2026-11-03\n',
        "user: there is no user named 'zed'",
    ),
    (
        "override replacing nobody known",
        '[[schedules.overrides]]\nuser = "ann"\nreplaces = "zed"  # <-\n'
        "start = 2026-11-02\nend = 2026-11-03\n",
        "replaces: there is no user named 'zed'",
    ),
    (
        "overlapping overrides",
        '[[schedules.overrides]]\nuser = "ann"\nstart = 2026-11-01\nend = 2026-11-03\n\n'
        '[[schedules.overrides]]  # <-\nuser = "bob"\nreplaces = "ann"\n'
        "start = 2026-11-02\nend = 2026-11-04\n",
        "overrides: this override clashes with the one at line 21. It overlaps an override: ann already",
    ),
    (
        "missing anchor",
        '\n[[schedules.layers]]  # <-\nname = "b"\nparticipants = ["ann"]\n',
        "layer: anchor is missing",
    ),
    ("missing name", "[[users]]  # <-\nrole = 'admin'\n", "user: name is missing"),
    ("missing targets", POLICY + "[[escalation_policies.levels]]  # <-\n", "level: targets is missing"),
]


def bad_text(snippet: str) -> str:
    return snippet[1:] if snippet.startswith("!") else USERS + SCHEDULE + snippet


@pytest.mark.parametrize(("text", "says"), [pytest.param(bad_text(t), says, id=i) for i, t, says in BAD])
def test_a_bad_file_is_refused_with_the_line_of_the_problem(text: str, says: str) -> None:
    marked = [number for number, line in enumerate(text.split("\n"), 1) if "# <-" in line]
    assert len(marked) == 1, "mark the line of the problem with # <-"
    problems = problems_of(text)
    assert all(problem.file == "team.toml" for problem in problems)
    saying = [problem for problem in problems if says in problem.message]
    assert saying, problems
    assert {problem.line for problem in saying} == set(marked), problems


def test_the_end_of_the_file_is_the_last_line_with_something_on_it() -> None:
    (problem,) = problems_of(USERS + '[[services]]\nname = """web\n\n\n')
    assert problem == Problem("team.toml", 12, "not TOML: Unterminated string (at the end of the file)")


def test_every_problem_of_a_file_is_reported_in_line_order() -> None:
    text = """\
[[users]]
name = "ann"
role = "owner"
time_zon = "Europe/Berlin"

[[users]]
name = "ann"

[[users]]
name = "wall"
role = "viewer"

[[services]]
name = "a"
parent = "b"
escalation_policy = "nope"

[[services]]
name = "b"
parent = "a"
ack_timeout_minutes = 0

[[schedules]]
name = "s"
time_zone = "Mars/Base"

[[schedules.layers]]
name = "l"
participants = ["ann", "bob", "wall"]
anchor = "2026-13-01"
handoff = "25:00"
restrictions = [{ days = ["mon", "xyz"], start = "09:00", end = "17:00" }]

[[schedules.overrides]]
user = "ann"
start = 2026-11-01T00:00:00Z
end = 2026-11-02T00:00:00Z

[[schedules.overrides]]
user = "ann"
start = 2026-11-01T12:00:00Z
end = 2026-11-01T00:00:00Z

[[escalation_policies]]
name = "p"
repeats = 12

[[escalation_policies.levels]]
delay_minutes = -5
targets = ["user:zed", "schedule:s", "team:x"]
"""
    found = [(problem.line, problem.message.split(":")[0]) for problem in problems_of(text)]
    assert found == [
        (3, "role"),
        (4, "unknown key 'time_zon' in a user (did you mean time_zone? known"),
        (7, "name"),
        (15, "parent"),  # a → b → a
        (16, "escalation_policy"),
        (21, "ack_timeout_minutes"),
        (25, "time_zone"),
        (29, "participants"),  # bob
        (29, "participants"),  # wall, a viewer
        (30, "anchor"),
        (31, "handoff"),
        (32, "days"),
        (42, "end"),
        (46, "repeats"),
        (49, "delay_minutes"),
        (50, "targets"),  # team:x
        (50, "targets"),  # zed
    ]


def test_a_problem_error_prints_one_problem_a_line() -> None:
    error = ConfigError([Problem("a.toml", 3, "one"), Problem("a.toml", 5, "two")])
    assert str(error) == "a.toml:3: one\na.toml:5: two"


# -- where keys are: the scan behind the line numbers --

TRICKY = '''\
# [[users]] in a comment is no header
title = """
[[users]]
name = "not a key"
"""  # a multi-line string holding what looks like TOML
'quoted.key' = 'a # not a comment'
"dotted"."and quoted" = 1
site.owner = "me"
when = 1979-05-27 07:32:00Z
list = [ # a comment in an array
  1, [2, 3],
  { a = 1, b.c = "}" },
]
nasty = """\\""""
literal = \'\'\'x\'\'\'\'\'

[[users]]
name = "ann"

[a.b]
x = 1

[a]
y = 2

[[users]]
name = "bob"
[users.extra]
z = 3
[[users.pets]]
kind = "cat"
'''


def paths(value: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every key and array element of a parsed document, by path."""
    found = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*path, index))
    return found


def test_the_scan_finds_every_key_at_its_line() -> None:
    found = _locate(TRICKY)
    assert set(paths(tomllib.loads(TRICKY))) <= set(found)
    assert found[("title",)] == 2
    assert found[("quoted.key",)] == 6
    assert found[("dotted", "and quoted")] == 7
    assert found[("when",)] == 9
    assert found[("list", 1, 1)] == 11
    assert found[("list", 2, "b", "c")] == 12
    assert found[("literal",)] == 15
    assert found[("users", 0)] == 17
    assert found[("users", 0, "name")] == 18
    assert found[("a", "b", "x")] == 21
    assert found[("a",)] == 23
    assert found[("users", 1, "name")] == 27
    assert found[("users", 1, "extra", "z")] == 29
    assert found[("users", 1, "pets", 0, "kind")] == 31
    crlf = TRICKY.replace("\n", "\r\n")
    assert _locate(crlf) == found


# -- what applying a file changes --


def test_diff_names_what_changed() -> None:
    old = parse(EXAMPLE.read_text())
    text = (
        EXAMPLE.read_text()
        .replace('name = "jordan"                         # engineering', 'name = "jo"  #')
        .replace('"user:jordan"', '"user:jo"')
        .replace('role = "viewer"', 'role = "responder"')
        .replace("ack_timeout_minutes = 30", "ack_timeout_minutes = 45")
        .replace("anchor = 2026-11-02                     # a Monday", "anchor = 2026-11-09  #")
        .replace('id = "christmas"\nuser = "jordan"', 'id = "christmas"\nuser = "jo"')
        .replace("repeats = 1\n", "repeats = 3\n")
    )
    new = parse(text)
    assert [str(change) for change in diff(old, new)] == [
        "added user jo",
        "removed user jordan",
        "changed user wallboard: role viewer → responder",
        "changed schedule payments-primary: layer weekly changed; override christmas changed",
        "changed escalation policy payments: level 2 changed",
        "changed escalation policy platform: repeats 1 → 3; level 2 changed",
        "changed service checkout-api: ack timeout minutes 30 → 45",
    ]
    assert diff(new, old)[:2] == [Change("removed", "user", "jo"), Change("added", "user", "jordan")]
    assert describe(diff(TeamConfig(), TeamConfig(users=(User("ann"),)))) == "added user ann"


def test_diff_of_layers_overrides_and_levels() -> None:
    layer = Layer("a", ("ann",), "UTC", date(2026, 1, 1))
    other = Layer("b", ("ann",), "UTC", date(2026, 1, 1))
    one = Override("x", "ann", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))
    two = Override("y", "ann", datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 2, 2, tzinfo=UTC))
    before = TeamConfig(schedules=(Schedule("s", (layer, other), (one, two)),))
    after = TeamConfig(schedules=(Schedule("s", (other, layer), (two, one)),))
    assert [str(c) for c in diff(before, after)] == [
        "changed schedule s: layers reordered; overrides reordered"
    ]
    after = TeamConfig(schedules=(Schedule("s", (layer,), (two, one)),))
    assert [str(c) for c in diff(before, after)] == [
        "changed schedule s: layer b removed; overrides reordered"
    ]
    after = TeamConfig(schedules=(Schedule("s", (layer, other), (two, one)),))
    assert [str(c) for c in diff(before, after)] == ["changed schedule s: overrides reordered"]
    level = Level((UserTarget("ann"),))
    assert [
        str(c)
        for c in diff(
            TeamConfig(escalation_policies=(Policy("p", (level, level)),)),
            TeamConfig(escalation_policies=(Policy("p", (level,)),)),
        )
    ] == ["changed escalation policy p: level 2 removed"]
    assert [
        str(c)
        for c in diff(TeamConfig(services=(Service("a"),)), TeamConfig(services=(Service("a", "b", "p"),)))
    ] == ["changed service a: parent none → b; escalation policy none → p"]


# -- any valid configuration, written as a file, reads back the same --

NAME_CHARS = "abcxyz09-_. '\"é:#=[]{}"
names = st.text(NAME_CHARS, min_size=1, max_size=6).filter(lambda text: text == text.strip())
ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
moments = st.integers(0, 400 * 24 * 60).map(
    lambda minutes: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
)
times = st.builds(time, st.integers(0, 23), st.integers(0, 59))
turns = st.one_of(
    st.builds(Turn.daily, st.integers(1, 10)),
    st.builds(Turn.weekly, st.integers(1, 4)),
    st.builds(lambda m: Turn.custom(timedelta(minutes=m)), st.integers(1, 14 * 24 * 60)),
)
restrictions = st.builds(Restriction, times, times, st.frozensets(st.integers(0, 6), min_size=1))


@dataclass(frozen=True)
class Style:
    """How a file is written: what the format allows people to write differently."""

    quoted_keys: bool
    literal_strings: bool
    comments: bool
    inline_levels: bool
    toml_times: bool
    crlf: bool


@st.composite
def configs(draw: st.DrawFn) -> TeamConfig:
    user_names = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    users = [User(user_names[0], "responder", draw(st.none() | st.sampled_from(ZONES)))]
    users += [
        User(name, draw(st.sampled_from(ROLES)), draw(st.none() | st.sampled_from(ZONES)))
        for name in user_names[1:]
    ]
    people = [user.name for user in users if user.role != "viewer"]
    schedules = []
    for name in draw(st.lists(names, max_size=2, unique=True)):
        layers = []
        for layer_name in draw(st.lists(names, min_size=1, max_size=2, unique=True)):
            bounds = sorted(draw(st.lists(moments, min_size=2, max_size=2, unique=True)))
            starts = bounds[0] if draw(st.booleans()) else None
            ends = bounds[1] if draw(st.booleans()) else None
            layers.append(
                Layer(
                    layer_name,
                    tuple(draw(st.lists(st.sampled_from(people), min_size=1, max_size=3))),
                    draw(st.sampled_from(ZONES)),
                    draw(st.dates(date(2025, 1, 1), date(2027, 12, 31))),
                    draw(times),
                    draw(turns),
                    tuple(sorted(set(draw(st.lists(restrictions, max_size=2))), key=restriction_key)),
                    starts,
                    ends,
                )
            )
        overrides: list[Override] = []
        for number in range(draw(st.integers(0, 3))):
            start = draw(moments)
            user = draw(st.sampled_from(people))
            others = [person for person in user_names if person != user]
            replaces = draw(st.none() | st.sampled_from(others)) if others else None
            override = Override(
                draw(st.sampled_from([f"override-{number + 1}", f"o{number}"])),
                user,
                start,
                start + timedelta(minutes=draw(st.integers(1, 3000))),
                replaces,
            )
            if not overlapping(overrides, override) and override.id not in {o.id for o in overrides}:
                overrides.append(override)
        schedules.append(Schedule(name, tuple(layers), tuple(overrides)))
    targets = st.one_of(
        st.sampled_from(people).map(UserTarget),
        *([st.sampled_from([s.name for s in schedules]).map(ScheduleTarget)] if schedules else []),
    )
    policies = [
        Policy(
            name,
            tuple(
                Level(tuple(draw(st.lists(targets, min_size=1, max_size=3))), draw(st.integers(1, 120)))
                for _ in range(draw(st.integers(1, 3)))
            ),
            draw(st.integers(0, 9)),
        )
        for name in draw(st.lists(names, max_size=2, unique=True))
    ]
    services: list[Service] = []
    for name in draw(st.lists(names, max_size=4, unique=True)):
        parent = draw(st.none() | st.sampled_from([s.name for s in services])) if services else None
        policy = draw(st.none() | st.sampled_from([p.name for p in policies])) if policies else None
        services.append(Service(name, parent, policy, draw(st.none() | st.integers(1, 600))))
    return TeamConfig(tuple(users), tuple(services), tuple(schedules), tuple(policies))


def restriction_key(restriction: Restriction) -> tuple[tuple[int, ...], time, time]:
    return tuple(sorted(restriction.days)), restriction.start, restriction.end


def render(config: TeamConfig, style: Style) -> str:
    """`config` as a file, written as `style` says."""

    def key(name: str) -> str:
        return f'"{name}"' if style.quoted_keys else name

    def text(value: str) -> str:
        if style.literal_strings and "'" not in value:
            return f"'{value}'"
        return json.dumps(value, ensure_ascii=False)

    def clock(value: time) -> str:
        return f"{value:%H:%M}:00" if style.toml_times else f'"{value:%H:%M}"'

    def instant(value: datetime) -> str:
        return value.isoformat()

    def turn(value: Turn) -> str:
        if value.days:
            return f'"{value.days // 7} weeks"' if value.days % 7 == 0 else f'"{value.days} days"'
        minutes = value.length // timedelta(minutes=1)
        return f'"{minutes // 60} hours"' if minutes % 60 == 0 else f'"{minutes} minutes"'

    comment = "  # a comment = [[users]]" if style.comments else ""
    out: list[str] = []

    def pair(name: str, value: str) -> None:
        out.append(f"{key(name)} = {value}{comment}")

    for user in config.users:
        out += ["", "[[users]]"]
        pair("name", text(user.name))
        pair("role", text(user.role))
        if user.time_zone is not None:
            pair("time_zone", text(user.time_zone))
    for service in config.services:
        out += ["", "[[services]]"]
        pair("name", text(service.name))
        if service.parent is not None:
            pair("parent", text(service.parent))
        if service.escalation_policy is not None:
            pair("escalation_policy", text(service.escalation_policy))
        if service.ack_timeout_minutes is not None:
            pair("ack_timeout_minutes", str(service.ack_timeout_minutes))
    for schedule in config.schedules:
        out += ["", "[[schedules]]"]
        pair("name", text(schedule.name))
        pair("time_zone", text(schedule.layers[0].time_zone))
        for layer in schedule.layers:
            out += ["", "[[schedules.layers]]"]
            pair("name", text(layer.name))
            pair("participants", "[" + ", ".join(text(p) for p in layer.participants) + "]")
            pair("time_zone", text(layer.time_zone))
            pair("anchor", layer.anchor.isoformat())
            pair("handoff", clock(layer.handoff))
            pair("turn", turn(layer.turn))
            if layer.restrictions:
                out.append(f"{key('restrictions')} = [{comment}")
                for restriction in layer.restrictions:
                    days = ", ".join(f'"{DAYS[day]}"' for day in sorted(restriction.days))
                    start, end = clock(restriction.start), clock(restriction.end)
                    out.append(f"  {{ days = [{days}], start = {start}, end = {end} }},{comment}")
                out.append("]")
            if layer.starts is not None:
                pair("starts", instant(layer.starts))
            if layer.ends is not None:
                pair("ends", text(instant(layer.ends)))
        for override in schedule.overrides:
            out += ["", "[[schedules.overrides]]"]
            pair("id", text(override.id))
            pair("user", text(override.user))
            pair("start", instant(override.start))
            pair("end", instant(override.end))
            if override.replaces is not None:
                pair("replaces", text(override.replaces))
    for policy in config.escalation_policies:
        out += ["", "[[escalation_policies]]"]
        pair("name", text(policy.name))
        pair("repeats", str(policy.repeats))
        levels = []
        for level in policy.levels:
            written = [
                f"user:{t.user}" if isinstance(t, UserTarget) else f"schedule:{t.schedule}"
                for t in level.targets
            ]
            levels.append(("[" + ", ".join(text(t) for t in written) + "]", str(level.delay_minutes)))
        if style.inline_levels:
            out.append(f"{key('levels')} = [")
            out += [
                f"  {{ targets = {targets}, delay_minutes = {delay} }},{comment}" for targets, delay in levels
            ]
            out.append("]")
        else:
            for targets, delay in levels:
                out += ["", "[[escalation_policies.levels]]"]
                pair("targets", targets)
                pair("delay_minutes", delay)
    return ("\r\n" if style.crlf else "\n").join(out) + "\n"


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
styles = st.builds(Style, *(st.booleans() for _ in range(6)))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs(), styles)
def test_any_configuration_written_as_a_file_reads_back_the_same(config: TeamConfig, style: Style) -> None:
    text = render(config, style)
    assert parse(text) == config
    assert set(paths(tomllib.loads(text))) <= set(_locate(text))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs(), styles, st.data())
def test_a_misspelt_key_is_reported_at_its_line(
    config: TeamConfig, style: Style, data: st.DataObject
) -> None:
    lines = render(config, style).split("\n")
    keyed = [number for number, line in enumerate(lines) if re.match(r'\s*(\{ )?"?[a-z_]+"? = ', line)]
    number = data.draw(st.sampled_from(keyed))
    lines[number] = re.sub(r'^(\s*(?:\{ )?"?)([a-z_]+)', r"\1x\2", lines[number], count=1)
    problems = problems_of("\n".join(lines))
    assert any(p.line == number + 1 and p.message.startswith("unknown key 'x") for p in problems), problems


# -- anything else is refused, at a line of the file, and nothing else is raised --


def lines_exist(problems: tuple[Problem, ...], text: str) -> bool:
    return all(1 <= problem.line <= text.count("\n") + 1 for problem in problems)


def refusal(text: str) -> tuple[Problem, ...] | None:
    """The problems of `text`, or None if it reads; any other exception fails the test."""
    try:
        parse(text)
    except ConfigError as exc:
        return exc.problems
    return None


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_reads_or_is_refused_at_its_lines(text: str) -> None:
    problems = refusal(text)
    assert problems is None or (problems and lines_exist(problems, text))


TOKENS = ['"', "'", "[", "]", "[[", "]]", "{", "}", "=", ",", "#", "\n", " ", ".", '"""', "x", "1", "-", ":"]
edits = st.tuples(
    st.integers(0, 10**6),
    st.integers(0, 20),
    st.lists(st.sampled_from(TOKENS) | st.characters(), max_size=4).map("".join),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(edits, min_size=1, max_size=4), st.booleans())
def test_a_damaged_example_reads_or_is_refused_at_its_lines(
    changes: list[tuple[int, int, str]], lines: bool
) -> None:
    text = EXAMPLE.read_text()
    for where, length, insert in changes:
        if lines:  # whole lines: dropped, repeated, replaced
            rows = text.split("\n")
            row = where % len(rows)
            rows[row : row + length % 3] = [insert] if insert else [rows[row]] * 2
            text = "\n".join(rows)
        else:
            at = where % (len(text) + 1)
            text = text[:at] + insert + text[at + length % 4 :]
    problems = refusal(text)
    if problems is None:
        return
    assert problems
    assert lines_exist(problems, text)
    try:
        document = tomllib.loads(text.removeprefix("\ufeff"))
    except tomllib.TOMLDecodeError:
        return
    assert set(paths(document)) <= set(_locate(text.removeprefix("\ufeff")))
