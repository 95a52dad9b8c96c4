"""Runbooks (ordered checklists attached to services or alerts) and runs of them on incidents.

A runbook is a value: read from a Markdown file (console/runbook_files.py) or made from an
Alertmanager `runbook_url` annotation. `matches` tells whether it applies to an alert; `attach`
picks the runbooks an incident gets.

A run is one runbook version worked through on one incident. Its state is the set of ops people
made on it (tick, untick, approve, override, note), so `apply` is a set union: any delivery order,
any duplicates, the same run (sync.md §3). What a step shows is derived from that set:
- Done claims (tick, approve, override) and unticks form an observed-remove set per step. An op
  carries `observed`, the ids of the step's claims and unticks its author's console had seen; an
  untick removes exactly the claims it observed. A step is done while a claim is left.
- So a tick that an untick did not see survives it (add-wins), and the step is flagged: the pair
  disagreed without either seeing the other. A later claim or untick that saw both settles it.
- A step that needs approval is done only by an approval from its role, or by an emergency
  override whose reason goes on the incident's timeline; a plain tick of it is rejected.
Whether an op is valid depends only on the op and the run's runbook, never on the ops seen so far,
so a rejection cannot depend on delivery order either.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from console.domain.clock import Hlc
from console.domain.errors import DomainError
from console.domain.incident import Alert, Link

MAX_NOTE = 20_000
MAX_REASON = 2_000

ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")  # runbook and step ids: what a file names them
ROLE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# -- matching alerts --


class MatchOp(enum.StrEnum):
    """Alertmanager's four matcher operators."""

    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


@dataclass(frozen=True, slots=True)
class Matcher:
    """`name op "value"` on an alert's labels and fields, with Alertmanager's semantics: a missing
    label is the empty string, and a regex must match the whole value."""

    name: str
    op: MatchOp
    value: str

    def __post_init__(self) -> None:
        if not _LABEL_NAME.fullmatch(self.name):
            raise ValueError(f"not a label name: {self.name!r}")
        if self.op in (MatchOp.REGEX, MatchOp.NOT_REGEX):
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"{self.name}: not a regular expression ({exc})") from None

    def test(self, fields: Mapping[str, str]) -> bool:
        subject = fields.get(self.name, "")
        match self.op:
            case MatchOp.EQUAL:
                return subject == self.value
            case MatchOp.NOT_EQUAL:
                return subject != self.value
            case MatchOp.REGEX:
                return re.fullmatch(self.value, subject) is not None
            case MatchOp.NOT_REGEX:
                return re.fullmatch(self.value, subject) is None

    def __str__(self) -> str:
        # JSON string escapes, which Alertmanager's quoted values accept, also for every character that
        # does not print (NEL or U+2028 would break the line in a YAML file)
        quoted = json.dumps(self.value, ensure_ascii=False)
        return f"{self.name}{self.op}" + "".join(
            char if char.isprintable() else json.dumps(char)[1:-1] for char in quoted
        )


_MATCHER = re.compile(r"\s*(?P<name>[^\s=!~\"]*)\s*(?P<op>=~|!~|!=|=)\s*(?P<value>.*?)\s*", re.DOTALL)


def parse_matcher(text: str) -> Matcher:
    """`severity="critical"`, `alertname=~"Checkout.*"`, `env!=staging`: a quoted or bare value.

    Raises ValueError saying what is wrong.
    """
    found = _MATCHER.fullmatch(text)
    if found is None:
        raise ValueError(f'not a matcher: {text!r} (write it as name="value", with = != =~ or !~)')
    value = found["value"]
    if value.startswith('"'):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f"{found['name']}: the quoted value is not closed or has a bad escape") from None
    elif '"' in value:
        raise ValueError(f"{found['name']}: a bare value cannot hold a double quote; quote the value")
    return Matcher(found["name"], MatchOp(found["op"]), value)


def one_line(text: str) -> bool:
    """Non-empty, without surrounding white space or any line break (U+2028 and NEL included)."""
    return bool(text) and text == text.strip() and len(text.splitlines()) == 1


@dataclass(frozen=True, slots=True)
class AppliesTo:
    """A service and matchers, all of which must hold; with neither, the runbook is attached by hand."""

    service: str | None = None
    matchers: tuple[Matcher, ...] = ()

    def __post_init__(self) -> None:
        if self.service is not None and not one_line(self.service):
            raise ValueError(f"service: not a service name: {self.service!r}")


