"""The console's SQLite schema: replica tables shaped like the server's sync pages, the outbox, and
the sync state.

Replica tables hold exactly what the server last confirmed (their rows come only from pulls); what
the person did since lives in the outbox and is folded over the replica when read. So a rejected op
simply disappears from view, and comparing a replica with the server is comparing rows.
Times are ISO 8601 text with their UTC offset, as the server sends them: a first sync stores
hundreds of thousands of them without parsing one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, cast

from sqlalchemy import JSON, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class IsoTime(TypeDecorator[datetime]):
    """An aware datetime kept as ISO 8601 text with its offset (UTC)."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the replica stores UTC only")
        return value.astimezone(UTC).isoformat()

    def process_result_value(self, value: str | None, dialect: Dialect) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: IsoTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class ServiceRow(Base):
    __tablename__ = "services"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(Text)
    parent_id: Mapped[int | None]
    seq: Mapped[int]


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    seq: Mapped[int]


class IncidentRow(Base):
    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_created_at", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    number: Mapped[int]
    service_id: Mapped[int]
    title: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(10))
    category: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), index=True)
    epoch: Mapped[int]
    alert_count: Mapped[int]
    open_alerts: Mapped[int]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    assignee: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    snoozed_until: Mapped[datetime | None]
    clocks: Mapped[dict[str, Any]]
    seq: Mapped[int]


class AlertRow(Base):
    __tablename__ = "alerts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    incident_id: Mapped[str] = mapped_column(String(36), index=True)
    service_id: Mapped[int]
    dedup_key: Mapped[str] = mapped_column(Text)
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
    repeat_count: Mapped[int]
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    seq: Mapped[int]


class TimelineRow(Base):
    __tablename__ = "timeline"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    incident_id: Mapped[str | None] = mapped_column(String(36), index=True)
    service_id: Mapped[int]
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(30))
    actor: Mapped[str] = mapped_column(Text)
    body: Mapped[dict[str, Any]]
    seq: Mapped[int]


class OutboxRow(Base):
    """One op a person made here, from the moment it was made until the server has processed it;
    kept afterwards with its result, so a rejection stays visible with its reason."""

    __tablename__ = "outbox"

    client_seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    op_id: Mapped[str] = mapped_column(String(36), unique=True)
    type: Mapped[str] = mapped_column(String(30))
    entity_id: Mapped[str] = mapped_column(String(36), index=True)
    args: Mapped[dict[str, Any]]
    hlc: Mapped[str] = mapped_column(String(80))
    base_epoch: Mapped[int]
    schema_version: Mapped[int]  # of the console that made it: an upgraded console still sends it as made
    state: Mapped[str] = mapped_column(String(10), index=True)  # pending | applied | noop | rejected
    reason: Mapped[str] = mapped_column(Text, default="")
    result_seq: Mapped[int | None]  # the server's change-log seq that holds its effect
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class SyncStateRow(Base):
    """One row: who this console is and how far it has synced."""

    __tablename__ = "sync_state"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    client_id: Mapped[str] = mapped_column(String(36))
    server_url: Mapped[str] = mapped_column(Text, default="")
    user_name: Mapped[str] = mapped_column(Text, default="")
    cursor: Mapped[str] = mapped_column(Text, default="")
    page_seq: Mapped[int] = mapped_column(Integer, default=-1)  # every server change up to it is here
    last_seq: Mapped[int] = mapped_column(Integer, default=-1)  # the server's newest, when last heard
    hlc: Mapped[str] = mapped_column(String(80), default="")
    last_sync_at: Mapped[datetime | None]


services = cast(Table, ServiceRow.__table__)
users = cast(Table, UserRow.__table__)
incidents = cast(Table, IncidentRow.__table__)
alerts = cast(Table, AlertRow.__table__)
timeline = cast(Table, TimelineRow.__table__)
outbox = cast(Table, OutboxRow.__table__)
sync_state = cast(Table, SyncStateRow.__table__)

REPLICA_TABLES: dict[str, Table] = {
    "services": services,
    "users": users,
    "incidents": incidents,
    "alerts": alerts,
    "timeline": timeline,
}
