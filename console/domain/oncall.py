"""What a console knows about on-call: the replicated schedules with their overrides (some only made
here and not yet accepted by the server), and the pages the server sent. Plain values for the On-call
view, the wall's on-call panel and the workload table; `board` answers "who now, who next" offline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from console.domain.schedule import Override, OverrideRejected, Schedule, shifts, to_utc

HORIZON = timedelta(days=14)  # how far ahead "next" and the On-call timeline look


@dataclass(frozen=True, slots=True)
class PendingOverride:
    """An override made on this console that the server has not accepted yet: shown, not in effect
    ("pending, not in effect"); `reason` is set when the server rejected it."""

    schedule: str
    override: Override
    op_id: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class OnCallNow:
    """One schedule's answer at an instant."""

    schedule: str
    user: str | None  # None: nobody is on call (a gap)
    until: datetime | None  # when this person's shift ends (None: not within HORIZON)
    next_user: str | None  # who comes after, within HORIZON
    next_at: datetime | None


@dataclass(frozen=True, slots=True)
class PageRecord:
    """The server's record that `user` was paged about `incident_id` (replicated)."""

    id: str
    incident_id: str
    epoch: int
    level: int  # from 0; people see level + 1
    repeat: int
    user: str
    at: datetime
    reason: str = "escalation"  # escalation | ack-timeout | escalate-now | notify (low priority)


def board(schedules: Iterable[Schedule], at: datetime, horizon: timedelta = HORIZON) -> list[OnCallNow]:
    """Who is on call at `at` and who is next, for each schedule, in name order."""
    at = to_utc(at)
    found: list[OnCallNow] = []
    for schedule in sorted(schedules, key=lambda s: s.name):
        ahead = shifts(schedule, at, at + horizon)
        current = ahead[0] if ahead and ahead[0].start == at else None
        user = current.user if current else None
        until = current.end if current and current.end < at + horizon else None
        following = next((s for s in ahead if s.start > at and s.user != user), None)
        found.append(
            OnCallNow(
                schedule.name,
                user,
                until,
                following.user if following else None,
                following.start if following else None,
            )
        )
    return found


# -- overrides made on consoles: outbox ops --

OVERRIDE_ADD = "override_add"  # entity: the new override's id (made on the console)
OVERRIDE_REMOVE = "override_remove"  # entity: the override's id
OVERRIDE_OPS = (OVERRIDE_ADD, OVERRIDE_REMOVE)


def override_args(schedule_id: int, override: Override) -> dict[str, Any]:
    args: dict[str, Any] = {
        "schedule_id": schedule_id,
        "user": override.user,
        "start": override.start.isoformat(),
        "end": override.end.isoformat(),
    }
    if override.replaces is not None:
        args["replaces"] = override.replaces
    return args


def override_from_args(override_id: str, args: Mapping[str, Any]) -> tuple[int, Override]:
    """The schedule id and the override an op carries; OverrideRejected names a field that is wrong."""
    schedule_id = args.get("schedule_id")
    if not isinstance(schedule_id, int) or isinstance(schedule_id, bool):
        raise OverrideRejected("schedule_id: must be a schedule's id")
    user, replaces = args.get("user"), args.get("replaces")
    if not isinstance(user, str) or not user.strip():
        raise OverrideRejected("user: must name who is on call")
    if replaces is not None and not isinstance(replaces, str):
        raise OverrideRejected("replaces: must name a person")
    times = []
    for key in ("start", "end"):
        value = args.get(key)
        try:
            parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise OverrideRejected(f"{key}: must be an ISO 8601 time with its offset")
        times.append(parsed)
    try:
        return schedule_id, Override(override_id, user.strip(), times[0], times[1], replaces)
    except ValueError as exc:
        raise OverrideRejected(str(exc)) from None
