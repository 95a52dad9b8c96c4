"""What the window needs from the rest of the console, as protocols: app.py hands in the concrete
objects (the replica, the sync engine), and tests hand in the same ones."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from console.domain.ops import OpType
from console.domain.views import IncidentDetail, IncidentView, OutboxOp


class IncidentWatch(Protocol):
    """Which incidents changed since the last take() (console.store.watch.ChangeWatch)."""

    def take(self) -> set[str] | None: ...


class IncidentSource(Protocol):
    """The local replica with the person's unsynced ops folded in (console.store.replica.Replica)."""

    def incidents(self, *, statuses: Iterable[str] | None = None, text: str = "") -> list[IncidentView]: ...

    def urgent_first(self, *, first: int = ..., batch: int = ...) -> Iterator[list[IncidentView]]: ...

    def views(self, incident_ids: Iterable[str]) -> dict[str, IncidentView]: ...

    def watch(self) -> IncidentWatch: ...

    def incident(self, incident_id: str) -> IncidentDetail: ...

    def act(self, kind: OpType, incident_id: str, args: Mapping[str, Any] | None = None) -> OutboxOp: ...

    def report(
        self, title: str, service: str, *, priority: str = ..., category: str = ..., description: str = ...
    ) -> OutboxOp: ...

    def services(self) -> list[tuple[int, str]]: ...

    def pending_count(self) -> int: ...
