"""Demo mode (console/demo.py): seeding is idempotent, and the alert stream, played fast against a real
server through its intake, makes incidents of both priorities, resolves some and cascades by dependency."""

from __future__ import annotations

import asyncio
import itertools
import random
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from console.demo import (
    DEMO_SERVICES,
    DEMO_USERS,
    MAX_GROUPS,
    MAX_OPEN,
    AlertStream,
    DemoKeys,
    Scenario,
    run_demo,
    seed,
)
from console.server.admin import add_service, add_user
from console.server.database import migrate, open_engine
from console.server.runner import EmbeddedServer, ServeOptions
from console.server.tables import integrations, services, users

SEED = 7  # its first cascade starts 16 scenario seconds in
SPEED = 40.0  # a 2-5 s gap takes 50-125 ms
FIXED_NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_engine(f"sqlite:///{tmp_path / 'server.db'}", writer=True)
    migrate(engine)
    yield engine
    engine.dispose()


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_seeding_twice_keeps_the_same_services_keys_and_users(engine: Engine) -> None:
    first = seed(engine)
    second = seed(engine)

    assert set(first.services) == {name for name, _ in DEMO_SERVICES}
    assert dict(second.services) == dict(first.services)
    assert count(engine, services) == count(engine, integrations) == len(DEMO_SERVICES)
    assert set(first.tokens) == {name for name, _ in DEMO_USERS}
    assert second.tokens == {}  # tokens are stored hashed: only the run that made a user has its token
    assert dict(second.users) == dict(DEMO_USERS)
    assert count(engine, users) == len(DEMO_USERS)
    parent = services.alias("parent")
    with engine.connect() as conn:
        pairs = conn.execute(
            select(services.c.name, parent.c.name).join(parent, services.c.parent_id == parent.c.id)
        ).all()
    assert dict(pairs) == {name: up for name, up in DEMO_SERVICES if up is not None}
    assert dict(pairs)["web-frontend"] == "checkout-api"
    assert dict(pairs)["checkout-api"] == "postgres-main"


def test_seeding_keeps_a_service_an_admin_made_before(engine: Engine) -> None:
    key = add_service(engine, "search")

    keys = seed(engine)

    assert keys.key("search") == key
    assert count(engine, services) == len(DEMO_SERVICES)


def fake_keys() -> DemoKeys:
    return DemoKeys({name: f"{index:032x}" for index, (name, _) in enumerate(DEMO_SERVICES)})


def scenario(rng_seed: int) -> Scenario:
    return Scenario(fake_keys().services, random.Random(rng_seed), clock=lambda: FIXED_NOW)


def test_a_seed_reproduces_the_stream_and_open_alerts_stay_bounded() -> None:
    one, again, other = scenario(11), scenario(11), scenario(12)
    played = [one.next_tick() for _ in range(300)]

    assert [again.next_tick() for _ in range(300)] == played
    assert [other.next_tick() for _ in range(300)] != played
    assert sum(tick.at < 3.0 for tick in played) >= 5  # the opening burst: incidents at once
    gaps = [b.at - a.at for a, b in itertools.pairwise(played[10:])]
    assert 2.0 <= min(gaps) <= max(gaps) <= 5.0
    kinds = {tick.post.path for tick in played}
    assert kinds == {"/v2/enqueue", "/v2/change/enqueue", "/integrations/alertmanager"}
    actions = {tick.post.body.get("event_action") for tick in played}
    assert {"trigger", "acknowledge", "resolve"} <= actions
    assert any(tick.post.body.get("version") == "1" for tick in played), "a Grafana body"
    for tick in played[:50]:
        stamp = tick.post.body.get("payload", {}).get("timestamp")
        if stamp is not None:
            assert 0 <= (FIXED_NOW - datetime.fromisoformat(stamp)).total_seconds() <= 20

    for _ in range(3000):
        one.next_tick()
        assert one.routine_open <= MAX_OPEN
        assert one.firing_groups <= MAX_GROUPS + 1  # and a cascade's
        assert one.open_alerts <= MAX_OPEN + 2


