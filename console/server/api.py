"""Read API for consoles and scripts: incidents, newest first, with their alerts and timeline."""

# No `from __future__ import annotations` here: FastAPI reads the annotations of nested endpoints at runtime.

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel
from sqlalchemy import Engine, and_, or_, select

from console.domain.status import Rank
from console.server.auth import user_dependency
from console.server.directory import Directory, User
from console.server.tables import AlertRow, TimelineRow, incidents, services
from console.server.tables import alerts as alerts_t
from console.server.tables import timeline as timeline_t

MAX_LIMIT = 500
STATUSES = {rank.label for rank in Rank}


class ServiceRef(BaseModel):
    id: int
    name: str


class IncidentOut(BaseModel):
    id: str
    number: int
    title: str
    service: ServiceRef
    status: str
    epoch: int
    priority: str
    category: str
    alert_count: int
    open_alerts: int
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None


class LinkOut(BaseModel):
    href: str
    text: str = ""


class AlertOut(BaseModel):
    id: str
    service_id: int
    dedup_key: str
    status: str
    summary: str
    source: str
    severity: str | None
    priority: str
    component: str | None
    group: str | None
    class_: str | None
    labels: dict[str, Any]
    details: dict[str, Any]
    links: list[LinkOut]
    repeat_count: int
    first_seen: datetime
    last_seen: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None


class TimelineEntryOut(BaseModel):
    id: str
    at: datetime
    kind: str
    actor: str
    service_id: int
    body: dict[str, Any]


class IncidentDetail(IncidentOut):
    alerts: list[AlertOut]
    timeline: list[TimelineEntryOut]


class IncidentPage(BaseModel):
    incidents: list[IncidentOut]
    next_cursor: str | None


def bad_request(field: str, message: str) -> HTTPException:
    return HTTPException(
        400, detail={"status": "invalid request", "message": message, "errors": [f"{field}: {message}"]}
    )


def encode_cursor(created_at: datetime, incident_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([created_at.isoformat(), incident_id])).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created, incident_id = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        at = datetime.fromisoformat(created)
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
        raise bad_request("cursor", "not a cursor this server gave out") from exc
    if at.tzinfo is None:
        raise bad_request("cursor", "not a cursor this server gave out")
    return at, str(incident_id)


def api_router(engine: Engine, directory: Directory) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["read API"])

    current_user = user_dependency(directory)

    Reader = Annotated[User, Depends(current_user)]

    @router.get("/incidents", response_model=IncidentPage)
    def list_incidents(
        _user: Reader,
        status: Annotated[
            str | None,
            Query(description="comma-separated: triggered, acknowledged, resolved, closed, or open"),
        ] = None,
        priority: Annotated[str | None, Query(description="high or low")] = None,
        service: Annotated[str | None, Query(description="service name or id")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        i, s = incidents.c, services.c
        query = select(incidents, s.name.label("service_name")).join_from(
            incidents, services, i.service_id == s.id
        )
        if status:
            wanted = {part.strip() for part in status.split(",") if part.strip()}
            if "open" in wanted:
                wanted = (wanted - {"open"}) | {Rank.TRIGGERED.label, Rank.ACKNOWLEDGED.label}
            if unknown := wanted - STATUSES:
                raise bad_request("status", f"unknown status {', '.join(sorted(unknown))}")
            query = query.where(i.status.in_(sorted(wanted)))
        if priority:
            if priority not in ("high", "low"):
                raise bad_request("priority", "must be high or low")
            query = query.where(i.priority == priority)
        if service:
            by_id = service.isascii() and service.isdigit() and len(service) <= 18  # else it is a name
            query = query.where(s.id == int(service) if by_id else s.name == service)
        if cursor:
            created, after_id = decode_cursor(cursor)
            query = query.where(or_(i.created_at < created, and_(i.created_at == created, i.id < after_id)))
        query = query.order_by(i.created_at.desc(), i.id.desc()).limit(limit + 1)
        with engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        page = [_incident(row) for row in rows[:limit]]
        next_cursor = (
            encode_cursor(rows[limit - 1]["created_at"], rows[limit - 1]["id"]) if len(rows) > limit else None
        )
        return {"incidents": page, "next_cursor": next_cursor}

    @router.get("/incidents/{incident_id}", response_model=IncidentDetail)
    def get_incident(incident_id: str, _user: Reader) -> dict[str, Any]:
        i, s = incidents.c, services.c
        with engine.connect() as conn:
            row = (
                conn.execute(
                    select(incidents, s.name.label("service_name"))
                    .join_from(incidents, services, i.service_id == s.id)
                    .where(i.id == incident_id)
                )
                .mappings()
                .first()
            )
            if row is None:
                raise HTTPException(
                    404,
                    detail={"status": "not found", "message": f"No incident {incident_id}.", "errors": []},
                )
            alerts = (
                conn.execute(
                    select(alerts_t).where(AlertRow.incident_id == incident_id).order_by(AlertRow.first_seen)
                )
                .mappings()
                .all()
            )
            entries = (
                conn.execute(
                    select(timeline_t)
                    .where(TimelineRow.incident_id == incident_id)
                    .order_by(TimelineRow.at, TimelineRow.id)
                )
                .mappings()
                .all()
            )
        return {
            **_incident(row),
            "alerts": [
                {**alert, "group": alert["group_name"], "class_": alert["class_name"]} for alert in alerts
            ],
            "timeline": [dict(entry) for entry in entries],
        }

    return router


def _incident(row: Any) -> dict[str, Any]:
    return {**row, "service": {"id": row["service_id"], "name": row["service_name"]}}
