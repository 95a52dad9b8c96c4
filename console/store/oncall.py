"""On-call reads of the replica (schedules, overrides, pages) and the override ops the console makes.

Overrides made here are outbox ops until the server accepts them: `pending_overrides` lists them
("pending, not in effect"), and `schedules` holds only what the server accepted, so who is on call
here is what the server will page.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, or_, select

from console.config_file import Service, TeamConfig, User
from console.domain.escalation import Policy
from console.domain.oncall import OVERRIDE_ADD, PageRecord, PendingOverride, override_from_args
from console.domain.oncall_json import layers_from_json, policy_from_json
from console.domain.schedule import Override, OverrideRejected, Schedule
from console.store.tables import (
    escalation_policies,
    outbox,
    overrides,
    pages,
    schedules,
    services,
    sync_state,
    users,
)

SHOW_REJECTED = timedelta(days=1)  # how long a refused override stays listed with its reason


def read_schedules(conn: Connection) -> list[Schedule]:
    found: dict[int, list[Override]] = {}
    # the last override that applies wins: the file's in file order, then consoles' as made (as the server)
    query = select(overrides).order_by(overrides.c.origin.desc(), overrides.c.id)
    for row in conn.execute(query):
        label = row.label if row.origin == "file" else row.id
        found.setdefault(row.schedule_id, []).append(
            Override(label, row.user, row.start, row.end, row.replaces)
        )
    return [
        Schedule(row.name, layers_from_json(row.layers), tuple(found.get(row.id, ())))
        for row in conn.execute(select(schedules).order_by(schedules.c.name))
    ]


def read_policies(conn: Connection) -> list[Policy]:
    return [
        policy_from_json(row.name, row.repeats, row.levels)
        for row in conn.execute(select(escalation_policies).order_by(escalation_policies.c.name))
    ]


def schedule_id(conn: Connection, name: str) -> int | None:
    found: int | None = conn.execute(select(schedules.c.id).where(schedules.c.name == name)).scalar()
    return found


def read_pending_overrides(conn: Connection, now: datetime) -> list[PendingOverride]:
    """Overrides made here that the replica does not show yet, and those refused lately."""
    names = {row.id: row.name for row in conn.execute(select(schedules.c.id, schedules.c.name))}
    page_seq = conn.execute(select(sync_state.c.page_seq)).scalar_one()
    o = outbox.c
    rows = conn.execute(
        select(o.op_id, o.entity_id, o.args, o.state, o.reason, o.created_at)
        .where(
            o.type == OVERRIDE_ADD,
            or_(
                o.state == "pending",
                and_(o.state.in_(("applied", "noop")), o.result_seq > page_seq),
                and_(o.state == "rejected", o.created_at >= now - SHOW_REJECTED),
            ),
        )
        .order_by(o.client_seq)
    )
    found = []
    for row in rows:
        try:
            sid, override = override_from_args(row.entity_id, row.args)
        except OverrideRejected:
            continue  # made by this console, so well-formed; a newer console's shape is skipped
        found.append(
            PendingOverride(
                names.get(sid, "?"), override, row.op_id, row.reason if row.state == "rejected" else ""
            )
        )
    return found


def read_pages(conn: Connection, since: datetime | None = None, user: str | None = None) -> list[PageRecord]:
    query = select(pages).order_by(pages.c.at, pages.c.id)
    if since is not None:
        query = query.where(pages.c.at >= since)
    if user is not None:
        query = query.where(pages.c.user == user)
    return [
        PageRecord(row.id, row.incident_id, row.epoch, row.level, row.repeat, row.user, row.at, row.reason)
        for row in conn.execute(query)
    ]


def read_new_pages(conn: Connection, user: str, after_seq: int) -> tuple[list[PageRecord], int]:
    """Pages to `user` that came with changes after `after_seq`, and the seq to ask after next."""
    rows = conn.execute(select(pages).where(pages.c.seq > after_seq, pages.c.user == user)).all()
    found = [
        PageRecord(row.id, row.incident_id, row.epoch, row.level, row.repeat, row.user, row.at, row.reason)
        for row in rows
    ]
    return found, max((row.seq for row in rows), default=after_seq)


def read_escalated_services(conn: Connection) -> frozenset[str]:
    """Names of the services the server pages people for (they have an escalation policy)."""
    return frozenset(
        conn.execute(select(services.c.name).where(services.c.escalation_policy_id.is_not(None))).scalars()
    )


def read_team(conn: Connection) -> TeamConfig:
    """What the console's editor of schedules and policies opens (console.config_export): users,
    services, schedules and policies as the server last sent them, shaped as a team file declares
    them. Schedules come without overrides: those are the On call view's, and an edit keeps them."""
    policy_names = {
        row.id: row.name for row in conn.execute(select(escalation_policies.c.id, escalation_policies.c.name))
    }
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
        schedules=tuple(
            Schedule(row.name, layers_from_json(row.layers)) for row in conn.execute(select(schedules))
        ),
        escalation_policies=tuple(read_policies(conn)),
    )