def alert_fields(alert: Alert) -> dict[str, str]:
    """What matchers test: the alert's fields, then its labels, which win over a field of the same
    name (a `severity` label is what the sender wrote; the field is its mapping to four values)."""
    fields = {"summary": alert.summary, "source": alert.source, "dedup_key": alert.dedup_key}
    for name, value in (
        ("severity", alert.severity.value if alert.severity else None),
        ("component", alert.component),
        ("group", alert.group),
        ("class", alert.klass),
    ):
        if value:
            fields[name] = value
    fields.update(alert.labels)
    return fields


# -- the runbook --


@dataclass(frozen=True, slots=True)
class Step:
    """One checklist item. Its id is stable across versions, so a run can say which step was ticked.

    `text` is Markdown; `link` and `command` are shown as a button and a copyable command;
    `approval` names the role whose approval marks the step done.
    """

    id: str
    text: str
    link: Link | None = None
    command: str | None = None
    approval: str | None = None

    def __post_init__(self) -> None:
        if not ID_PATTERN.fullmatch(self.id):
            raise ValueError(f"step id: not an id (a-z, 0-9, - and _): {self.id!r}")
        if not self.text.strip() or self.text != self.text.strip():
            raise ValueError(f"step {self.id}: text must be non-empty, without surrounding white space")
        if self.command is not None and not self.command.strip():
            raise ValueError(f"step {self.id}: an empty command")
        if self.approval is not None and not ROLE_PATTERN.fullmatch(self.approval):
            raise ValueError(f"step {self.id}: not a role name: {self.approval!r}")

    @property
    def title(self) -> str:
        """The first line of the text: what a log line or a notification names the step by."""
        return self.text.split("\n", 1)[0]


@dataclass(frozen=True, slots=True)
class Runbook:
    """An ordered checklist. `description` is the Markdown shown above the steps, `afterword` the
    Markdown below them; `last_reviewed` is None when the content is reviewed elsewhere (a link)."""

    id: str
    title: str
    version: int
    steps: tuple[Step, ...]
    applies_to: AppliesTo = AppliesTo()
    last_reviewed: date | None = None
    description: str = ""
    afterword: str = ""

    def __post_init__(self) -> None:
        if not ID_PATTERN.fullmatch(self.id):
            raise ValueError(f"runbook id: not an id (a-z, 0-9, - and _): {self.id!r}")
        if not one_line(self.title):
            raise ValueError("title: must be one non-empty line")
        if self.version < 1:
            raise ValueError("version: must be 1 or more")
        if not self.steps:
            raise ValueError(f"runbook {self.id}: has no steps")
        ids = [step.id for step in self.steps]
        if len(set(ids)) != len(ids):
            raise ValueError(f"runbook {self.id}: two steps share an id")

    def step(self, step_id: str) -> Step | None:
        return next((step for step in self.steps if step.id == step_id), None)


def matches(runbook: Runbook, service: str | None, fields: Mapping[str, str]) -> bool:
    """Whether `runbook` applies to an alert of `service` with these fields and labels."""
    applies = runbook.applies_to
    if applies.service is None and not applies.matchers:
        return False  # nothing to match on: such a runbook is started by hand, never attached
    if applies.service is not None and applies.service != service:
        return False
    return all(matcher.test(fields) for matcher in applies.matchers)


def is_stale(runbook: Runbook, today: date, max_age_days: int) -> bool:
    """Reviewed more than `max_age_days` before `today`. A runbook made from a link is never
    stale here: its content lives, and is reviewed, elsewhere."""
    if runbook.last_reviewed is None:
        return False
    return (today - runbook.last_reviewed).days > max_age_days


def runbook_from_annotation(url: str) -> Runbook:
    """A one-step runbook for an Alertmanager `runbook_url`: open the linked runbook.

    Everything in it is derived from the URL, so every alert naming the same URL gets the same
    runbook, with the same id.
    """
    url = url.strip()
    if not one_line(url):
        raise ValueError(f"runbook_url: not a URL: {url!r}")
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    where = url.split("://", 1)[-1].rstrip("/").strip()  # a URL may hold spaces: not at a title's end
    title = f"Runbook at {where if len(where) <= 80 else where[:79].rstrip() + '…'}" if where else "Runbook"
    step = Step("open-runbook", "Open the runbook and follow it", link=Link(url, "Runbook"))
    return Runbook(f"link-{digest}", title, 1, (step,))


