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

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"))
    created_at: Mapped[datetime]


class IntegrationRow(Base):
    """A way in for monitoring; its key (PagerDuty's routing key) is the sender's credential."""

    __tablename__ = "integrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), index=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex; the token is never stored
    created_at: Mapped[datetime]


class IncidentRow(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_created_at_id", "created_at", "id"),
        Index("ix_incidents_group", "integration_id", "group_key"),
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


class AlertRow(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        # At most one open alert per key on an integration: the dedup rule, enforced by the database too.
        # dedup_key first: a batch looks up many keys at once with `dedup_key IN (...)`.
        Index(
            "uq_alerts_open_key",
            "dedup_key",
            "integration_id",
            "group_key",
            unique=True,
            sqlite_where=text("resolved_at IS NULL"),
            postgresql_where=text("resolved_at IS NULL"),
        ),
        Index(
            "ix_alerts_open_group",
            "integration_id",
            "group_key",
            sqlite_where=text("resolved_at IS NULL"),
            postgresql_where=text("resolved_at IS NULL"),
        ),
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


class TimelineRow(Base):
    """Append-only; incident_id is empty for a service's own entries (change events)."""

    __tablename__ = "timeline"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    incident_id: Mapped[str | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(30))
    actor: Mapped[str] = mapped_column(Text)
    body: Mapped[dict[str, Any]]


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
    """The change log consoles sync from: one row per changed entity per commit, in commit order."""

    __tablename__ = "change_log"

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(String(30))
    entity_id: Mapped[str] = mapped_column(String(36))
    at: Mapped[datetime]


# Typed handles for SQLAlchemy Core statements (the hot intake path does not go through the ORM).
services = cast(Table, ServiceRow.__table__)
integrations = cast(Table, IntegrationRow.__table__)
users = cast(Table, UserRow.__table__)
incidents = cast(Table, IncidentRow.__table__)
alerts = cast(Table, AlertRow.__table__)
timeline = cast(Table, TimelineRow.__table__)
events = cast(Table, EventRow.__table__)
change_log = cast(Table, ChangeRow.__table__)