@dataclass
class Seen:
    """What the read API shows."""

    priorities: set[str] = field(default_factory=set)
    resolved: int = 0
    cascade: dict[str, Any] | None = None  # a postgres-main incident with alerts of its dependants

    @property
    def complete(self) -> bool:
        return self.priorities == {"high", "low"} and self.resolved > 0 and self.cascade is not None


async def look(api: httpx.AsyncClient, service_ids: dict[str, int]) -> Seen:
    response = await api.get("/api/v1/incidents", params={"limit": 500})
    response.raise_for_status()
    found = response.json()["incidents"]
    seen = Seen({i["priority"] for i in found}, sum(i["status"] == "resolved" for i in found))
    for incident in found:
        if incident["service"]["name"] == "postgres-main" and incident["alert_count"] > 1:
            detail = (await api.get(f"/api/v1/incidents/{incident['id']}")).json()
            others = {a["service_id"] for a in detail["alerts"]} - {service_ids["postgres-main"]}
            kinds = {entry["kind"] for entry in detail["timeline"]}
            if others and "alert_attached" in kinds:
                seen.cascade = detail
    return seen


@dataclass(frozen=True, slots=True)
class Served:
    url: str
    keys: DemoKeys
    token: str
    service_ids: dict[str, int]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A real server (as the console embeds it) on a seeded SQLite file, and a reader's token."""
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'server.db'}"
    engine = open_engine(url, writer=True)
    try:
        migrate(engine)
        keys = seed(engine)
        token = add_user(engine, "test-reader", role="viewer")
        with engine.connect() as conn:
            ids = {str(name): int(sid) for sid, name in conn.execute(select(services.c.id, services.c.name))}
    finally:
        engine.dispose()
    server = EmbeddedServer(ServeOptions(url, "127.0.0.1", 0))
    base = server.start()
    try:
        yield Served(base, keys, token, ids)
    finally:
        server.stop()


async def play(served: Served, patience: float) -> tuple[AlertStream, Seen]:
    """Run the stream until the read API shows all the test looks for (or `patience` runs out)."""
    stream = AlertStream(served.url, served.keys, rng_seed=SEED, speed=SPEED)
    stop = asyncio.Event()
    running = asyncio.create_task(stream.run(stop))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    headers = {"Authorization": f"Bearer {served.token}"}
    async with httpx.AsyncClient(base_url=served.url, headers=headers, timeout=10) as api:
        seen = await look(api, served.service_ids)
        while not seen.complete and loop.time() < deadline and not running.done():
            await asyncio.sleep(0.2)
            seen = await look(api, served.service_ids)
        stop.set()
        await asyncio.wait_for(running, 10)
    return stream, seen


def test_the_stream_through_the_real_intake_pages_resolves_and_cascades(served: Served) -> None:
    stream, seen = asyncio.run(play(served, patience=10.0))

    assert seen.priorities == {"high", "low"}
    assert seen.resolved >= 1
    assert seen.cascade is not None, "no postgres-main incident with its dependants' alerts attached"
    assert seen.cascade["alert_count"] > 1
    by_service = {alert["service_id"] for alert in seen.cascade["alerts"]}
    assert served.service_ids["checkout-api"] in by_service
    assert stream.sent > 10
    assert stream.failed == 0
    assert stream.accepted == stream.sent


def test_refused_posts_are_counted_and_the_stream_goes_on(served: Served) -> None:
    async def main() -> AlertStream:
        stream = AlertStream(served.url, fake_keys(), rng_seed=3, speed=100.0)  # keys the server never made
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.5, stop.set)
        await stream.run(stop)
        return stream

    stream = asyncio.run(main())

    assert stream.sent >= 5
    assert stream.failed == stream.sent  # 403 each time, never retried
    assert stream.accepted == stream.retries == 0


def test_run_demo_waits_for_a_server_that_is_not_there_yet() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def main() -> AlertStream:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.8, stop.set)
        return await run_demo(f"http://127.0.0.1:{port}", fake_keys(), stop, rng_seed=1, speed=50.0)

    stream = asyncio.run(main())

    assert stream.retries >= 2  # backed off and tried again
    assert stream.sent == stream.failed == 0