def runbook_url_of(alert: Alert) -> str | None:
    """The `runbook_url` annotation the alert came with (the intake also keeps it as a link), or its
    link named Runbook (PagerDuty's `links`)."""
    return runbook_url_in(alert.details, alert.links)


def runbook_url_in(details: Mapping[str, Any], links: Iterable[Link]) -> str | None:
    """`runbook_url_of` from an alert's details and links, for a reader without the Alert (the
    migration that gave stored alerts their runbook_url column)."""
    annotations = details.get("annotations")
    if type(annotations) is dict or isinstance(annotations, Mapping):  # the ABC check is slow
        url = annotations.get("runbook_url")
        if type(url) is str and url.strip():
            return url.strip()
    for link in links:
        if link.text == "Runbook":
            return link.href
    return None


def attach(
    runbooks: Iterable[Runbook], *, service: str | None, fields: Mapping[str, str], runbook_url: str | None
) -> list[Runbook]:
    """The runbooks an incident gets for an alert: those that match, in the order given, then the
    alert's own `runbook_url` unless a matching runbook already links to it."""
    chosen = [runbook for runbook in runbooks if matches(runbook, service, fields)]
    if runbook_url and runbook_url.strip():
        url = runbook_url.strip()
        linked = {step.link.href for runbook in chosen for step in runbook.steps if step.link is not None}
        if url not in linked:
            chosen.append(runbook_from_annotation(url))
    return chosen


# -- runs --


class RunOpKind(enum.StrEnum):
    TICK = "tick"
    UNTICK = "untick"
    APPROVE = "approve"
    OVERRIDE = "override"
    NOTE = "note"


_CLAIMS = frozenset({RunOpKind.TICK, RunOpKind.APPROVE, RunOpKind.OVERRIDE})  # "this step is done"
_MERGED = _CLAIMS | {RunOpKind.UNTICK}  # the ops of the observed-remove set


class RunOpRejected(DomainError):
    """The op can never apply to this run; the reason is shown to the person who made it."""


@dataclass(frozen=True, slots=True)
class RunOp:
    """One person's action on one step of a run, made on a console, perhaps offline.

    `observed` holds the ids of the step's claims and unticks its author had seen (only an untick
    needs it to say what it undoes; a claim's tells which unticks it answered). `role` is the role
    an approval is given as (the server checks the actor holds it); `text` is a note, or the reason
    for an override.
    """

    op_id: str
    run_id: str
    kind: RunOpKind
    step_id: str
    actor: str
    hlc: Hlc
    observed: frozenset[str] = frozenset()
    role: str = ""
    text: str = ""

    @property
    def at(self) -> datetime:
        return self.hlc.time


@dataclass(frozen=True, slots=True)
class Run:
    """A runbook (one version) on an incident, and every op applied to it, by op id."""

    id: str
    incident_id: str
    runbook: Runbook
    ops: Mapping[str, RunOp] = field(default_factory=dict)


def start_run(runbook: Runbook, *, run_id: str, incident_id: str) -> Run:
    return Run(run_id, incident_id, runbook)


def check(run: Run, op: RunOp) -> Step:
    """The step `op` acts on; raises RunOpRejected if the op can never apply to `run`."""
    if op.run_id != run.id:
        raise RunOpRejected("run_id: the op belongs to another run")
    if not op.actor.strip():
        raise RunOpRejected("actor: must not be empty")
    step = run.runbook.step(op.step_id)
    if step is None:
        raise RunOpRejected(f"step_id: this runbook has no step {op.step_id!r}")
    if op.op_id in op.observed:
        raise RunOpRejected("observed: an op cannot have seen itself")
    who = _a(step.approval or "")
    match op.kind:
        case RunOpKind.TICK if step.approval is not None:
            raise RunOpRejected(
                f"“{step.title}” needs approval by {who}: ask one to approve it, "
                "or override it with a reason."
            )
        case RunOpKind.APPROVE | RunOpKind.OVERRIDE if step.approval is None:
            raise RunOpRejected(f"“{step.title}” needs no approval: tick it.")
        case RunOpKind.APPROVE if op.role.casefold() != (step.approval or "").casefold():
            raise RunOpRejected(f"Only {who} can approve “{step.title}”.")
        case RunOpKind.OVERRIDE if not op.text.strip():
            raise RunOpRejected("reason: an emergency override needs a reason.")
        case RunOpKind.OVERRIDE if len(op.text) > MAX_REASON:
            raise RunOpRejected(f"reason: longer than {MAX_REASON} characters")
        case RunOpKind.UNTICK if not op.observed:
            raise RunOpRejected("observed: an untick must name the ticks it undoes")
        case RunOpKind.NOTE if not op.text.strip():
            raise RunOpRejected("text: must not be empty")
        case RunOpKind.NOTE if len(op.text) > MAX_NOTE:
            raise RunOpRejected(f"text: longer than {MAX_NOTE} characters")
    return step


