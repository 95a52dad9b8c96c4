"""Escalation policies, and the pure planner the server's escalation engine follows.

A policy is a ladder of levels. Each level names users and/or schedules and how long to wait before
the next level; after the last level's wait the ladder starts again, `repeats` more times
(PagerDuty's num_loops), and then paging stops. Levels and repeats are counted from 0 here; people
see "level 1" for index 0.
- High priority climbs the ladder; low priority pages level 1 once and never escalates.
- A step carries its level's targets unresolved: who a schedule names is decided when the step is
  due (`resolve_targets`), because whoever is on call then may not be who was on call at the trigger.
- A step's key names (incident, epoch, level, repeat). The engine persists one job per key and
  records a page under it, so a job run twice (a crash, two server processes) pages once.
- Acknowledging or resolving stops the ladder; that is the engine's check, not the planner's.
- Acknowledgement timeout (per service): an acknowledged incident with no progress for T goes back
  to triggered and pages again. Within an epoch the status lattice only rises, so the engine does
  this by starting a new epoch and planning afresh from the timeout, which also gives fresh keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeAlias

from console.domain.priority import Priority
from console.domain.schedule import Schedule, on_call, to_utc

MAX_REPEATS = 9  # PagerDuty's limit: after ten unanswered passes a person must step in, not a robot


@dataclass(frozen=True, slots=True)
class UserTarget:
    user: str


@dataclass(frozen=True, slots=True)
class ScheduleTarget:
    schedule: str  # the schedule's name


Target: TypeAlias = UserTarget | ScheduleTarget


@dataclass(frozen=True, slots=True)
class Level:
    targets: tuple[Target, ...]
    delay_minutes: int = 30  # wait before the next level (after the last: before the next pass)

    def __post_init__(self) -> None:
        if not self.targets:
            raise ValueError("targets: an escalation level must page someone")
        if self.delay_minutes < 1:
            raise ValueError("delay_minutes: at least 1, or every level would page at once")

    @property
    def delay(self) -> timedelta:
        return timedelta(minutes=self.delay_minutes)


@dataclass(frozen=True, slots=True)
class Policy:
    """One per service."""

    name: str
    levels: tuple[Level, ...]
    repeats: int = 0  # passes over the ladder after the first

    def __post_init__(self) -> None:
        if not self.levels:
            raise ValueError(f"levels: escalation policy {self.name!r} needs at least one level")
        if not 0 <= self.repeats <= MAX_REPEATS:
            raise ValueError(f"repeats: from 0 to {MAX_REPEATS}")


@dataclass(frozen=True, slots=True)
class PageStep:
    """Page `targets` at `due_at`: level `level` of pass `repeat`."""

    level: int
    repeat: int
    due_at: datetime
    targets: tuple[Target, ...]

    def key(self, incident_id: str, epoch: int) -> str:
        """The engine's idempotency key: one page per (incident, epoch, level, repeat)."""
        return f"{incident_id}/{epoch}/{self.level}/{self.repeat}"


def first_step(policy: Policy, triggered_at: datetime) -> PageStep:
    """Level 1 of the first pass, due when the incident was triggered."""
    return PageStep(0, 0, to_utc(triggered_at, "triggered_at"), policy.levels[0].targets)


def next_step(policy: Policy, priority: Priority, after: PageStep) -> PageStep | None:
    """The step after `after`, due the delay of `after`'s level later; None when paging is over.

    A policy edited mid-escalation may no longer have `after`'s level: it then counts as the last
    level, so the next pass starts instead of the engine failing on a stored job.
    """
    if priority is Priority.LOW:
        return None
    level = min(after.level, len(policy.levels) - 1)
    due_at = after.due_at + policy.levels[level].delay
    if level + 1 < len(policy.levels):
        return PageStep(level + 1, after.repeat, due_at, policy.levels[level + 1].targets)
    if after.repeat < policy.repeats:
        return PageStep(0, after.repeat + 1, due_at, policy.levels[0].targets)
    return None


def plan(policy: Policy, priority: Priority, triggered_at: datetime) -> tuple[PageStep, ...]:
    """Every step for an incident triggered at `triggered_at` that nobody acknowledges, in order."""
    steps = [first_step(policy, triggered_at)]
    while (following := next_step(policy, priority, steps[-1])) is not None:
        steps.append(following)
    return tuple(steps)


def current_step(policy: Policy, priority: Priority, triggered_at: datetime, at: datetime) -> PageStep | None:
    """The latest step due by `at` (None before the trigger): what to page after the engine was down,
    rather than every level it missed at once."""
    at = to_utc(at)
    due = [step for step in plan(policy, priority, triggered_at) if step.due_at <= at]
    return due[-1] if due else None


def escalate_now(policy: Policy, current: PageStep, at: datetime) -> PageStep | None:
    """The step after `current`, due at `at`: someone pressed Escalate. A person asking overrides
    "low priority never escalates"; later steps follow from this one's time (next_step)."""
    following = next_step(policy, Priority.HIGH, current)
    return replace(following, due_at=to_utc(at)) if following else None


def resolve_targets(
    targets: Iterable[Target], schedules: Mapping[str, Schedule], at: datetime
) -> tuple[str, ...]:
    """The people to page at `at`: users as named, schedules as whoever is on call then. In target
    order, each person once. A schedule that is unknown or has nobody on call adds nobody;
    `nobody_on_call` names those, so the engine can say so on the timeline."""
    at = to_utc(at)
    people: dict[str, None] = {}  # a dict keeps insertion order
    for target in targets:
        match target:
            case UserTarget(user=user):
                people.setdefault(user)
            case ScheduleTarget(schedule=name) if name in schedules:
                person = on_call(schedules[name], at)
                if person is not None:
                    people.setdefault(person)
    return tuple(people)


def nobody_on_call(
    targets: Iterable[Target], schedules: Mapping[str, Schedule], at: datetime
) -> tuple[ScheduleTarget, ...]:
    """The schedule targets that name nobody at `at` (unknown schedule, or a gap in it)."""
    at = to_utc(at)
    return tuple(
        target
        for target in targets
        if isinstance(target, ScheduleTarget)
        and (target.schedule not in schedules or on_call(schedules[target.schedule], at) is None)
    )


def ack_timeout_due(
    acknowledged_at: datetime, last_progress_at: datetime | None, timeout: timedelta | None
) -> datetime | None:
    """When an acknowledged incident goes back to triggered: `timeout` after the later of its
    acknowledgement and its last progress (a note, a status update, a runbook tick). None when the
    service has no acknowledgement timeout."""
    if timeout is None:
        return None
    if timeout <= timedelta(0):
        raise ValueError("timeout: must be positive")
    since = to_utc(acknowledged_at, "acknowledged_at")
    if last_progress_at is not None:
        since = max(since, to_utc(last_progress_at, "last_progress_at"))
    return since + timeout
