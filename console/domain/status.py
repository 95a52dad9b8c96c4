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
        return _LABELS[self]

    @classmethod
    def from_label(cls, label: str) -> Rank:
        try:
            return _BY_LABEL[label]
        except KeyError:  # not lower case, or no rank at all
            return cls[label.upper()]


# The server writes and reads a rank's label for every incident row: a table lookup instead of the
# Enum's `name` property (Python code) and a str method each time.
_LABELS = tuple(rank.name.lower() for rank in Rank)  # by value: the ranks are 0, 1, 2, 3
_BY_LABEL = {label: Rank(value) for value, label in enumerate(_LABELS)}


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
