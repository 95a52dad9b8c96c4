"""A team file from a console's editor, applied on a real SQLite file: managers and admins only;
schedules, policies and services' policies change, users, services and overrides stay; problems are
refused with their lines; a second apply changes nothing; a stale base is refused (compare-and-set).
The push handler is checked through apply_push with it registered as push.py's HANDLERS will be, and
the console replica's read_team, pulled from this server, has the server's fingerprint."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, create_engine, select

from console.config_export import (
    ONCALL_CONFIG,
    ONCALL_CONFIG_ENTITY,
    config_fingerprint,
    export_team,
    without_overrides,
)
from console.config_file import Service, TeamConfig, load
from console.domain.clock import stamp_at
from console.domain.escalation import Policy
from console.domain.ids import uuid7
from console.domain.oncall import OVERRIDE_ADD
from console.server import push
from console.server.changes import next_seq
from console.server.database import migrate, open_engine
from console.server.ingest import incident_numbers
from console.server.oncall import STALE, apply_config, apply_console_config, oncall_config_op, read_config
from console.server.pull import read_page
from console.server.push import Push, PushedOp, apply_push
from console.server.tables import escalation_policies, overrides, schedules, services, tombstones, users
from console.store.oncall import read_team
from console.store.replica import Replica

EXAMPLE = Path(__file__).resolve().parents[2] / "resources" / "examples" / "team.toml"
T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_engine(f"sqlite:///{tmp_path / 'server.db'}", writer=True)
    migrate(engine)
    apply_config(engine, load(EXAMPLE))
    yield engine
    engine.dispose()


def current(engine: Engine) -> TeamConfig:
    with engine.connect() as conn:
        return read_config(conn)


def policy_of(engine: Engine, name: str) -> Policy:
    found = current(engine).escalation_policy(name)
    assert found is not None
    return found


def editor_text(engine: Engine) -> tuple[str, str]:
    """What the editor opens with: the text and its base."""
    config = without_overrides(current(engine))
    return export_team(config), config_fingerprint(config)


def edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def apply(engine: Engine, text: str, base: str, role: str = "manager") -> tuple[str, str, int]:
    with engine.begin() as conn:
        seq = next_seq(conn, T0, "test")
        status, reason = apply_console_config(conn, text, base=base, user_role=role, at=T0, seq=seq)
    return status, reason, seq


def line_of(text: str, fragment: str) -> int:
    return text[: text.index(fragment)].count("\n") + 1


def test_an_edit_changes_schedules_policies_and_services_and_keeps_the_overrides(engine: Engine) -> None:
    with engine.connect() as conn:
        overrides_before = sorted(tuple(row) for row in conn.execute(select(overrides)))
    text, base = editor_text(engine)
    text = edit(text, 'participants = ["sam", "priya"]', 'participants = ["priya", "sam"]')
    text = edit(text, 'name = "payments"\nrepeats = 2', 'name = "payments"\nrepeats = 1')
    text = edit(
        text, 'escalation_policy = "platform"', 'escalation_policy = "payments"\nack_timeout_minutes = 20'
    )
    status, reason, seq = apply(engine, text, base)
    assert (status, reason) == ("applied", "")
    after = current(engine)
    schedule = after.schedule("payments-primary")
    assert schedule is not None
    assert schedule.layers[0].participants == ("priya", "sam")
    assert [o.id for o in schedule.overrides] == ["christmas", "sam-away"]  # the file's overrides stay
    policy = after.escalation_policy("payments")
    assert policy is not None
    assert policy.repeats == 1
    assert after.service("auth") == Service("auth", "k8s-platform", "payments", 20)
    with engine.connect() as conn:
        assert sorted(tuple(row) for row in conn.execute(select(overrides))) == overrides_before  # ids too
        changed = {
            row.name
            for table in (schedules, escalation_policies, services)
            for row in conn.execute(select(table.c.name).where(table.c.seq == seq))
        }
    assert changed == {"payments-primary", "payments", "auth"}  # consoles pull exactly these


def test_a_console_override_survives_an_edit_of_its_schedule(engine: Engine) -> None:
    with engine.begin() as conn:
        seq = next_seq(conn, T0, "test")
        schedule_id = conn.execute(
            select(schedules.c.id).where(schedules.c.name == "payments-primary")
        ).scalar_one()
        user_id = conn.execute(select(users.c.id).where(users.c.name == "jordan")).scalar_one()
        args: dict[str, Any] = {
            "schedule_id": schedule_id,
            "user": "jordan",
            "start": (T0 + timedelta(days=40)).isoformat(),
            "end": (T0 + timedelta(days=41)).isoformat(),
        }
        op = PushedOp(1, uuid7(), OVERRIDE_ADD, uuid7(), args, stamp_at(T0, "console-1").encode(), 0)
        [result] = apply_push(
            conn,
            Push("console-1", user_id, "jordan", 1, [op]),
            at=T0,
            seq=seq,
            numbers=incident_numbers(conn),
        ).results
        assert result.status == "applied", result.reason
    text, base = editor_text(engine)
    assert apply(engine, edit(text, 'handoff = "09:00"', 'handoff = "10:00"'), base)[0] == "applied"
    with engine.connect() as conn:
        assert conn.execute(
            select(overrides.c.id).where(overrides.c.origin == "console")
        ).scalars().all() == [op.entity_id]


def test_applying_the_same_text_twice_changes_nothing_the_second_time(engine: Engine) -> None:
    text, base = editor_text(engine)
    assert apply(engine, text, base)[:2] == (
        "noop",
        "Nothing to change: the schedules and policies say this already.",
    )
    changed = edit(text, "delay_minutes = 15", "delay_minutes = 5")
    assert apply(engine, changed, base)[0] == "applied"
    before = current(engine)
    status, _, seq = apply(engine, changed, config_fingerprint(before))
    assert status == "noop"
    assert current(engine) == before
    with engine.connect() as conn:
        for table in (schedules, escalation_policies, services, overrides):
            assert conn.execute(select(table).where(table.c.seq == seq)).first() is None


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("manager", True), ("Admin", True), ("responder", False), ("viewer", False), ("", False)],
)
def test_only_managers_and_admins_may(engine: Engine, role: str, allowed: bool) -> None:
    text, base = editor_text(engine)
    status, reason, _ = apply(engine, edit(text, "repeats = 2", "repeats = 3"), base, role=role)
    if allowed:
        assert status == "applied"
    else:
        assert (status, reason) == (
            "rejected",
            "Only a manager or an admin can change schedules and escalation policies.",
        )
        assert policy_of(engine, "payments").repeats == 2


def test_a_file_with_problems_is_rejected_with_their_lines(engine: Engine) -> None:
    text, base = editor_text(engine)
    text = edit(text, 'turn = "12 hours"', 'turn = "fortnightly"')
    text = edit(text, 'targets = ["user:jordan"]', 'targets = ["user:jordna"]')
    status, reason, _ = apply(engine, text, base)
    assert status == "rejected"
    turn, target = line_of(text, "fortnightly"), line_of(text, "user:jordna")
    assert reason.split("\n") == [
        f'line {turn}: turn: "daily", "weekly", "N days", "N weeks", "N hours" or "N minutes" '
        '(up to a year), as "12 hours"',
        f"line {target}: targets: there is no user named 'jordna': did you mean 'jordan'?",
    ]


def test_users_and_new_services_are_not_made_here_and_services_left_out_stay(engine: Engine) -> None:
    text, base = editor_text(engine)
    newcomer = text + '\n[[users]]\nname = "alex"\n'
    status, reason, _ = apply(engine, newcomer, base)
    assert status == "rejected"
    assert reason == (
        f"line {line_of(newcomer, 'alex')}: name: there is no user named 'alex' here: "
        "people are added with `admin add-user`, not in this editor"
    )
    new_service = text + '\n[[services]]\nname = "search"\nescalation_policy = "payments"\n'
    assert apply(engine, new_service, base)[:2] == (
        "rejected",
        f"line {line_of(new_service, 'search')}: name: there is no service named 'search': "
        "services are added with `admin apply`",
    )
    start = text.index('[[services]]\nname = "payments-gateway"')
    without_gateway = text[:start] + text[text.index("\n\n", start) + 2 :]
    assert "payments-gateway" not in without_gateway
    assert apply(engine, edit(without_gateway, "repeats = 1", "repeats = 0"), base)[0] == "applied"
    assert current(engine).service("payments-gateway") is not None  # never removed from here


def test_a_policy_and_a_schedule_can_be_removed(engine: Engine) -> None:
    config = without_overrides(current(engine))
    base = config_fingerprint(config)
    slim = TeamConfig(
        config.users,
        tuple(
            s if s.escalation_policy != "platform" else Service(s.name, s.parent, "payments")
            for s in config.services
        ),
        config.schedules,
        config.escalation_policies,
    )
    text = export_team(slim)
    text = text[: text.index('[[escalation_policies]]\nname = "platform"')]
    text = edit(text, 'targets = ["user:morgan", "schedule:platform-primary"]', 'targets = ["user:morgan"]')
    start = text.index('[[schedules]]\nname = "platform-primary"')
    text = text[:start] + text[text.index("# -- escalation policies --") :]
    assert apply(engine, text, base)[:2] == ("applied", "")
    after = current(engine)
    assert after.escalation_policy("platform") is None
    assert after.schedule("platform-primary") is None
    with engine.connect() as conn:
        gone = {row.entity for row in conn.execute(select(tombstones.c.entity))}
    assert {"escalation_policies", "schedules"} <= gone


def test_a_stale_base_is_refused_and_the_same_change_is_a_noop(engine: Engine) -> None:
    text, base = editor_text(engine)
    first = edit(text, "delay_minutes = 10", "delay_minutes = 12")
    second = edit(text, "delay_minutes = 20", "delay_minutes = 25")
    assert apply(engine, first, base)[0] == "applied"
    assert apply(engine, second, base)[:2] == ("rejected", STALE)
    assert policy_of(engine, "platform").levels[1].delay_minutes == 20
    assert apply(engine, first, base)[0] == "noop"  # someone made exactly this change: nothing lost


def test_the_push_handler_applies_the_op_with_the_pusher_s_role(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(push.HANDLERS, ONCALL_CONFIG, oncall_config_op)  # what push.py registers
    text, base = editor_text(engine)
    changed = edit(text, "delay_minutes = 30", "delay_minutes = 45")
    client_seqs: dict[str, Iterator[int]] = {}  # each console numbers its own ops

    def push_as(name: str, args: dict[str, Any]) -> tuple[str, str]:
        with engine.begin() as conn:
            seq = next_seq(conn, T0, "test")
            user_id = conn.execute(select(users.c.id).where(users.c.name == name)).scalar_one()
            number = next(client_seqs.setdefault(name, itertools.count(1)))
            stamp = stamp_at(T0, f"console-{name}").encode()
            op = PushedOp(number, uuid7(), ONCALL_CONFIG, ONCALL_CONFIG_ENTITY, args, stamp, 0)
            pushed = Push(f"console-{name}", user_id, name, 1, [op])
            [result] = apply_push(conn, pushed, at=T0, seq=seq, numbers=incident_numbers(conn)).results
            return result.status, result.reason

    assert push_as("sam", {"text": changed, "base": base})[0] == "rejected"  # a responder
    assert push_as("jordan", {"text": changed}) == (
        "rejected",
        "text, base: the op carries the file's text and the fingerprint it started from",
    )
    assert push_as("jordan", {"text": changed, "base": base}) == ("applied", "")
    assert policy_of(engine, "payments").levels[2].delay_minutes == 45


def pull_into(engine: Engine, replica: Replica, cursor: str = "") -> str:
    """Every change after `cursor` into the replica, as JSON over the wire; the new cursor."""
    more = True
    while more:
        with engine.connect() as conn:
            page = orjson.loads(orjson.dumps(read_page(conn, cursor, 100)))
        replica.apply_page(page)
        cursor, more = page["cursor"], page["more"]
    return cursor


def test_the_replica_s_team_has_the_server_s_fingerprint_before_and_after_an_edit(
    engine: Engine, tmp_path: Path
) -> None:
    replica = Replica(tmp_path / "replica.db")
    replica.set_server("http://server", "jordan")
    cursor = pull_into(engine, replica)
    console = create_engine(f"sqlite:///{tmp_path / 'replica.db'}")
    with console.connect() as conn:
        team = read_team(conn)
    assert team == without_overrides(current(engine))  # as the server has it, overrides left to On call
    text = export_team(team)
    edited = edit(text, 'turn = "12 hours"', 'turn = "8 hours"')
    edited = edited[: edited.index('[[escalation_policies]]\nname = "platform"')]  # and a policy goes
    edited = edit(edited, 'escalation_policy = "platform"', 'escalation_policy = "payments"')
    edited = edit(edited, 'escalation_policy = "platform"', 'escalation_policy = "payments"')
    assert apply(engine, edited, config_fingerprint(team))[:2] == ("applied", "")
    pull_into(engine, replica, cursor)  # the changed rows and the policy's tombstone
    with console.connect() as conn:
        team = read_team(conn)
    assert config_fingerprint(team) == config_fingerprint(current(engine))
    assert [p.name for p in team.escalation_policies] == ["payments"]
    console.dispose()
    replica.close()
