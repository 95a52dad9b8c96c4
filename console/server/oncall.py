"""On-call data in the server database: the team file applied (`admin apply`), and read back as domain
values for the escalation engine and `oncall`.

Applying makes schedules and escalation policies exactly what the file says. Users and services are
added and changed; ones the file leaves out are kept (they may have been made with `admin add-user`,
and a service has incidents), unless `prune` asks to remove them. Overrides from the file replace
the file's earlier ones; overrides made on consoles are kept.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, Connection, Engine, Table, delete, insert, select, update

from console.config_export import config_fingerprint, console_edit_problems, console_merge
from console.config_file import Change, ConfigError, Problem, Service, TeamConfig, User, diff, parse
from console.domain.clock import Hlc
from console.domain.escalation import Policy
from console.domain.ids import uuid7
from console.domain.oncall_json import layers_from_json, layers_json, levels_json, policy_from_json
from console.domain.schedule import Override, Schedule
from console.server.admin import AdminError, change_seq, new_integration_key
from console.server.directory import token_hash
from console.server.tables import (
    escalation_policies,
    incidents,
    integrations,
    overrides,
    schedules,
    services,
    tombstones,
    users,
)

if TYPE_CHECKING:  # push.py imports this module for its handler
    from console.server.push import Applying, PushedOp


@dataclass(frozen=True, slots=True)
class Applied:
    changes: list[Change]
    tokens: dict[str, str] = field(default_factory=dict)  # new user -> API token (shown once)
    keys: dict[str, str] = field(default_factory=dict)  # new service -> its integration (routing) key


def read_config(conn: Connection) -> TeamConfig:
    """The database's on-call configuration, shaped as a team file would declare it (overrides from
    the file only)."""
    policy_names = {row.id: row.name for row in conn.execute(select(escalation_policies))}
    service_names = {row.id: row.name for row in conn.execute(select(services.c.id, services.c.name))}
    return TeamConfig(
        users=tuple(
            User(row.name, row.role, row.time_zone)
            for row in conn.execute(select(users.c.name, users.c.role, users.c.time_zone))
        ),
        services=tuple(
            Service(
                row.name,
                service_names.get(row.parent_id) if row.parent_id is not None else None,
                policy_names.get(row.escalation_policy_id) if row.escalation_policy_id is not None else None,
                row.ack_timeout_minutes,
            )
            for row in conn.execute(select(services))
        ),
        schedules=tuple(read_schedules(conn, origin="file").values()),
        escalation_policies=tuple(read_policies(conn).values()),
    )


def read_schedules(conn: Connection, *, origin: str | None = None) -> dict[str, Schedule]:
    """Every schedule by name, with its overrides (all of them, or those of one origin)."""
    found: dict[int, list[Override]] = {}
    # The last override that applies wins: the file's in file order, then consoles' as made.
    query = select(overrides).order_by(overrides.c.origin.desc(), overrides.c.id)
    if origin is not None:
        query = query.where(overrides.c.origin == origin)
    for row in conn.execute(query):
        label = row.label if row.origin == "file" else row.id
        found.setdefault(row.schedule_id, []).append(
            Override(label, row.user, row.start, row.end, row.replaces)
        )
    return {
        row.name: Schedule(row.name, layers_from_json(row.layers), tuple(found.get(row.id, ())))
        for row in conn.execute(select(schedules))
    }


def read_policies(conn: Connection) -> dict[str, Policy]:
    return {
        row.name: policy_from_json(row.name, row.repeats, row.levels)
        for row in conn.execute(select(escalation_policies))
    }


def planned_changes(conn: Connection, config: TeamConfig, *, prune: bool = False) -> list[Change]:
    """What `apply_config` would change (`admin apply --dry-run`)."""
    current = read_config(conn)
    return diff(current, config if prune else _keeping(current, config))


def apply_config(engine: Engine, config: TeamConfig, *, prune: bool = False) -> Applied:
    """Make the database say what `config` says, in one transaction; nothing when it already does."""
    with engine.connect() as conn, conn.begin() as transaction:
        now = datetime.now(UTC)
        seq = change_seq(conn, now)
        current = read_config(conn)
        wanted = config if prune else _keeping(current, config)
        changes = diff(current, wanted)
        if not changes:
            transaction.rollback()  # not even an empty change in the log
            return Applied([])
        tokens, keys = _apply(conn, current, wanted, at=now, seq=seq)
    return Applied(changes, tokens, keys)


def _keeping(current: TeamConfig, config: TeamConfig) -> TeamConfig:
    """`config` plus the users and services it leaves out (kept without --prune)."""
    named_users = {u.name for u in config.users}
    named_services = {s.name for s in config.services}
    return replace(
        config,
        users=config.users + tuple(u for u in current.users if u.name not in named_users),
        services=config.services + tuple(s for s in current.services if s.name not in named_services),
    )


def _apply(
    conn: Connection, old: TeamConfig, new: TeamConfig, *, at: datetime, seq: int
) -> tuple[dict[str, str], dict[str, str]]:
    tokens: dict[str, str] = {}
    keys: dict[str, str] = {}
    # users
    for user in new.users:
        known = old.user(user.name)
        if known is None:
            token = secrets.token_urlsafe(32)
            tokens[user.name] = token
            conn.execute(
                insert(users).values(
                    name=user.name,
                    role=user.role,
                    time_zone=user.time_zone,
                    token_hash=token_hash(token),
                    created_at=at,
                    seq=seq,
                )
            )
        elif known != user:
            conn.execute(
                update(users)
                .where(users.c.name == user.name)
                .values(role=user.role, time_zone=user.time_zone, seq=seq)
            )
    for user in old.users:
        if new.user(user.name) is None:
            _remove(conn, users, "users", user.name, seq)
    # schedules, with the file's overrides
    schedule_ids = _write_named(
        conn, schedules, {s.name: {"layers": layers_json(s.layers)} for s in new.schedules}, seq
    )
    for schedule in new.schedules:
        if schedule == old.schedule(schedule.name):
            continue
        sid = schedule_ids[schedule.name]
        _remove_overrides(conn, (overrides.c.schedule_id == sid) & (overrides.c.origin == "file"), seq)
        for override in schedule.overrides:
            conn.execute(
                insert(overrides).values(
                    id=uuid7(),
                    schedule_id=sid,
                    label=override.id,
                    user=override.user,
                    start=override.start,
                    end=override.end,
                    replaces=override.replaces,
                    origin="file",
                    created_by="admin",
                    seq=seq,
                )
            )
    # policies, then services (which name them)
    policy_ids = _write_named(
        conn,
        escalation_policies,
        {p.name: {"repeats": p.repeats, "levels": levels_json(p.levels)} for p in new.escalation_policies},
        seq,
    )
    service_ids = {row.name: row.id for row in conn.execute(select(services.c.id, services.c.name))}
    for service in new.services:  # parents first would need an order: insert all, then link
        if service.name not in service_ids:
            service_ids[service.name], keys[service.name] = _add_service(conn, service.name, at, seq)
    for service in new.services:
        if service == old.service(service.name):
            continue
        conn.execute(
            update(services)
            .where(services.c.name == service.name)
            .values(
                parent_id=service_ids[service.parent] if service.parent else None,
                escalation_policy_id=policy_ids[service.escalation_policy]
                if service.escalation_policy
                else None,
                ack_timeout_minutes=service.ack_timeout_minutes,
                seq=seq,
            )
        )
    for service in old.services:
        if new.service(service.name) is None:
            sid = service_ids[service.name]
            if conn.execute(select(incidents.c.id).where(incidents.c.service_id == sid).limit(1)).first():
                raise AdminError(f"Service {service.name!r} has incidents: it cannot be removed.")
            conn.execute(delete(integrations).where(integrations.c.service_id == sid))
            _remove(conn, services, "services", service.name, seq)
    # policies and schedules the file no longer has, once nothing names them
    for policy in old.escalation_policies:
        if new.escalation_policy(policy.name) is None:
            _remove(conn, escalation_policies, "escalation_policies", policy.name, seq)
    for schedule in old.schedules:
        if new.schedule(schedule.name) is None:
            sid = conn.execute(select(schedules.c.id).where(schedules.c.name == schedule.name)).scalar_one()
            _remove_overrides(conn, overrides.c.schedule_id == sid, seq)
            _remove(conn, schedules, "schedules", schedule.name, seq)
    return tokens, keys


def _write_named(
    conn: Connection, table: Table, wanted: Mapping[str, Mapping[str, object]], seq: int
) -> dict[str, int]:
    """Insert or update rows keyed by name; returns every wanted name's id."""
    known = {row.name: row for row in conn.execute(select(table))}
    ids: dict[str, int] = {}
    for name, values in wanted.items():
        row = known.get(name)
        if row is None:
            inserted = conn.execute(insert(table).values(name=name, seq=seq, **values))
            ids[name] = int(inserted.inserted_primary_key[0])  # type: ignore[index]
        else:
            ids[name] = row.id
            if any(getattr(row, key) != value for key, value in values.items()):
                conn.execute(update(table).where(table.c.id == row.id).values(seq=seq, **values))
    return ids


