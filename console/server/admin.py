"""Admin actions on the server database; they work whether or not a server is running on it."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from console.domain.errors import DomainError
from console.server.directory import token_hash
from console.server.tables import ServiceRow, UserRow, integrations, services, users

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
        if conn.execute(select(ServiceRow.id).where(ServiceRow.name == name)).first():
            raise AdminError(f"A service named {name!r} exists already.")
        parent_id = None
        if parent is not None:
            parent_id = conn.execute(select(ServiceRow.id).where(ServiceRow.name == parent)).scalar()
            if parent_id is None:
                raise AdminError(f"There is no service named {parent!r} to be the parent.")
        inserted = conn.execute(services.insert().values(name=name, parent_id=parent_id, created_at=now))
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
    with engine.begin() as conn:
        if conn.execute(select(UserRow.id).where(UserRow.name == name)).first():
            raise AdminError(f"A user named {name!r} exists already.")
        conn.execute(
            users.insert().values(
                name=name, role=role, token_hash=token_hash(token), created_at=datetime.now(UTC)
            )
        )
    return token
