"""Events arriving together share a group commit: the dedup rules must hold inside one batch too."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx

from tests.server.stack import Served
from tests.server.wire import am_alert, am_body, events_with_dedup_key, pd_trigger, row_counts, unique

TOGETHER = 30


async def _post_together(
    url: str, path: str, bodies: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> list[int]:
    limits = httpx.Limits(max_connections=len(bodies))
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        responses = await asyncio.gather(*(client.post(path, json=b, headers=headers) for b in bodies))
    return [response.status_code for response in responses]


def post_together(
    served: Served, path: str, bodies: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> list[int]:
    return asyncio.run(_post_together(served.url, path, bodies, headers))


def test_triggers_with_one_dedup_key_sent_at_once_make_one_alert(served: Served) -> None:
    title, key = unique("flapping"), unique("flap")
    before = row_counts(served.db)

    statuses = post_together(served, "/v2/enqueue", [pd_trigger(served.key, key, summary=title)] * TOGETHER)

    assert statuses == [202] * TOGETHER
    detail = served.api.only_incident_titled(title)
    [alert] = detail["alerts"]
    assert alert["repeat_count"] == TOGETHER - 1
    outcomes = Counter(outcome for _, _, outcome in events_with_dedup_key(served.db, key))
    assert outcomes == {"created": 1, "repeated": TOGETHER - 1}
    after = row_counts(served.db)
    assert (after["incidents"], after["alerts"]) == (before["incidents"] + 1, before["alerts"] + 1)


def test_two_alertmanager_replicas_posting_the_same_group_at_once_make_one_incident(served: Served) -> None:
    """Alertmanager runs in HA pairs: each replica sends the same notification."""
    title, group = unique("Probe failing"), unique("group")
    body = am_body(group, [am_alert("1a30ba71cca2921f", summary=title), am_alert("2b41cb82ddb3a32f")])
    before = row_counts(served.db)

    statuses = post_together(served, "/integrations/alertmanager", [body] * 10, served.bearer())

    assert statuses == [200] * 10
    detail = served.api.only_incident_titled(title)
    assert detail["alert_count"] == 2
    assert sorted(alert["dedup_key"] for alert in detail["alerts"]) == [
        "1a30ba71cca2921f",
        "2b41cb82ddb3a32f",
    ]
    after = row_counts(served.db)
    assert (after["incidents"], after["alerts"]) == (before["incidents"] + 1, before["alerts"] + 2)


def test_incidents_opened_at_once_are_listed_newest_first(served: Served) -> None:
    """Incidents of one group commit share a creation time; the listing still puts the newest first."""
    prefix = unique("burst")
    bodies = [
        pd_trigger(served.keys["payments"], f"{prefix}-{n}", summary=f"{prefix}-{n}") for n in range(20)
    ]

    assert post_together(served, "/v2/enqueue", bodies) == [202] * 20

    listed = [i for i in served.api.incidents(service="payments") if i["title"].startswith(prefix)]
    assert len(listed) == 20
    numbers = [incident["number"] for incident in listed]
    assert numbers == sorted(numbers, reverse=True)
