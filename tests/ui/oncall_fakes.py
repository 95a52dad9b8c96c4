"""An in-memory OnCallSource over domain objects, standing in for the replica (whose on-call part is
being written) in the On-call view's tests and screenshots; and believable demo data for it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

from console.domain.oncall import OnCallNow, PageRecord, PendingOverride, board
from console.domain.schedule import (
    WEEKDAYS,
    Layer,
    Override,
    Restriction,
    Schedule,
    Turn,
    check_override,
)
from console.domain.views import OutboxOp


class FakeOnCall:
    """What the replica answers: accepted overrides live in the schedules, new ones wait as pending
    until `accept` (the server took them) or `reject` (it refused, with a reason)."""

    def __init__(
        self,
        schedules: list[Schedule],
        *,
        pages: list[PageRecord] | None = None,
        users: list[tuple[int, str, str]] | None = None,
    ) -> None:
        self._schedules = {s.name: s for s in schedules}
        self._pending: list[PendingOverride] = []
        self._pages = list(pages or [])
        self._users = list(users or [])
        self.ops: list[OutboxOp] = []

    def schedules(self) -> list[Schedule]:
        return list(self._schedules.values())

    def pending_overrides(self) -> list[PendingOverride]:
        return list(self._pending)

    def add_override(self, schedule: str, override: Override) -> OutboxOp:
        if schedule not in self._schedules:
            raise ValueError(f"schedule: no schedule {schedule!r}")
        waiting = [p.override for p in self._pending if p.schedule == schedule and not p.reason]
        check_override([*self._schedules[schedule].overrides, *waiting], override)  # OverrideRejected
        op = OutboxOp(
            client_seq=len(self.ops) + 1,
            op_id=f"op-{len(self.ops) + 1}",
            type="override",
            entity_id=schedule,
            args={"id": override.id, "user": override.user},
            hlc="",
            base_epoch=0,
            state="pending",
            reason="",
            result_seq=None,
            attempts=0,
            last_error="",
            created_at=datetime.now(UTC),
        )
        self.ops.append(op)
        self._pending.append(PendingOverride(schedule, override, op.op_id))
        return op

    def accept(self, op_id: str) -> None:
        """The server accepted the op: the override is now part of its schedule."""
        found = next(p for p in self._pending if p.op_id == op_id)
        self._pending.remove(found)
        schedule = self._schedules[found.schedule]
        self._schedules[found.schedule] = replace(schedule, overrides=(*schedule.overrides, found.override))

    def reject(self, op_id: str, reason: str) -> None:
        self._pending = [replace(p, reason=reason) if p.op_id == op_id else p for p in self._pending]

    def pages(self, *, since: datetime | None = None) -> list[PageRecord]:
        return [p for p in self._pages if since is None or p.at >= since]

    def users(self) -> list[tuple[int, str, str]]:
        return list(self._users)

    def on_call_now(self, at: datetime) -> list[OnCallNow]:
        return board(self._schedules.values(), at)


# -- demo data: two teams in three zones, four weeks of pages --

DEMO_NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
DEMO_USERS = [
    (1, "morgan", "admin"),
    (2, "sam", "responder"),
    (3, "priya", "responder"),
    (4, "lee", "responder"),
    (5, "jordan", "manager"),
    (6, "wallboard", "viewer"),
]


def demo_schedules() -> list[Schedule]:
    primary = Schedule(
        "Platform primary",
        (
            Layer(
                "weekly",
                ("sam", "priya", "lee", "morgan"),
                "Europe/Berlin",
                date(2026, 11, 2),
                turn=Turn.weekly(),
            ),
            Layer(
                "business hours",
                ("jordan",),
                "Europe/Berlin",
                date(2026, 11, 2),
                restrictions=(Restriction(time(9, 0), time(12, 0), WEEKDAYS),),
            ),
        ),
        (
            Override(
                "ov-accepted",
                "lee",
                datetime(2026, 11, 30, 8, tzinfo=UTC),
                datetime(2026, 12, 1, 8, tzinfo=UTC),
            ),
        ),
    )
    database = Schedule(
        "Database",
        (
            Layer(
                "follow the sun",
                ("priya", "lee"),
                "America/New_York",
                date(2026, 11, 1),
                handoff=time(8, 0),
                turn=Turn.custom(timedelta(hours=12)),
            ),
        ),
    )
    payments = Schedule(
        "Payments (weekdays)",
        (
            Layer(
                "daytime",
                ("morgan", "sam"),
                "Asia/Kolkata",
                date(2026, 11, 2),
                restrictions=(Restriction(time(9, 0), time(18, 0), WEEKDAYS),),
            ),
        ),
    )
    return [primary, database, payments]


def demo_pages() -> tuple[list[PageRecord], dict[str, datetime | None]]:
    """Pages over the four weeks before DEMO_NOW, with the incidents' acknowledgements."""
    pages: list[PageRecord] = []
    acks: dict[str, datetime | None] = {}
    plan = [  # (user, days before now, UTC hour, minutes to ack or None)
        ("morgan", 0, 1, 4),  # 02:00 in Berlin: morgan's broken night, last night
        ("morgan", 0, 2, 7),
        ("morgan", 0, 4, 2),
        ("morgan", 3, 14, 3),
        ("lee", 8, 2, 15),  # 21:00 in New York: evening, not night, in lee's zone
        ("lee", 9, 13, 6),
        ("priya", 15, 23, 12),
        ("priya", 16, 15, 1),
        ("priya", 17, 3, None),  # 22:00 in New York: night; never acknowledged
        ("sam", 20, 10, 2),
        ("sam", 22, 11, 3),
    ]
    for index, (user, days, hour, ack) in enumerate(plan):
        at = (DEMO_NOW - timedelta(days=days)).replace(hour=hour, minute=17)
        incident = f"inc-{index}"
        pages.append(PageRecord(f"page-{index}", incident, 0, 0, 0, user, at))
        acks[incident] = at + timedelta(minutes=ack) if ack is not None else None
    return pages, acks


# The people's own zones (the directory has them; ports.users() does not carry them yet).
DEMO_ZONES: dict[str, str | None] = {
    "morgan": "Europe/Berlin",
    "sam": "Europe/Berlin",
    "jordan": "Europe/Berlin",
}


def demo_source() -> FakeOnCall:
    pages, _ = demo_pages()
    return FakeOnCall(demo_schedules(), pages=pages, users=DEMO_USERS)