def _a(role: str) -> str:
    return f"{'an' if role[:1].lower() in 'aeiou' else 'a'} {role}"


def apply(run: Run, op: RunOp) -> Run:
    """`run` with `op` in it: a set union, so the order of delivery and repeats do not matter."""
    check(run, op)
    known = run.ops.get(op.op_id)
    if known is not None:
        if known != op:  # a client bug (ids are UUIDv7): keep what came first, refuse the other
            raise RunOpRejected("op_id: already used by a different op")
        return run
    return replace(run, ops={**run.ops, op.op_id: op})


def merge(run: Run, other: Run) -> Run:
    """Two replicas of one run as one (a console's view and the server's)."""
    if other.id != run.id:
        raise ValueError("merge: two different runs")
    merged = run
    for op in other.ops.values():
        merged = apply(merged, op)
    return merged


# -- what a run shows --


def _order(op: RunOp) -> tuple[Hlc, str]:
    return (op.hlc, op.op_id)


@dataclass(frozen=True, slots=True)
class StepState:
    step: Step
    done: bool
    claims: tuple[RunOp, ...]  # the claims still standing, oldest first: "done twice" shows
    conflicts: tuple[RunOp, ...]  # unticks that disagreed with a standing claim, unseen by each other
    notes: tuple[RunOp, ...]

    @property
    def conflict(self) -> bool:
        """Done, but someone undid it at the same time: the console flags the step."""
        return bool(self.conflicts)

    @property
    def awaiting_approval(self) -> bool:
        return self.step.approval is not None and not self.done


def _step_state(step: Step, ops: Iterable[RunOp]) -> StepState:
    ordered = sorted(ops, key=_order)
    merged = [op for op in ordered if op.kind in _MERGED]
    unticks = [op for op in merged if op.kind is RunOpKind.UNTICK]
    removed: set[str] = set()
    for untick in unticks:
        removed |= untick.observed
    standing = [op for op in merged if op.kind in _CLAIMS and op.op_id not in removed]

    def concurrent(claim: RunOp, untick: RunOp) -> bool:
        return claim.op_id not in untick.observed and untick.op_id not in claim.observed

    def settled(claim: RunOp, untick: RunOp) -> bool:  # someone later saw both sides
        return any(claim.op_id in op.observed and untick.op_id in op.observed for op in merged)

    conflicts = tuple(
        untick
        for untick in unticks
        if any(concurrent(claim, untick) and not settled(claim, untick) for claim in standing)
    )
    notes = tuple(op for op in ordered if op.kind is RunOpKind.NOTE)
    return StepState(step, bool(standing), tuple(standing), conflicts, notes)


def _ops_by_step(run: Run) -> dict[str, list[RunOp]]:
    by_step: dict[str, list[RunOp]] = {step.id: [] for step in run.runbook.steps}
    for op in run.ops.values():
        by_step[op.step_id].append(op)
    return by_step


def step_states(run: Run) -> tuple[StepState, ...]:
    """Every step of the run, in the runbook's order."""
    by_step = _ops_by_step(run)
    return tuple(_step_state(step, by_step[step.id]) for step in run.runbook.steps)


def step_state(run: Run, step_id: str) -> StepState:
    step = run.runbook.step(step_id)
    if step is None:
        raise KeyError(step_id)
    return _step_state(step, (op for op in run.ops.values() if op.step_id == step_id))


@dataclass(frozen=True, slots=True)
class Progress:
    """What the incident row shows: "3/7", and a flag when a step is in conflict."""

    done: int
    total: int
    conflicts: int = 0

    def __str__(self) -> str:
        return f"{self.done}/{self.total}"


def progress(run: Run) -> Progress:
    states = step_states(run)
    return Progress(sum(state.done for state in states), len(states), sum(state.conflict for state in states))


def log(run: Run) -> tuple[RunOp, ...]:
    """Who did what and when: every op of the run, in clock order."""
    return tuple(sorted(run.ops.values(), key=_order))


