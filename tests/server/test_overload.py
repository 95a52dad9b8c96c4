"""Overload: past `max_pending` queued events the server answers 429 with Retry-After, and stores nothing
for those requests (senders retry a 429, so storing it too would store the event twice)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import httpx

from console.server.app import AppConfig, create_app
from tests.server.stack import prepare_database, serving
from tests.server.wire import pd_trigger, rows

CONCURRENT = 40
MAX_ROUNDS = 20


@dataclass(frozen=True, slots=True)
class Answer:
    dedup_key: str
    status: int
    retry_after: str | None
    body: dict[str, object]


async def _burst(base: str, key: str, round_number: int) -> list[Answer]:
    limits = httpx.Limits(max_connections=CONCURRENT, max_keepalive_connections=CONCURRENT)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def post(n: int) -> Answer:
            dedup_key = f"burst-{round_number}-{n}"
            response = await client.post("/v2/enqueue", json=pd_trigger(key, dedup_key))
            return Answer(
                dedup_key, response.status_code, response.headers.get("retry-after"), response.json()
            )

        return list(await asyncio.gather(*(post(n) for n in range(CONCURRENT))))


def test_overload_is_answered_429_with_retry_after_and_every_2xx_is_stored(tmp_path: Path) -> None:
    url, keys, _ = prepare_database(tmp_path, {"shop": None})
    answers: list[Answer] = []
    with serving(create_app(AppConfig(url, max_pending=1))) as base:
        for round_number in range(MAX_ROUNDS):
            answers += asyncio.run(_burst(base, keys["shop"], round_number))
            if any(answer.status == 429 for answer in answers):
                break
        # once the queue has drained, the same server accepts again
        after = httpx.post(f"{base}/v2/enqueue", json=pd_trigger(keys["shop"], "after-the-burst"), timeout=30)

    throttled = [answer for answer in answers if answer.status == 429]
    accepted = [answer for answer in answers if answer.status != 429]
    assert throttled, "no request was throttled"
    for answer in throttled:
        assert answer.retry_after is not None
        assert answer.retry_after.isdigit()
        assert int(answer.retry_after) > 0
        assert answer.body["status"] == "throttled"
        assert answer.body["errors"] == []
    assert all(answer.status == 202 for answer in accepted), {answer.status for answer in accepted}
    assert after.status_code == 202

    stored = [str(key) for (key,) in rows(tmp_path / "server.db", "SELECT dedup_key FROM events")]
    assert sorted(stored) == sorted([answer.dedup_key for answer in accepted] + ["after-the-burst"])
