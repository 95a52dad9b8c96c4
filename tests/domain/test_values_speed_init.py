"""`quick_init`: the faster construction of the intake's frozen values must behave as dataclass's own."""

from __future__ import annotations

import copy
import pickle
from dataclasses import FrozenInstanceError, dataclass, field, replace
from datetime import UTC, datetime

import pytest

from console.domain.incident import (
    Alert,
    AlertStatus,
    EntryKind,
    Incident,
    Link,
    TimelineEntry,
    quick_init,
)
from console.domain.intake import AlertEvent, Context, EventAction, Folded, Outcome
from console.domain.priority import Priority, Severity
from console.domain.status import Status

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def _incident(**more: object) -> Incident:
    return Incident(
        id="i1",
        number=1,
        service_id=2,
        title="down",
        priority=Priority.LOW,
        category="general",
        status=Status(),
        created_at=T0,
        updated_at=T0,
        **more,  # type: ignore[arg-type]
    )


def test_keywords_positions_and_defaults_make_the_same_value() -> None:
    by_keyword = _incident(group_key="g")
    by_position = Incident("i1", 1, 2, "down", Priority.LOW, "general", Status(), T0, T0, None, "g")
    assert by_keyword == by_position
    assert (by_keyword.alert_count, by_keyword.assignee, by_keyword.clocks) == (0, None, {})
    assert Link("https://x") == Link(href="https://x", text="")
    assert hash(Link("https://x")) == hash(Link(href="https://x", text=""))


def test_each_value_gets_its_own_default_factory_result() -> None:
    first, second = _incident(), _incident()
    assert first.clocks is not second.clocks
    given = {"priority": "stamp"}
    assert _incident(clocks=given).clocks is given
    assert TimelineEntry("e1", "i1", 2, T0, EntryKind.NOTE, "me").body == {}


def test_values_stay_frozen_and_replace_still_works() -> None:
    incident = _incident()
    with pytest.raises(FrozenInstanceError):
        incident.title = "changed"  # type: ignore[misc]
    changed = replace(incident, title="changed", alert_count=3)
    assert (changed.title, changed.alert_count, changed.id) == ("changed", 3, "i1")
    assert incident.title == "down"


def test_missing_and_unknown_arguments_fail_as_before() -> None:
    with pytest.raises(TypeError):
        Incident("i1")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Link("https://x", nope=1)  # type: ignore[call-arg]


def test_the_intake_values_use_it() -> None:
    for cls in (Alert, Incident, TimelineEntry, Link, AlertEvent, Context, Folded):
        assert cls.__new__.__qualname__ == f"{cls.__qualname__}.__new__"
    event = AlertEvent(EventAction.TRIGGER, "k", severity=Severity.INFO)
    assert (event.summary, event.labels, event.links, event.counts_repeat) == ("", {}, (), True)
    assert Folded(Outcome.DROPPED) == Folded(Outcome.DROPPED, None, None, ())
    alert = Alert("a1", "i1", 2, 3, "k", "", AlertStatus.TRIGGERED, "s", "src", None, Priority.HIGH, T0, T0)
    assert (alert.repeat_count, alert.labels, alert.resolved_at) == (0, {}, None)


def test_keyword_only_fields_are_refused() -> None:
    with pytest.raises(TypeError, match="quick_init"):

        @quick_init
        @dataclass(frozen=True, slots=True, kw_only=True)
        class KeywordOnly:
            name: str
            tags: list[str] = field(default_factory=list)


def test_a_value_is_of_its_own_class_and_copies_and_pickles_as_itself() -> None:
    # made as a twin class with the same slots, then given the real class: nothing may show it
    incident = _incident(clocks={"priority": "stamp"}, group_key="g")
    assert type(incident) is Incident
    assert repr(incident).startswith("Incident(id='i1', number=1,")
    for copied in (copy.copy(incident), copy.deepcopy(incident), pickle.loads(pickle.dumps(incident))):
        assert type(copied) is Incident
        assert copied == incident
    assert copy.deepcopy(incident).clocks is not incident.clocks
    link = Link("https://x", "x")
    assert pickle.loads(pickle.dumps(link)) == link
    assert {link: 1}[Link("https://x", "x")] == 1