def _add_service(conn: Connection, name: str, at: datetime, seq: int) -> tuple[int, str]:
    """A new service with one integration: its id and the integration's key."""
    inserted = conn.execute(insert(services).values(name=name, created_at=at, seq=seq))
    service_id = int(inserted.inserted_primary_key[0])  # type: ignore[index]
    key = new_integration_key()
    conn.execute(insert(integrations).values(service_id=service_id, key=key, created_at=at))
    return service_id, key


def _remove(conn: Connection, table: Table, entity: str, name: str, seq: int) -> None:
    row_id = conn.execute(select(table.c.id).where(table.c.name == name)).scalar_one()
    conn.execute(delete(table).where(table.c.id == row_id))
    conn.execute(insert(tombstones).values(seq=seq, entity=entity, entity_id=str(row_id)))


def _remove_overrides(conn: Connection, which: ColumnElement[bool], seq: int) -> None:
    for override_id in list(conn.execute(select(overrides.c.id).where(which)).scalars()):
        conn.execute(delete(overrides).where(overrides.c.id == override_id))
        conn.execute(insert(tombstones).values(seq=seq, entity="overrides", entity_id=override_id))


# -- the console's editor: a team file pushed as an op (console.config_export) --

CONSOLE_EDITORS = ("manager", "admin")
STALE = "Someone changed the schedules meanwhile: reopen the editor and apply your change again."


