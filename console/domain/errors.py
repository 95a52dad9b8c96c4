"""Errors that callers outside the domain must handle, in words a responder understands."""

from __future__ import annotations


class DomainError(Exception):
    """A broken domain rule; the message is meant to be shown to a person."""


class KnownFailure(Exception):
    """An environment failure that is not our bug (disk full, server unreachable)."""


class StorageFull(KnownFailure):
    """The disk holding a database is full; nothing was written."""