_VERBS = {
    RunOpKind.TICK: "ticked",
    RunOpKind.UNTICK: "unticked",
    RunOpKind.APPROVE: "approved",
    RunOpKind.OVERRIDE: "overrode the approval of",
    RunOpKind.NOTE: "noted on",
}


def describe(run: Run, op: RunOp) -> str:
    """One line of the log, for people: `ann overrode the approval of “Roll back”: site is down`."""
    step = run.runbook.step(op.step_id)
    title = step.title if step is not None else op.step_id
    line = f"{op.actor} {_VERBS[op.kind]} “{title}”"
    if op.kind is RunOpKind.APPROVE:
        line += f" as {op.role}"
    if op.kind in (RunOpKind.OVERRIDE, RunOpKind.NOTE):
        line += f": {op.text.strip()}"
    return line


def timeline_body(run: Run, op: RunOp) -> dict[str, Any]:
    """The body of the incident timeline entry an op leaves (its id is the op's id, as for incident
    ops): an override's reason is on the timeline for everyone to see."""
    step = run.runbook.step(op.step_id)
    body: dict[str, Any] = {
        "run_id": run.id,
        "runbook_id": run.runbook.id,
        "runbook_version": run.runbook.version,
        "step_id": op.step_id,
        "step": step.title if step is not None else op.step_id,
        "action": op.kind.value,
    }
    if op.kind is RunOpKind.APPROVE:
        body["role"] = op.role
    if op.kind is RunOpKind.OVERRIDE:
        body["reason"] = op.text.strip()
    if op.kind is RunOpKind.NOTE:
        body["text"] = op.text.strip()
    return body


# -- making ops on a console, from what it has seen --


def _seen(run: Run, step_id: str) -> frozenset[str]:
    return frozenset(op.op_id for op in run.ops.values() if op.step_id == step_id and op.kind in _MERGED)


def make_op(
    run: Run,
    kind: RunOpKind,
    step_id: str,
    *,
    op_id: str,
    actor: str,
    hlc: Hlc,
    role: str = "",
    text: str = "",
) -> RunOp:
    """An op made on a console whose replica of the run is `run`: it observes what that replica holds.

    Raises RunOpRejected if the op could not apply (an untick of a step that is not done, a tick of
    a step that needs approval…).
    """
    observed = _seen(run, step_id) if kind is not RunOpKind.NOTE else frozenset()
    made = RunOp(op_id, run.id, kind, step_id, actor, hlc, observed, role, text)
    if kind is RunOpKind.UNTICK and run.runbook.step(step_id) and not step_state(run, step_id).done:
        raise RunOpRejected("The step is not done: there is nothing to untick.")
    check(run, made)
    return made


# -- the wire --


def run_op_args(op: RunOp) -> dict[str, Any]:
    """The op's arguments as JSON (the outbox's `args`); `run_op_from_args` reads them back."""
    args: dict[str, Any] = {"step_id": op.step_id}
    if op.observed:
        args["observed"] = sorted(op.observed)
    if op.kind is RunOpKind.APPROVE:
        args["role"] = op.role
    if op.kind is RunOpKind.OVERRIDE:
        args["reason"] = op.text
    if op.kind is RunOpKind.NOTE:
        args["text"] = op.text
    return args


def run_op_from_args(
    *, op_id: str, run_id: str, kind: str, args: Mapping[str, Any], actor: str, hlc: Hlc
) -> RunOp:
    """A run op as it crossed the wire, checked field by field (RunOpRejected names the field)."""
    try:
        op_kind = RunOpKind(kind)
    except ValueError:
        raise RunOpRejected(f"type: unknown runbook op {kind!r}") from None
    step_id = args.get("step_id")
    if not isinstance(step_id, str) or not step_id:
        raise RunOpRejected("step_id: must be a step's id")
    observed = args.get("observed", [])
    if not isinstance(observed, list) or not all(isinstance(each, str) for each in observed):
        raise RunOpRejected("observed: must be a list of op ids")
    strings = {}
    for key in ("role", "reason", "text"):
        value = args.get(key, "")
        if not isinstance(value, str):
            raise RunOpRejected(f"{key}: must be text")
        strings[key] = value.strip()
    text = strings["reason"] if op_kind is RunOpKind.OVERRIDE else strings["text"]
    return RunOp(op_id, run_id, op_kind, step_id, actor, hlc, frozenset(observed), strings["role"], text)
