"""Incident views for alert-policy tests, and a reader of the commands the policy returns."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from console.domain.incident import Incident
from console.domain.priority import Priority
from console.domain.status import Rank, Status
from console.domain.views import IncidentView
from console.notify.policy import Close, Command, Show, StartHighSound, StopHighSound

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
ME = "alice"


def view(
    number: int,
    *,
    service: str = "checkout-api",
    priority: Priority = Priority.HIGH,
    rank: Rank = Rank.TRIGGERED,
    epoch: int = 0,
    created_at: datetime = T0,
    snoozed_until: datetime | None = None,
    assignee: str | None = None,
    title: str | None = None,
) -> IncidentView:
    incident = Incident(
        id=f"inc-{number}",
        number=number,
        service_id=1,
        title=title or f"Something broke ({number})",
        priority=priority,
        category="availability",
        status=Status(epoch, rank),
        created_at=created_at,
        updated_at=created_at,
        snoozed_until=snoozed_until,
        assignee=assignee,
    )
    return IncidentView(incident, service)


def low(number: int, **kwargs: object) -> IncidentView:
    return view(number, priority=Priority.LOW, **kwargs)  # type: ignore[arg-type]


def acknowledged(v: IncidentView) -> IncidentView:
    return IncidentView(
        replace(v.incident, status=Status(v.incident.status.epoch, Rank.ACKNOWLEDGED)), v.service
    )


def resolved(v: IncidentView) -> IncidentView:
    return IncidentView(replace(v.incident, status=Status(v.incident.status.epoch, Rank.RESOLVED)), v.service)


def shows(commands: Iterable[Command]) -> list[Show]:
    return [c for c in commands if isinstance(c, Show)]


def closes(commands: Iterable[Command]) -> list[str]:
    return [c.key for c in commands if isinstance(c, Close)]


@dataclass
class Desktop:
    """What the commands have put on the desktop: open notifications (their last Show) and the loop."""

    open: dict[str, Show] = field(default_factory=dict)
    looping: bool = False
    shown_per_call: list[int] = field(default_factory=list)

    def apply(self, commands: list[Command]) -> list[Command]:
        self.shown_per_call.append(len(shows(commands)))
        for command in commands:
            if isinstance(command, Show):
                self.open[command.key] = command
            elif isinstance(command, Close):
                assert command.key in self.open, f"closed {command.key}, which is not open"
                del self.open[command.key]
            elif isinstance(command, StartHighSound):
                assert not self.looping, "started the loop twice"
                self.looping = True
            elif isinstance(command, StopHighSound):
                assert self.looping, "stopped a loop that was not playing"
                self.looping = False
        return commands
