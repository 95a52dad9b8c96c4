"""Admin actions on the server database; they work whether or not a server is running on it."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from console.domain.errors import DomainError
from console.server.changes import next_seq, read_meta
from console.server.directory import token_hash
from console.server.tables import (
    ServiceRow,
    UserRow,
    change_log,
    integrations,
    server_meta,
    services,
    tombstones,
    users,
)
from console.server.writelock import lock_transaction

ROLES = ("responder", "manager", "admin", "viewer")


class AdminError(DomainError):
    """A request an admin can fix (a name taken, a parent missing)."""


def new_integration_key() -> str:
    """32 hex characters, the shape of a PagerDuty integration key, so senders' validation accepts it."""
    return secrets.token_hex(16)


def add_service(engine: Engine, name: str, *, parent: str | None = None) -> str:
    """Create a service with one integration; returns the integration (routing) key."""
    name = name.strip()
    if not name:
        raise AdminError("A service needs a name.")
    now = datetime.now(UTC)
    with engine.begin() as conn:
        seq = change_seq(conn, now)
        if conn.execute(select(ServiceRow.id).where(ServiceRow.name == name)).first():
            raise AdminError(f"A service named {name!r} exists already.")
        parent_id = None
        if parent is not None:
            parent_id = conn.execute(select(ServiceRow.id).where(ServiceRow.name == parent)).scalar()
            if parent_id is None:
                raise AdminError(f"There is no service named {parent!r} to be the parent.")
        inserted = conn.execute(
            services.insert().values(name=name, parent_id=parent_id, created_at=now, seq=seq)
        )
        service_id = inserted.inserted_primary_key[0] if inserted.inserted_primary_key else None
        key = new_integration_key()
        conn.execute(integrations.insert().values(service_id=service_id, key=key, created_at=now))
    return key


def add_user(engine: Engine, name: str, *, role: str = "responder") -> str:
    """Create a user; returns the API token, which is stored only as a hash."""
    name = name.strip()
    if not name:
        raise AdminError("A user needs a name.")
    if role not in ROLES:
        raise AdminError(f"Unknown role {role!r}: use one of {', '.join(ROLES)}.")
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        seq = change_seq(conn, now)
        if conn.execute(select(UserRow.id).where(UserRow.name == name)).first():
            raise AdminError(f"A user named {name!r} exists already.")
        conn.execute(
            users.insert().values(name=name, role=role, token_hash=token_hash(token), created_at=now, seq=seq)
        )
    return token


def remove_user(engine: Engine, name: str) -> None:
    """Delete a user: their token stops working (within the server's 30 s token cache) and consoles
    drop them from their replicas (a tombstone)."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        seq = change_seq(conn, now)
        user_id = conn.execute(select(UserRow.id).where(UserRow.name == name)).scalar()
        if user_id is None:
            raise AdminError(f"There is no user named {name!r}.")
        conn.execute(delete(users).where(users.c.id == user_id))
        conn.execute(insert(tombstones).values(seq=seq, entity="users", entity_id=str(user_id)))


def compact(engine: Engine, *, keep: timedelta = timedelta(days=30)) -> int:
    """Forget deletions older than `keep`; a console whose cursor is older than that takes a new
    snapshot (410). Returns the new horizon (a change-log seq)."""
    with engine.begin() as conn:
        lock_transaction(conn)
        cutoff = datetime.now(UTC) - keep
        horizon = conn.execute(select(func.max(change_log.c.seq)).where(change_log.c.at < cutoff)).scalar()
        if horizon is None:
            return int(read_meta(conn).get("horizon", "0"))
        conn.execute(delete(tombstones).where(tombstones.c.seq <= horizon))
        conn.execute(delete(change_log).where(change_log.c.seq < horizon))
        conn.execute(update(server_meta).where(server_meta.c.key == "horizon").values(value=str(horizon)))
        return int(horizon)


def change_seq(conn: Connection, now: datetime) -> int:
    """A change-log seq for this transaction, taken under the write lock, for the rows it writes."""
    lock_transaction(conn)
    return next_seq(conn, now, "admin")
