"""Incident status as a lattice of (epoch, rank): merging is a max, so order and repeats don't matter."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Rank(enum.IntEnum):
    TRIGGERED = 0
    ACKNOWLEDGED = 1
    RESOLVED = 2
    CLOSED = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> Rank:
        return cls[label.upper()]


@dataclass(frozen=True, slots=True, order=True)
class Status:
    """Where an incident stands. Reopening starts a new epoch; within an epoch rank only rises."""

    epoch: int = 0
    rank: Rank = Rank.TRIGGERED

    @property
    def is_open(self) -> bool:
        return self.rank < Rank.RESOLVED

    def merge(self, other: Status) -> Status:
        return max(self, other)

    def advance(self, rank: Rank, *, base_epoch: int) -> Status:
        """Raise the rank in `base_epoch`; an op made against an older epoch changes nothing."""
        if base_epoch != self.epoch:
            return self
        return self.merge(Status(base_epoch, rank))

    def reopen(self, *, base_epoch: int) -> Status:
        """A new epoch, triggered; concurrent reopens of one epoch collapse into one."""
        return self.merge(Status(base_epoch + 1, Rank.TRIGGERED))
