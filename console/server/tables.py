"""The server's tables (SQLAlchemy 2, typed). Times are stored in UTC and come back time-zone aware."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, cast

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, MetaData, String, Table, Text, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC; SQLite returns naive values, so the zone is re-attached."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the server stores UTC only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class ServiceRow(Base):
    __tablename__ = "services"
    __table_args__ = (Index("ix_services_seq_id", "seq", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"))
    created_at: Mapped[datetime]
    seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    escalation_policy_id: Mapped[int | None] = mapped_column(ForeignKey("escalation_policies.id"))
    ack_timeout_minutes: Mapped[int | None] = mapped_column(Integer)


class IntegrationRow(Base):
    """A way in for monitoring; its key (PagerDuty's routing key) is the sender's credential."""

    __tablename__ = "integrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), index=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]


class UserRow(Base):
    __tablename__ = "users"
    __table_args__ = (Index("ix_users_seq_id", "seq", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex; the token is never stored
    created_at: Mapped[datetime]
    seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    time_zone: Mapped[str | None] = mapped_column(String(64))  # where the person lives (night pages)


class IncidentRow(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_created_at_id", "created_at", "id"),
        Index("ix_incidents_group", "integration_id", "group_key"),
        Index("ix_incidents_seq_id", "seq", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    number: Mapped[int] = mapped_column(unique=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), index=True)
    integration_id: Mapped[int | None] = mapped_column(ForeignKey("integrations.id"))
    group_key: Mapped[str] = mapped_column(Text, default="")
    title: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(10), index=True)
    category: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), index=True)
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    alert_count: Mapped[int] = mapped_column(Integer, default=0)
    open_alerts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    assignee: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    snoozed_until: Mapped[datetime | None]
    clocks: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class AlertRow(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        # At most one open alert per key on an integration: the dedup rule, enforced by the database too.
        # Led by integration and group: it serves the group lookups as well, and a new Alertmanager
        # group's alerts land side by side in it (led by dedup_key, each went to a page of its own).
        Index(
            "uq_alerts_open_key",
            "integration_id",
            "group_key",
            "dedup_key",
            unique=True,
            sqlite_where=text("resolved_at IS NULL"),
            postgresql_where=text("resolved_at IS NULL"),
        ),
        Index("ix_alerts_seq_id", "seq", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"), index=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id"))
    dedup_key: Mapped[str] = mapped_column(Text)
    group_key: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20))
    summary: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    severity: Mapped[str | None] = mapped_column(String(10))
    priority: Mapped[str] = mapped_column(String(10))
    component: Mapped[str | None] = mapped_column(Text)
    group_name: Mapped[str | None] = mapped_column(Text)
    class_name: Mapped[str | None] = mapped_column(Text)
    labels: Mapped[dict[str, Any]]
    details: Mapped[dict[str, Any]]
    links: Mapped[list[Any]]
    repeat_count: Mapped[int] = mapped_column(Integer, default=0)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    # The runbook the alert came with (its runbook_url annotation or Runbook link), kept by intake
    # so that the engine's pass finds a storm's runbooks without decoding each alert's details.
    runbook_url: Mapped[str | None] = mapped_column(Text)
    seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class TimelineRow(Base):
    """Append-only; incident_id is empty for a service's own entries (change events)."""

    __tablename__ = "timeline"
    __table_args__ = (Index("ix_timeline_seq_id", "seq", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    incident_id: Mapped[str | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(30))
    actor: Mapped[str] = mapped_column(Text)
    body: Mapped[dict[str, Any]]
    seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ScheduleRow(Base):
    """An on-call schedule: its layers as JSON (console.domain.oncall_json); overrides are rows of
    their own, because consoles make them."""

    __tablename__ = "schedules"
    __table_args__ = (Index("ix_schedules_seq_id", "seq", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    layers: Mapped[list[Any]]
    seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class OverrideRow(Base):
    """`user` on call for [start, end) on a schedule. From the team file (`label` is its id there,
    replaced by the next apply) or made on a console (kept by apply)."""

    __tablename__ = "overrides"
    __table_args__ = (Index("ix_overrides_seq_id", "seq", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id"), index=True)
    label: Mapped[str] = mapped_column(String(200))
    user: Mapped[str] = mapped_column(Text)
    start: Mapped[datetime]
    end: Mapped[datetime]
    replaces: Mapped[str | None] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(10))  # file | console
    created_by: Mapped[str] = mapped_column(Text)
    seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class EscalationPolicyRow(Base):
    __tablename__ = "escalation_policies"
    __table_args__ = (Index("ix_escalation_policies_seq_id", "seq", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    repeats: Mapped[int] = mapped_column(Integer, default=0)
    levels: Mapped[list[Any]]
    seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class PageRow(Base):
    """The engine's record that `user` was paged: one per (incident, epoch, level, repeat, user),
    which the unique `key` enforces. Replicated, so that person's consoles alert."""

    __tablename__ = "pages"
    __table_args__ = (Index("ix_pages_seq_id", "seq", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"), index=True)
    epoch: Mapped[int] = mapped_column(Integer)
    level: Mapped[int] = mapped_column(Integer)
    repeat: Mapped[int] = mapped_column(Integer)
    user: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(20))
    seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class RunbookRow(Base):
    """A runbook's latest version (console.domain.runbook_json in `body`); older versions live on in
    the runs that started with them."""

    __tablename__ = "runbooks"
    __table_args__ = (Index("ix_runbooks_seq_id", "seq", "id"),)

    id: Mapped[str] = mapped_column(String(100), primary_key=True)  # the id its file gives it
    title: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]]
    saved_by: Mapped[str] = mapped_column(Text)  # "admin" (an import) or the manager who saved it
    saved_at: Mapped[datetime]
    seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class RunRow(Base):
    """A runbook on an incident, with a copy of the version it started with (`runbook`)."""

    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_seq_id", "seq", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"), index=True)
    runbook_id: Mapped[str] = mapped_column(String(100))
    runbook_version: Mapped[int] = mapped_column(Integer)
    runbook: Mapped[dict[str, Any]]
    started_at: Mapped[datetime]
    started_by: Mapped[str] = mapped_column(Text)
    seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class RunOpRow(Base):
    """One op on a run (console.domain.runbook.RunOp), its id the op's: a run's state is the set."""

    __tablename__ = "run_ops"
    __table_args__ = (Index("ix_run_ops_seq_id", "seq", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"))  # so a console marks it changed
    kind: Mapped[str] = mapped_column(String(10))
    step_id: Mapped[str] = mapped_column(String(100))
    actor: Mapped[str] = mapped_column(Text)
    hlc: Mapped[str] = mapped_column(String(80))
    observed: Mapped[list[Any]]
    role: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class EscalationRow(Base):
    """An incident's next escalation job (server only): page level `level` of pass `repeat` at
    `due_at` (kind "page"), or send it back to triggered at `due_at` (kind "ack-timeout")."""

    __tablename__ = "escalations"

    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    level: Mapped[int] = mapped_column(Integer, default=0)
    repeat: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(index=True)


class EventRow(Base):
    """Every body a sender was answered 2xx for, kept raw for audit."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    received_at: Mapped[datetime]
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id"), index=True)
    format: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(20))
    dedup_key: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text)


class ChangeRow(Base):
    """The change log: one row per write transaction, numbered without gaps in commit order.

    Every replicated row carries the `seq` of the transaction that last wrote it, so a console's pull
    is "rows with seq past my cursor", and the log compacts itself: only a row's latest version is
    kept. Deletions leave a tombstone.
    """

    __tablename__ = "change_log"

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    origin: Mapped[str] = mapped_column(String(60), default="")  # "intake", "admin", or a console's client id


class TombstoneRow(Base):
    """A replicated row that was deleted; kept until compaction, whose horizon then makes older cursors
    answer 410."""

    __tablename__ = "tombstones"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(String(30), primary_key=True)
    entity_id: Mapped[str] = mapped_column(String(36), primary_key=True)


class ServerMetaRow(Base):
    """Facts about this database: its id (a cursor from another database is refused) and the
    compaction horizon."""

    __tablename__ = "server_meta"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class SyncClientRow(Base):
    """A console (one replica): the last op it pushed that was processed, for exactly-once."""

    __tablename__ = "sync_clients"

    client_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer)
    last_client_seq: Mapped[int] = mapped_column(Integer, default=0)
    schema_version: Mapped[int] = mapped_column(Integer)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]


class SyncResultRow(Base):
    """What became of each pushed op, answered again when a console re-sends it."""

    __tablename__ = "sync_results"

    client_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    client_seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    op_id: Mapped[str] = mapped_column(String(36), index=True)  # an op re-sent under another number
    status: Mapped[str] = mapped_column(String(10))  # applied | noop | rejected
    reason: Mapped[str] = mapped_column(Text, default="")
    seq: Mapped[int] = mapped_column(Integer)  # the change-log seq of the transaction that processed it


# Typed handles for SQLAlchemy Core statements (the hot intake path does not go through the ORM).
services = cast(Table, ServiceRow.__table__)
integrations = cast(Table, IntegrationRow.__table__)
users = cast(Table, UserRow.__table__)
incidents = cast(Table, IncidentRow.__table__)
alerts = cast(Table, AlertRow.__table__)
timeline = cast(Table, TimelineRow.__table__)
events = cast(Table, EventRow.__table__)
change_log = cast(Table, ChangeRow.__table__)
tombstones = cast(Table, TombstoneRow.__table__)
server_meta = cast(Table, ServerMetaRow.__table__)
sync_clients = cast(Table, SyncClientRow.__table__)
sync_results = cast(Table, SyncResultRow.__table__)
schedules = cast(Table, ScheduleRow.__table__)
overrides = cast(Table, OverrideRow.__table__)
escalation_policies = cast(Table, EscalationPolicyRow.__table__)
pages = cast(Table, PageRow.__table__)
escalations = cast(Table, EscalationRow.__table__)
runbooks = cast(Table, RunbookRow.__table__)
runs = cast(Table, RunRow.__table__)
run_ops = cast(Table, RunOpRow.__table__)
