"""The intake endpoints. Each answers 2xx only after its event is committed to disk."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, NoReturn, TypeVar

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from console.domain.errors import StorageFull
from console.domain.incident import EntryKind, TimelineEntry
from console.domain.intake import AlertEvent
from console.server.directory import Directory
from console.server.ingest import Ingest, Integration, ServiceNote
from console.server.intake import alertmanager, generic, pagerduty
from console.server.writer import GroupCommitWriter, Overloaded, WriterStopped

log = logging.getLogger(__name__)

MAX_BODY = 512 * 1024
RETRY_AFTER = "1"
M = TypeVar("M", bound=BaseModel)


class IntakeError(Exception):
    """Answered as JSON `{"status", "message", "errors"}`; never a traceback."""

    def __init__(
        self,
        status_code: int,
        status: str,
        message: str,
        errors: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code, self.status, self.message = status_code, status, message
        self.errors = errors or []
        self.headers = headers or {}


def json_response(status_code: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code, headers, media_type="application/json")


def error_response(exc: IntakeError) -> Response:
    return json_response(
        exc.status_code, {"status": exc.status, "message": exc.message, "errors": exc.errors}, exc.headers
    )


def _invalid(message: str, errors: list[str]) -> NoReturn:
    raise IntakeError(400, "invalid event", message, errors)


async def read_json(request: Request) -> Any:
    """The body as JSON, refusing anything over 512 KB before reading it whole."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY:
        raise IntakeError(413, "too large", f"The body is {length} bytes; the limit is {MAX_BODY}.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise IntakeError(413, "too large", f"The body is over the limit of {MAX_BODY} bytes.")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        _invalid("The body is not valid JSON.", [f"body: {exc}"])


def validate(model: type[M], data: Any) -> M:
    if not isinstance(data, dict):
        _invalid("The body must be a JSON object.", ["body: expected an object"])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [f"{_where(error['loc'])}: {error['msg']}" for error in exc.errors(include_url=False)]
        _invalid("Event object is invalid", errors)


def _where(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def _raw(data: Any) -> str:
    return orjson.dumps(data).decode()


def intake_router(writer: GroupCommitWriter, directory: Directory) -> APIRouter:
    router = APIRouter(tags=["intake"])

    async def integration_for(key: object, field: str) -> Integration:
        if not isinstance(key, str) or not key:
            raise IntakeError(
                401,
                "unauthorized",
                f"No integration key: send it as {field}.",
                [f"{field}: required"],
                {"WWW-Authenticate": "Bearer"} if field != "routing_key" else None,
            )
        known, integration = directory.cached_integration(key)
        if not known:
            integration = await run_in_threadpool(directory.load_integration, key)
        if integration is None:
            raise IntakeError(
                403, "forbidden", "The integration key is not known here.", [f"{field}: unknown key"]
            )
        return integration

    async def store(command: Ingest | ServiceNote) -> None:
        try:
            await writer.submit(command)
        except Overloaded as exc:
            raise IntakeError(429, "throttled", str(exc), [], {"Retry-After": RETRY_AFTER}) from exc
        except (StorageFull, WriterStopped) as exc:
            raise IntakeError(503, "unavailable", str(exc), [], {"Retry-After": "30"}) from exc

    def key_from_request(request: Request) -> tuple[object, str]:
        auth = request.headers.get("authorization", "")
        scheme, _, credentials = auth.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip(), "Authorization"
        return request.query_params.get("key"), "key"

    @router.post(
        "/v2/enqueue",
        status_code=202,
        summary="PagerDuty Events API v2: trigger, acknowledge or resolve an alert",
        openapi_extra=body_schema(pagerduty.PagerDutyEvent),
    )
    async def enqueue(request: Request) -> Response:
        try:
            data = await read_json(request)
            integration = await integration_for(
                data.get("routing_key") if isinstance(data, dict) else None, "routing_key"
            )
            event = validate(pagerduty.PagerDutyEvent, data)
            if missing := pagerduty.missing_fields(event):
                _invalid("Event object is invalid", missing)
            dedup_key = event.dedup_key or uuid.uuid4().hex
            actor = event.client or "PagerDuty Events API"
            alert_event = pagerduty.to_alert_event(event, dedup_key)
            await store(
                Ingest(integration, "pagerduty", actor, [alert_event], _raw(data), event.event_action)
            )
        except IntakeError as exc:
            return error_response(exc)
        return json_response(202, {"status": "success", "message": "Event processed", "dedup_key": dedup_key})

    @router.post(
        "/v2/change/enqueue",
        status_code=202,
        summary="PagerDuty change event: stored on the service's timeline, never pages",
        openapi_extra=body_schema(pagerduty.PagerDutyChangeEvent),
    )
    async def change_enqueue(request: Request) -> Response:
        try:
            data = await read_json(request)
            integration = await integration_for(
                data.get("routing_key") if isinstance(data, dict) else None, "routing_key"
            )
            change = validate(pagerduty.PagerDutyChangeEvent, data)
            await store(ServiceNote(integration, _change_entry(integration, change), _raw(data)))
        except IntakeError as exc:
            return error_response(exc)
        return json_response(202, {"status": "success", "message": "Change event processed"})

    @router.post(
        "/integrations/alertmanager",
        summary="Prometheus Alertmanager webhook (v4) or Grafana webhook; key as Bearer token or ?key=",
        openapi_extra=body_schema(alertmanager.WebhookMessage),
    )
    async def alertmanager_webhook(request: Request) -> Response:
        try:
            integration = await integration_for(*key_from_request(request))
            data = await read_json(request)
            message = validate(alertmanager.WebhookMessage, data)
            events = alertmanager.to_alert_events(message)
            who = alertmanager.sender(message)
            actor = f"{who} ({message.receiver})" if message.receiver else who
            await store(Ingest(integration, who.lower(), actor, events, _raw(data), message.status))
        except IntakeError as exc:
            return error_response(exc)
        return json_response(200, {"status": "success", "message": "Alerts processed", "alerts": len(events)})

    @router.post(
        "/integrations/generic",
        status_code=202,
        summary="A small JSON form for scripts; key as Bearer token or ?key=",
        openapi_extra=body_schema(generic.GenericEvent),
    )
    async def generic_event(request: Request) -> Response:
        try:
            integration = await integration_for(*key_from_request(request))
            data = await read_json(request)
            event = validate(generic.GenericEvent, data)
            alert_event: AlertEvent = generic.to_alert_event(event)
            await store(
                Ingest(integration, "generic", "generic webhook", [alert_event], _raw(data), event.action)
            )
        except IntakeError as exc:
            return error_response(exc)
        return json_response(
            202, {"status": "success", "message": "Event processed", "dedup_key": alert_event.dedup_key}
        )

    return router


def _change_entry(
    integration: Integration, change: pagerduty.PagerDutyChangeEvent
) -> Callable[[str, datetime], TimelineEntry]:
    payload = change.payload
    body: dict[str, Any] = {"summary": payload.summary}
    if payload.source:
        body["source"] = payload.source
    if payload.timestamp:
        body["timestamp"] = payload.timestamp.isoformat()
    if payload.custom_details is not None:
        body["custom_details"] = payload.custom_details
    if change.links:
        body["links"] = [{"href": link.href, "text": link.text or ""} for link in change.links]

    def entry(entry_id: str, at: datetime) -> TimelineEntry:
        return TimelineEntry(
            entry_id, None, integration.service_id, at, EntryKind.CHANGE, "PagerDuty change event", body
        )

    return entry


_SCHEMAS: dict[str, type[BaseModel]] = {}


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """Document a body that the handler parses itself (for speed and PagerDuty-shaped errors)."""
    _SCHEMAS[model.__name__] = model
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def documented_schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for name, model in _SCHEMAS.items():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema
    return schemas
