"""Schedules' layers, overrides and escalation levels as JSON-ready values, and back: how the server
stores them and how they travel to consoles. Targets are written as in the team file ("user:NAME",
"schedule:NAME"). Reading checks as the domain constructors do (ValueError names the field)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from console.domain.escalation import Level, Policy, ScheduleTarget, Target, UserTarget
from console.domain.schedule import Layer, Restriction, Turn


def _instant(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _read_instant(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def layer_json(layer: Layer) -> dict[str, Any]:
    return {
        "name": layer.name,
        "participants": list(layer.participants),
        "time_zone": layer.time_zone,
        "anchor": layer.anchor.isoformat(),
        "handoff": layer.handoff.isoformat(),  # seconds kept: a file that gives them applies unchanged
        "turn": {"days": layer.turn.days, "minutes": int(layer.turn.length.total_seconds() // 60)},
        "restrictions": [
            {"start": r.start.isoformat(), "end": r.end.isoformat(), "days": sorted(r.days)}
            for r in layer.restrictions
        ],
        "starts": _instant(layer.starts),
        "ends": _instant(layer.ends),
    }


def layer_from_json(value: Mapping[str, Any]) -> Layer:
    turn = value["turn"]
    return Layer(
        name=value["name"],
        participants=tuple(value["participants"]),
        time_zone=value["time_zone"],
        anchor=date.fromisoformat(value["anchor"]),
        handoff=time.fromisoformat(value["handoff"]),
        turn=Turn(days=int(turn["days"]), length=timedelta(minutes=int(turn["minutes"]))),
        restrictions=tuple(
            Restriction(time.fromisoformat(r["start"]), time.fromisoformat(r["end"]), frozenset(r["days"]))
            for r in value.get("restrictions", ())
        ),
        starts=_read_instant(value.get("starts")),
        ends=_read_instant(value.get("ends")),
    )


def layers_json(layers: Iterable[Layer]) -> list[dict[str, Any]]:
    return [layer_json(layer) for layer in layers]


def layers_from_json(values: Sequence[Mapping[str, Any]]) -> tuple[Layer, ...]:
    return tuple(layer_from_json(value) for value in values)


def target_text(target: Target) -> str:
    return f"user:{target.user}" if isinstance(target, UserTarget) else f"schedule:{target.schedule}"


def target_from_text(text: str) -> Target:
    kind, _, name = text.partition(":")
    if kind == "user" and name:
        return UserTarget(name)
    if kind == "schedule" and name:
        return ScheduleTarget(name)
    raise ValueError(f"targets: {text!r} is neither user:NAME nor schedule:NAME")


def levels_json(levels: Iterable[Level]) -> list[dict[str, Any]]:
    return [
        {"targets": [target_text(t) for t in level.targets], "delay_minutes": level.delay_minutes}
        for level in levels
    ]


def policy_from_json(name: str, repeats: int, levels: Sequence[Mapping[str, Any]]) -> Policy:
    return Policy(
        name,
        tuple(
            Level(tuple(target_from_text(t) for t in level["targets"]), int(level["delay_minutes"]))
            for level in levels
        ),
        repeats,
    )
