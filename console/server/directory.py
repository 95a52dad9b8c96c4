"""Who may send and read: integration keys and user tokens, cached so intake does not ask the database
for every event. Admin commands write the same tables from another process, so a key the cache does
not know is looked up again (misses are remembered only briefly)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import Engine, select
from starlette.concurrency import run_in_threadpool

from console.server.ingest import Integration
from console.server.tables import IntegrationRow, ServiceRow, UserRow

log = logging.getLogger(__name__)

_MISS_TTL = 2.0  # seconds a wrong key is remembered as wrong
_HIT_TTL = 30.0  # seconds a known key or parent chain is trusted before it is read again
_MAX_CACHED = 10_000  # past this the cache starts again: random wrong keys must not grow it forever


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    role: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


V = TypeVar("V")


class _Known(Generic[V]):
    """What the database says about keys, read off the event loop and trusted for a while.

    A known key past its time is still answered from the cache while one read refreshes it, and
    requests that need a read of the same key share it. Before, every request in flight at a key's
    expiry (every 30 s under a storm) read it itself, each in a worker thread started for it: the
    event loop stopped 30-57 ms (bench_intake)."""

    def __init__(self, load: Callable[[str], V | None], clock: Callable[[], float]) -> None:
        self._load = load
        self._clock = clock
        self._held: dict[str, tuple[float, V | None]] = {}
        self._reading: dict[str, asyncio.Task[V | None]] = {}

    async def get(self, key: str) -> V | None:
        hit = self._held.get(key)
        if hit is not None and hit[0] >= self._clock():
            return hit[1]
        reading = self._read(key)
        if hit is not None and hit[1] is not None:
            return hit[1]  # still trusted until the read says otherwise
        return await asyncio.shield(reading)  # a request that goes away leaves the read to the others

    def _read(self, key: str) -> asyncio.Task[V | None]:
        reading = self._reading.get(key)
        if reading is None:
            reading = asyncio.get_running_loop().create_task(run_in_threadpool(self._read_now, key))
            self._reading[key] = reading
            reading.add_done_callback(lambda done: self._read_done(key, done))
        return reading

    def _read_now(self, key: str) -> V | None:
        found = self._load(key)
        if len(self._held) >= _MAX_CACHED:
            self._held.clear()
        self._held[key] = (self._clock() + (_HIT_TTL if found is not None else _MISS_TTL), found)
        return found

    def _read_done(self, key: str, done: asyncio.Task[V | None]) -> None:
        del self._reading[key]
        if not done.cancelled() and (error := done.exception()) is not None:
            log.warning("reading a key's entry failed; the cached one stands: %s", error)


class Directory:
    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
        self._integrations = _Known(self._load_integration, clock)
        self._users = _Known(self._load_user, clock)

    async def integration(self, key: str) -> Integration | None:
        """The integration of a routing key; None for a key not known here."""
        return await self._integrations.get(key)

    async def user(self, token: str) -> User | None:
        """The user of an API token; None for a token not known here."""
        return await self._users.get(token_hash(token))

    def _load_integration(self, key: str) -> Integration | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(IntegrationRow.id, IntegrationRow.service_id).where(IntegrationRow.key == key)
            ).first()
            if row is None:
                return None
            parents = {
                sid: parent for sid, parent in conn.execute(select(ServiceRow.id, ServiceRow.parent_id))
            }
        return Integration(row.id, row.service_id, _ancestors(row.service_id, parents))

    def _load_user(self, digest: str) -> User | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(UserRow.id, UserRow.name, UserRow.role).where(UserRow.token_hash == digest)
            ).first()
        return User(row.id, row.name, row.role) if row else None


def _ancestors(service_id: int, parents: dict[int, int | None]) -> tuple[int, ...]:
    chain: list[int] = []
    parent = parents.get(service_id)
    while parent is not None and parent not in chain and parent != service_id:
        chain.append(parent)
        parent = parents.get(parent)
    return tuple(chain)
