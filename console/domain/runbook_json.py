"""Runbooks as JSON-ready values, and back: how the server stores a runbook (and the version a run
started with) and how it travels to consoles. Also the outbox ops that act on runs and runbooks.

Reading checks as the domain constructors do (ValueError names the field), so a row from a newer
server that this console cannot read is refused, not half-read.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date
from typing import Any

from console.domain.clock import Hlc
from console.domain.errors import DomainError
from console.domain.incident import Link
from console.domain.runbook import (
    AppliesTo,
    Matcher,
    MatchOp,
    Runbook,
    RunOp,
    Step,
    run_op_args,
    run_op_from_args,
)

# Outbox op types. A run op's entity is the run; its args are run_op_args plus the op's kind.
RUN_OP = "run_op"
# A manager's save from the editor: entity `runbook_entity(id)`, args {id, version, text (Markdown)}.
RUNBOOK_SAVE = "runbook_save"
RUNBOOK_OPS = (RUN_OP, RUNBOOK_SAVE)

_ENTITIES = uuid.UUID("6f1c5a4e-6b0e-4d8e-9a53-3c2f0b7d1e21")  # namespace of runbook_entity


class RunbookRejected(DomainError):
    """A runbook save that cannot be made (a version not raised, a text that does not read back)."""


def runbook_entity(runbook_id: str) -> str:
    """The outbox entity of a runbook's saves: a UUID (a runbook id may be longer than an entity
    id can be), the same for every save of one runbook."""
    return str(uuid.uuid5(_ENTITIES, runbook_id))


def run_op_outbox_args(op: RunOp) -> dict[str, Any]:
    return {**run_op_args(op), "kind": op.kind.value}


def run_op_from_outbox(*, op_id: str, run_id: str, args: Mapping[str, Any], actor: str, hlc: Hlc) -> RunOp:
    """A run op from its outbox args; RunOpRejected names a field that is wrong."""
    kind = args.get("kind")
    return run_op_from_args(
        op_id=op_id,
        run_id=run_id,
        kind=kind if isinstance(kind, str) else "",
        args=args,
        actor=actor,
        hlc=hlc,
    )


def runbook_json(runbook: Runbook) -> dict[str, Any]:
    return {
        "id": runbook.id,
        "title": runbook.title,
        "version": runbook.version,
        "steps": [_step_json(step) for step in runbook.steps],
        "applies_to": {
            "service": runbook.applies_to.service,
            "matchers": [
                {"name": m.name, "op": m.op.value, "value": m.value} for m in runbook.applies_to.matchers
            ],
        },
        "last_reviewed": runbook.last_reviewed.isoformat() if runbook.last_reviewed else None,
        "description": runbook.description,
        "afterword": runbook.afterword,
    }


def _step_json(step: Step) -> dict[str, Any]:
    found: dict[str, Any] = {"id": step.id, "text": step.text}
    if step.link is not None:
        found["link"] = {"href": step.link.href, "text": step.link.text}
    if step.command is not None:
        found["command"] = step.command
    if step.approval is not None:
        found["approval"] = step.approval
    return found


def runbook_from_json(value: Mapping[str, Any]) -> Runbook:
    """Raises ValueError when `value` is not a runbook as runbook_json writes it."""
    try:
        applies = value.get("applies_to") or {}
        matchers = tuple(
            Matcher(_str(m["name"]), MatchOp(m["op"]), _str(m["value"])) for m in applies.get("matchers", ())
        )
        reviewed = value.get("last_reviewed")
        return Runbook(
            _str(value["id"]),
            _str(value["title"]),
            _int(value["version"]),
            tuple(_step(step) for step in value["steps"]),
            AppliesTo(applies.get("service"), matchers),
            date.fromisoformat(reviewed) if reviewed is not None else None,
            _str(value.get("description", "")),
            _str(value.get("afterword", "")),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a runbook: {exc!r}") from None


def _step(value: Mapping[str, Any]) -> Step:
    link = value.get("link")
    return Step(
        _str(value["id"]),
        _str(value["text"]),
        Link(_str(link["href"]), _str(link.get("text", ""))) if link is not None else None,
        value.get("command"),
        value.get("approval"),
    )


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected a whole number, got {type(value).__name__}")
    return value
