"""Who may send and read: integration keys and user tokens, cached so intake does not ask the database
for every event. Admin commands write the same tables from another process, so a key the cache does
not know is looked up again (misses are remembered only briefly)."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from sqlalchemy import Engine, select
from starlette.concurrency import run_in_threadpool

from console.server.ingest import Integration
from console.server.tables import IntegrationRow, ServiceRow, UserRow

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


class Directory:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._integrations: dict[str, tuple[float, Integration | None]] = {}
        self._users: dict[str, tuple[float, User | None]] = {}

    def cached_integration(self, key: str) -> tuple[bool, Integration | None]:
        """(known, integration) from the cache alone: cheap enough for the event loop."""
        hit = self._integrations.get(key)
        if hit is None or hit[0] < time.monotonic():
            return False, None
        return True, hit[1]

    def load_integration(self, key: str) -> Integration | None:
        """Read one key from the database (blocking: call it off the event loop)."""
        with self._engine.connect() as conn:
            row = conn.execute(
                select(IntegrationRow.id, IntegrationRow.service_id).where(IntegrationRow.key == key)
            ).first()
            integration = None
            if row is not None:
                parents = {
                    sid: parent for sid, parent in conn.execute(select(ServiceRow.id, ServiceRow.parent_id))
                }
                integration = Integration(row.id, row.service_id, _ancestors(row.service_id, parents))
        ttl = _HIT_TTL if integration else _MISS_TTL
        if len(self._integrations) >= _MAX_CACHED:
            self._integrations.clear()
        self._integrations[key] = (time.monotonic() + ttl, integration)
        return integration

    async def load_integration_async(self, key: str) -> Integration | None:
        return await run_in_threadpool(self.load_integration, key)

    def cached_user(self, token: str) -> tuple[bool, User | None]:
        hit = self._users.get(token_hash(token))
        if hit is None or hit[0] < time.monotonic():
            return False, None
        return True, hit[1]

    def load_user(self, token: str) -> User | None:
        digest = token_hash(token)
        with self._engine.connect() as conn:
            row = conn.execute(
                select(UserRow.id, UserRow.name, UserRow.role).where(UserRow.token_hash == digest)
            ).first()
        user = User(row.id, row.name, row.role) if row else None
        if len(self._users) >= _MAX_CACHED:
            self._users.clear()
        self._users[digest] = (time.monotonic() + (_HIT_TTL if user else _MISS_TTL), user)
        return user


def _ancestors(service_id: int, parents: dict[int, int | None]) -> tuple[int, ...]:
    chain: list[int] = []
    parent = parents.get(service_id)
    while parent is not None and parent not in chain and parent != service_id:
        chain.append(parent)
        parent = parents.get(parent)
    return tuple(chain)
