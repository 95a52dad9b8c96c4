"""The four intake endpoints, each with a valid body and the way its key is sent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from tests.server.wire import am_alert, am_body, pd_change, pd_trigger, unique


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    path: str
    key_in_body: bool  # PagerDuty: routing_key in the body; webhooks: Bearer token or ?key=
    valid: Callable[[str], dict[str, Any]]  # routing key → a body the endpoint accepts
    filler: Callable[[dict[str, Any], Any], None]  # puts a free-form value where the format allows one
    accepted: int

    def post(
        self,
        client: httpx.Client,
        key: str | None,
        *,
        json: Any = None,
        content: Any = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST with the key where this format carries it (for a webhook: as a Bearer token)."""
        headers = dict(headers or {})
        if key is not None and not self.key_in_body:
            headers["Authorization"] = f"Bearer {key}"
        if json is not None:
            return client.post(self.path, json=json, headers=headers)
        return client.post(self.path, content=content, headers=headers)


def _pd_valid(key: str) -> dict[str, Any]:
    return pd_trigger(key, unique("dk"), summary=unique("pd"))


def _change_valid(key: str) -> dict[str, Any]:
    return pd_change(key, unique("deploy"))


def _am_valid(_key: str) -> dict[str, Any]:
    return am_body(unique("group"), [am_alert("1a30ba71cca2921f", summary=unique("am"))])


def _generic_valid(_key: str) -> dict[str, Any]:
    return {"summary": unique("generic"), "dedup": unique("g"), "severity": "warning"}


def _in_payload(body: dict[str, Any], value: Any) -> None:
    body["payload"]["custom_details"] = value


def _am_filler(body: dict[str, Any], value: Any) -> None:
    body["commonAnnotations"] = {"description": value} if isinstance(value, str) else {}
    if not isinstance(value, str):
        body["extra"] = value


def _generic_filler(body: dict[str, Any], value: Any) -> None:
    body["details"] = value


PAGERDUTY = Endpoint("pagerduty", "/v2/enqueue", True, _pd_valid, _in_payload, 202)
CHANGE = Endpoint("change", "/v2/change/enqueue", True, _change_valid, _in_payload, 202)
ALERTMANAGER = Endpoint("alertmanager", "/integrations/alertmanager", False, _am_valid, _am_filler, 200)
GENERIC = Endpoint("generic", "/integrations/generic", False, _generic_valid, _generic_filler, 202)
ENDPOINTS = (PAGERDUTY, CHANGE, ALERTMANAGER, GENERIC)
WEBHOOKS = (ALERTMANAGER, GENERIC)
