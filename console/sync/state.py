"""What the window shows of sync, apart from the engine (the UI imports this, never httpx or the store)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class Status(enum.Enum):
    ONLINE = "online"
    SYNCING = "syncing"
    OFFLINE = "offline"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class SyncView:
    """What the UI shows of sync: the state, its message, unsent ops, when it last fully synced."""

    status: Status
    message: str
    pending: int
    last_sync_at: datetime | None
    server_url: str


def offline_message(pending: int) -> str:
    if pending == 0:
        return "Working offline: the server cannot be reached."
    return f"Working offline: {pending} change{'s' if pending != 1 else ''} will sync."
