"""Hybrid logical clocks: physical milliseconds plus a counter, ordered with a node id as tie-break.

They order *intent* (which of two edits of a title came last, how a timeline displays) and never
decide a state transition. A clock that runs ahead cannot win forever: the server clamps every stamp
it receives to its own time plus `MAX_SKEW` (CockroachDB's MaxOffset idea).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MAX_SKEW = timedelta(seconds=60)
SERVER_NODE = "server"  # the node id of the server's own stamps (monitoring's edits)


@dataclass(frozen=True, slots=True, order=True)
class Hlc:
    wall_ms: int
    counter: int = 0
    node: str = ""

    def encode(self) -> str:
        """Fixed width, so encoded stamps sort as the stamps do."""
        return f"{self.wall_ms:013d}.{self.counter:05d}.{self.node}"

    @classmethod
    def decode(cls, text: str) -> Hlc:
        wall, counter, node = text.split(".", 2)
        if len(wall) != 13 or len(counter) != 5 or not wall.isdigit() or not counter.isdigit():
            raise ValueError(f"not a clock stamp: {text!r}")
        return cls(int(wall), int(counter), node)

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.wall_ms / 1000, UTC)

    def clamped(self, now: datetime, max_skew: timedelta = MAX_SKEW) -> Hlc:
        """This stamp, no later than `now + max_skew`: a clock far ahead cannot win every edit."""
        limit = to_ms(now + max_skew)
        return self if self.wall_ms <= limit else Hlc(limit, self.counter, self.node)


def to_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def stamp_at(at: datetime, node: str) -> Hlc:
    """A stamp for something that happened at a known time (the server's own changes)."""
    return Hlc(to_ms(at), 0, node)


class HybridClock:
    """One node's clock. `now_ms` is injectable, which is how tests skew a console's clock."""

    def __init__(self, node: str, now_ms: Callable[[], int], last: Hlc | None = None) -> None:
        self._node = node
        self._now_ms = now_ms
        self._last = last or Hlc(0, 0, node)

    @property
    def last(self) -> Hlc:
        return self._last

    def tick(self) -> Hlc:
        """A stamp for a local event, later than every stamp this clock has given or seen."""
        wall = max(self._last.wall_ms, self._now_ms())
        counter = self._last.counter + 1 if wall == self._last.wall_ms else 0
        self._last = Hlc(wall, counter, self._node)
        return self._last

    def receive(self, remote: Hlc) -> None:
        """Move forward past a stamp seen from elsewhere (self-stabilisation)."""
        if remote > self._last:
            self._last = Hlc(remote.wall_ms, remote.counter, self._node)
