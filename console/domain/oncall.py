"""What a console knows about on-call: the replicated schedules with their overrides (some only made
here and not yet accepted by the server), and the pages the server sent. Plain values for the On-call
view, the wall's on-call panel and the workload table; `board` answers "who now, who next" offline.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from console.domain.schedule import Override, Schedule, shifts, to_utc

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
