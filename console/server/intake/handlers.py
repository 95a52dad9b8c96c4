"""The intake endpoints, independent of the web framework: a request in, a reply out.

Each answers 2xx only after its event is committed to disk by the group-commit writer.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from console.domain.errors import StorageFull
from console.domain.incident import quick_init
from console.server.directory import Directory
from console.server.ingest import Ingest, Integration, ServiceNote
from console.server.intake import alertmanager, generic, pagerduty
from console.server.writer import GroupCommitWriter, Overloaded, WriterStopped

log = logging.getLogger(__name__)

MAX_BODY = 512 * 1024
M = TypeVar("M", bound=BaseModel)


@quick_init  # one per request (see console.domain.incident.quick_init)
@dataclass(frozen=True, slots=True)
class IntakeRequest:
    body: bytes
    authorization: str | None = None  # the Authorization header
    query_key: str | None = None  # ?key=


@quick_init  # one per request (see console.domain.incident.quick_init)
@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()


class IntakeError(Exception):
    """Answered as JSON `{"status", "message", "errors"}` naming the field; never a traceback."""

    def __init__(
        self,
        status_code: int,
        status: str,
        message: str,
        errors: list[str] | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message)
        self.reply = Reply(
            status_code, {"status": status, "message": message, "errors": errors or []}, headers
        )


def too_large(size: int | None = None) -> IntakeError:
    said = f"The body is {size} bytes" if size else "The body is too large"
    return IntakeError(413, "too large", f"{said}; the limit is {MAX_BODY} bytes.", ["body: too large"])


def _invalid(message: str, errors: list[str]) -> NoReturn:
    raise IntakeError(400, "invalid event", message, errors)


def _where(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def _errors(exc: ValidationError) -> list[str]:
    return [f"{_where(error['loc'])}: {error['msg']}" for error in exc.errors(include_url=False)]


def _parse(model: type[M], body: bytes) -> M:
    """Validate straight from the bytes (one pass). pydantic's parser takes NaN and Infinity, which
    are not JSON and which we would then store: such a body is checked by a strict parser too."""
    parsed = model.model_validate_json(body)
    if b"NaN" in body or b"Infinity" in body:
        _peek(body)
    return parsed


def _peek(body: bytes) -> Any:
    """The body as JSON, or a 400 saying it is not JSON or not an object (error paths only)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        _invalid("The body is not valid JSON.", [f"body: {exc}"])
    if not isinstance(data, dict):
        _invalid("The body must be a JSON object.", ["body: expected an object"])
    return data


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One intake path: what it accepts, for dispatch and for the OpenAPI document."""

    path: str
    handler: str  # Intake method name
    model: type[BaseModel]
    status: int
    summary: str


ENDPOINTS = (
    Endpoint("/v2/enqueue", "pagerduty", pagerduty.PagerDutyEvent, 202,
             "PagerDuty Events API v2: trigger, acknowledge or resolve an alert"),
    Endpoint("/v2/change/enqueue", "pagerduty_change", pagerduty.PagerDutyChangeEvent, 202,
             "PagerDuty change event: stored on the service's timeline, never pages"),
    Endpoint("/integrations/alertmanager", "alertmanager", alertmanager.WebhookMessage, 200,
             "Prometheus Alertmanager webhook (v4) or Grafana webhook; key as Bearer token or ?key="),
    Endpoint("/integrations/generic", "generic", generic.GenericEvent, 202,
             "A small JSON form for scripts; key as Bearer token or ?key="),
)  # fmt: skip


class Intake:
    def __init__(self, writer: GroupCommitWriter, directory: Directory) -> None:
        self._writer = writer
        self._directory = directory

    def handler(self, name: str) -> Callable[[IntakeRequest], Awaitable[Reply]]:
        method: Callable[[IntakeRequest], Awaitable[Reply]] = getattr(self, name)
        return method

    async def _integration(self, key: object, field: str) -> Integration:
        if not isinstance(key, str) or not key:
            headers = (("WWW-Authenticate", "Bearer"),) if field == "Authorization" else ()
            raise IntakeError(
                401,
                "unauthorized",
                f"No integration key: send it as {field}.",
                [f"{field}: required"],
                headers,
            )
        integration = await self._directory.integration(key)
        if integration is None:
            raise IntakeError(
                403, "forbidden", "The integration key is not known here.", [f"{field}: unknown key"]
            )
        return integration

    async def _key_from_request(self, request: IntakeRequest) -> Integration:
        scheme, _, credentials = (request.authorization or "").partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return await self._integration(credentials.strip(), "Authorization")
        if request.query_key:
            return await self._integration(request.query_key, "key")
        raise IntakeError(
            401,
            "unauthorized",
            "No integration key: send it as Authorization: Bearer KEY or as ?key=KEY.",
            ["Authorization: required"],
            (("WWW-Authenticate", "Bearer"),),
        )

    async def _store(self, command: Ingest | ServiceNote) -> None:
        try:
            await self._writer.submit(command)
        except Overloaded as exc:
            raise IntakeError(429, "throttled", str(exc), [], (("Retry-After", "1"),)) from exc
        except (StorageFull, WriterStopped) as exc:
            raise IntakeError(503, "unavailable", str(exc), [], (("Retry-After", "30"),)) from exc

    async def _validate_keyed_body(self, model: type[M], body: bytes) -> tuple[M, Integration]:
        """For bodies that carry their key (`routing_key`): a missing or wrong key wins over bad fields."""
        try:
            parsed = _parse(model, body)
        except ValidationError as exc:
            data = _peek(body)
            await self._integration(data.get("routing_key"), "routing_key")
            _invalid("Event object is invalid", _errors(exc))
        return parsed, await self._integration(getattr(parsed, "routing_key", None), "routing_key")

    @staticmethod
    def _validate(model: type[M], body: bytes) -> M:
        try:
            return _parse(model, body)
        except ValidationError as exc:
            _peek(body)
            _invalid("Event object is invalid", _errors(exc))

    async def pagerduty(self, request: IntakeRequest) -> Reply:
        data = pagerduty.plain_event(request.body)
        if data is not None:  # the common well-formed body, read without the model
            integration = await self._integration(data["routing_key"], "routing_key")
            action: str = data["event_action"]
            dedup_key: str = data.get("dedup_key") or uuid.uuid4().hex
            alert_event = pagerduty.plain_alert_event(data, dedup_key)
            client: str | None = data.get("client")
        else:  # anything else, and every error, as the model says
            event, integration = await self._validate_keyed_body(pagerduty.PagerDutyEvent, request.body)
            if missing := pagerduty.missing_fields(event):
                _invalid("Event object is invalid", missing)
            action = event.event_action
            dedup_key = event.dedup_key or uuid.uuid4().hex
            alert_event = pagerduty.to_alert_event(event, dedup_key)
            client = event.client
        actor = client or "PagerDuty Events API"
        await self._store(Ingest(integration, "pagerduty", actor, [alert_event], _raw(request), action))
        return Reply(202, {"status": "success", "message": "Event processed", "dedup_key": dedup_key})

    async def pagerduty_change(self, request: IntakeRequest) -> Reply:
        change, integration = await self._validate_keyed_body(pagerduty.PagerDutyChangeEvent, request.body)
        body = _change_body(change)
        await self._store(ServiceNote(integration, "PagerDuty change event", body, _raw(request)))
        return Reply(202, {"status": "success", "message": "Change event processed"})

    async def alertmanager(self, request: IntakeRequest) -> Reply:
        integration = await self._key_from_request(request)
        plain = alertmanager.plain_message(request.body)
        if plain is not None:  # the common well-formed body, read without the model
            events, who, receiver, status = plain.events, plain.sender, plain.receiver, plain.status
        else:  # anything else, and every error, as the model says
            message = self._validate(alertmanager.WebhookMessage, request.body)
            events = alertmanager.to_alert_events(message)
            who, receiver, status = alertmanager.sender(message), message.receiver, message.status
        actor = f"{who} ({receiver})" if receiver else who
        await self._store(Ingest(integration, who.lower(), actor, events, _raw(request), status))
        return Reply(200, {"status": "success", "message": "Alerts processed", "alerts": len(events)})

    async def generic(self, request: IntakeRequest) -> Reply:
        integration = await self._key_from_request(request)
        event = self._validate(generic.GenericEvent, request.body)
        alert_event = generic.to_alert_event(event)
        await self._store(
            Ingest(integration, "generic", "generic webhook", [alert_event], _raw(request), event.action)
        )
        return Reply(
            202, {"status": "success", "message": "Event processed", "dedup_key": alert_event.dedup_key}
        )


def _raw(request: IntakeRequest) -> str:
    """The body exactly as the sender wrote it, for audit (it parsed as JSON, so it is UTF-8)."""
    return request.body.decode("utf-8", "replace")


def _change_body(change: pagerduty.PagerDutyChangeEvent) -> dict[str, Any]:
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
    return body


def openapi_paths() -> tuple[dict[str, Any], dict[str, Any]]:
    """(paths, component schemas) documenting the intake endpoints, which FastAPI does not route."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/IntakeError"}}}
    schemas["IntakeError"] = {
        "type": "object",
        "properties": {
            "status": {"type": "string"},
            "message": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "string"}},
        },
    }
    for endpoint in ENDPOINTS:
        schema = endpoint.model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[endpoint.model.__name__] = schema
        ref = {"$ref": f"#/components/schemas/{endpoint.model.__name__}"}
        responses: dict[str, Any] = {str(endpoint.status): {"description": "Stored durably"}}
        for code, text in (
            ("400", "Bad JSON or fields (named in errors)"),
            ("401", "No integration key"),
            ("403", "Unknown integration key"),
            ("413", "Body over 512 KB"),
            ("429", "Overloaded: retry after Retry-After seconds"),
            ("503", "Storage unavailable: retry after Retry-After seconds"),
        ):
            responses[code] = {"description": text, "content": error}
        paths[endpoint.path] = {
            "post": {
                "tags": ["intake"],
                "summary": endpoint.summary,
                "operationId": endpoint.handler,
                "requestBody": {"required": True, "content": {"application/json": {"schema": ref}}},
                "responses": responses,
            }
        }
    return paths, schemas