def apply_console_config(
    conn: Connection, text: str, *, base: str, user_role: str, at: datetime, seq: int
) -> tuple[str, str]:
    """Apply a team file from a console's editor, in the push's transaction: ("applied" | "noop" |
    "rejected", reason). It sets schedules, escalation policies and services' policies and
    acknowledgement timeouts; users, services' existence and parents, and overrides stay (see
    console_edit_problems). `base` is the fingerprint the editor started from: a configuration
    changed since is not overwritten (compare-and-set). `at` is the push's time (kept for symmetry
    with apply_config: nothing made here records it)."""
    del at
    if user_role.casefold() not in CONSOLE_EDITORS:
        return "rejected", "Only a manager or an admin can change schedules and escalation policies."
    try:
        edited = parse(text, "the configuration")
    except ConfigError as exc:
        return "rejected", _lines(exc.problems)
    current = read_config(conn)  # overrides from the file only: the console's are in no TeamConfig
    refused = console_edit_problems(current, edited, text, "the configuration")
    wanted = console_merge(current, edited)
    if not refused and wanted == current:
        return "noop", "Nothing to change: the schedules and policies say this already."
    if base != config_fingerprint(current):
        return "rejected", STALE
    if refused:
        return "rejected", _lines(refused)
    _apply_console(conn, current, wanted, seq)
    return "applied", ""


def oncall_config_op(applying: Applying, pushed: PushedOp, stamp: Hlc) -> tuple[str, str]:
    """console.server.push.HANDLERS' handler of ONCALL_CONFIG: args {"text", "base"}."""
    text, base = pushed.args.get("text"), pushed.args.get("base")
    if not isinstance(text, str) or not isinstance(base, str):
        return "rejected", "text, base: the op carries the file's text and the fingerprint it started from"
    role = applying.conn.execute(select(users.c.role).where(users.c.name == applying.push.user_name)).scalar()
    return apply_console_config(
        applying.conn, text, base=base, user_role=role or "", at=applying.at, seq=applying.seq
    )


def _lines(problems: Iterable[Problem]) -> str:
    return "\n".join(f"line {problem.line}: {problem.message}" for problem in problems)


def _apply_console(conn: Connection, old: TeamConfig, new: TeamConfig, seq: int) -> None:
    """_apply's steps for what the console's edit may change: overrides are not rewritten (their ids
    stay, so a console's pending removal still finds them), users and services neither made nor
    removed."""
    _write_named(conn, schedules, {s.name: {"layers": layers_json(s.layers)} for s in new.schedules}, seq)
    policy_ids = _write_named(
        conn,
        escalation_policies,
        {p.name: {"repeats": p.repeats, "levels": levels_json(p.levels)} for p in new.escalation_policies},
        seq,
    )
    for service in new.services:
        if service == old.service(service.name):
            continue
        policy = service.escalation_policy
        conn.execute(
            update(services)
            .where(services.c.name == service.name)
            .values(
                escalation_policy_id=policy_ids[policy] if policy else None,
                ack_timeout_minutes=service.ack_timeout_minutes,
                seq=seq,
            )
        )
    for policy_gone in old.escalation_policies:
        if new.escalation_policy(policy_gone.name) is None:
            _remove(conn, escalation_policies, "escalation_policies", policy_gone.name, seq)
    for schedule in old.schedules:
        if new.schedule(schedule.name) is None:
            sid = conn.execute(select(schedules.c.id).where(schedules.c.name == schedule.name)).scalar_one()
            _remove_overrides(conn, overrides.c.schedule_id == sid, seq)  # the console's too
            _remove(conn, schedules, "schedules", schedule.name, seq)
