from __future__ import annotations

import pytest

from console.domain.priority import Priority, Severity, priority_for, severity_from_label


@pytest.mark.parametrize(
    ("severity", "priority"),
    [
        (Severity.CRITICAL, Priority.HIGH),
        (Severity.ERROR, Priority.HIGH),
        (None, Priority.HIGH),
        (Severity.WARNING, Priority.LOW),
        (Severity.INFO, Priority.LOW),
    ],
)
def test_priority_follows_pagerduty_severity_rule(severity: Severity | None, priority: Priority) -> None:
    assert priority_for(severity) is priority


@pytest.mark.parametrize(
    ("label", "severity"),
    [
        ("critical", Severity.CRITICAL),
        (" Warning ", Severity.WARNING),
        ("page", Severity.CRITICAL),
        ("ticket", Severity.WARNING),
        ("none", Severity.INFO),
        ("something-new", Severity.CRITICAL),
        ("", None),
        (None, None),
    ],
)
def test_free_form_severity_labels_map_and_unknown_ones_page(
    label: str | None, severity: Severity | None
) -> None:
    assert severity_from_label(label) is severity
