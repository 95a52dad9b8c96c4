"""Severity as monitoring sends it, and the two priorities people work with."""

from __future__ import annotations

import enum


class Severity(enum.Enum):
    """PagerDuty's four severities, the vocabulary every intake format is mapped onto."""

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Priority(enum.Enum):
    """High pages and escalates; low notifies once."""

    HIGH = "high"
    LOW = "low"


# Bound once for priority_for, which runs for every new alert: a member looked up on its Enum class
# (Severity.INFO) goes through EnumType, and `in` a set through Enum's __hash__, both Python code.
_WARNING, _INFO = Severity.WARNING, Severity.INFO
_HIGH, _LOW = Priority.HIGH, Priority.LOW

# Labels that Prometheus and Grafana users put in `severity`, beyond PagerDuty's four. Anything unknown
# pages: a missed page costs more than a needless one.
_ALIASES: dict[str, Severity] = {
    "fatal": Severity.CRITICAL,
    "emergency": Severity.CRITICAL,
    "alert": Severity.CRITICAL,
    "page": Severity.CRITICAL,
    "high": Severity.CRITICAL,
    "major": Severity.ERROR,
    "p1": Severity.CRITICAL,
    "p2": Severity.ERROR,
    "warn": Severity.WARNING,
    "minor": Severity.WARNING,
    "low": Severity.WARNING,
    "ticket": Severity.WARNING,
    "p3": Severity.WARNING,
    "notice": Severity.INFO,
    "informational": Severity.INFO,
    "none": Severity.INFO,
    "p4": Severity.INFO,
    "p5": Severity.INFO,
}


def priority_for(severity: Severity | None) -> Priority:
    """critical, error or missing → high; warning, info → low (PagerDuty's rule)."""
    return _LOW if severity is _WARNING or severity is _INFO else _HIGH


def severity_from_label(value: str | None) -> Severity | None:
    """A free-form `severity` label as a Severity; None when absent, CRITICAL when unknown."""
    if value is None or not value.strip():
        return None
    text = value.strip().lower()
    try:
        return Severity(text)
    except ValueError:
        return _ALIASES.get(text, Severity.CRITICAL)
