"""Team configuration as code: users, services, on-call schedules and escalation policies in one TOML file.

This module reads such a file into plain values (`parse`, `load`) and says what applying it would
change (`diff`), which is nothing when the same file is applied twice; `python main.py admin apply
FILE.toml` is to use both. A file that breaks a rule is refused whole: ConfigError lists every
problem found, each with its file and line.

    # Users: who can sign in and be paged. role: responder (the default), manager, admin or viewer
    # (a wall display: it cannot acknowledge, so it is never on call or paged).
    [[users]]
    name = "sam"
    role = "responder"
    time_zone = "Europe/Berlin"           # optional: where the person lives, for display

    [[users]]
    name = "morgan"
    role = "admin"
    time_zone = "America/New_York"

    [[users]]
    name = "jordan"
    role = "manager"

    # Services: what can break. All keys but the name are optional.
    [[services]]
    name = "checkout-api"
    parent = "postgres-main"              # the service it depends on (parents must not form a loop)
    escalation_policy = "payments"        # who is paged for it: one policy per service
    ack_timeout_minutes = 30              # acknowledged, then nothing for 30 minutes: it pages again

    [[services]]
    name = "postgres-main"
    escalation_policy = "payments"

    # Schedules: layers of rotations, lowest first (a later layer wins where it has someone), and
    # overrides on top of them all.
    [[schedules]]
    name = "payments-primary"
    time_zone = "Europe/Berlin"           # the layers' time zone unless one gives its own

    [[schedules.layers]]
    name = "weekly"
    participants = ["sam", "morgan"]      # users, who take turns in this order
    turn = "weekly"                       # daily, weekly, "N days", "N weeks" (on the wall clock), or
                                          # "N hours", "N minutes" (absolute time: 12 hours are 12 hours)
    handoff = "09:00"                     # local time of each handoff (default 09:00)
    anchor = 2026-11-02                   # the local date the first participant's first turn starts

    [[schedules.layers]]
    name = "americas-daytime"
    participants = ["morgan"]
    time_zone = "America/New_York"
    anchor = 2026-11-02
    restrictions = [                      # optional: only in these windows (elsewhere: layers below)
        { days = ["mon-fri"], start = "09:00", end = "17:00" },
    ]
    starts = 2026-11-01T00:00:00Z         # optional: nobody on this layer before…
    # ends = 2027-06-30T00:00:00Z         # …or from this instant on

    [[schedules.overrides]]
    user = "jordan"                       # on call for [start, end), whatever the layers say
    start = 2026-12-24T18:00:00           # no offset: local time in the schedule's time zone
    end = 2026-12-26T09:00:00+01:00
    # replaces = "sam"                    # optional: only where the layers give sam ("take a shift")
    # id = "xmas"                         # optional: default override-1, override-2… in file order

    # Escalation policies: levels in order; after the last level's delay it starts again, `repeats`
    # more times (0 to 9, default 0).
    [[escalation_policies]]
    name = "payments"
    repeats = 2

    [[escalation_policies.levels]]
    targets = ["schedule:payments-primary"]   # "user:NAME" or "schedule:NAME" (whoever is on call)
    delay_minutes = 15                    # wait before the next level (default 30, at least 1)

    [[escalation_policies.levels]]
    targets = ["user:jordan", "user:morgan"]

The rules of the layout:
- Every table is an array of tables (`[[users]]`…); inline tables and arrays of them read the same.
- Unknown keys are errors (a typo must not silently drop a setting), and so are wrong types.
- Times are "HH:MM" (or TOML local times), dates TOML dates or "YYYY-MM-DD", instants TOML date-times
  or ISO 8601 text; an instant without an offset is local time in its schedule's (or layer's) zone.
- Restriction days are mon … sun (or monday … sunday), and ranges such as "mon-fri"; without `days` a
  window is every day. An `end` at or before `start` ends the next day; `start == end` is a whole day.
- Names are one line of text without spaces around it; each is unique among its kind, and layer
  names and override ids are unique within their schedule.
- Canonical form: users, services, schedules and policies are kept sorted by name and restrictions by
  (days, start, end), so reordering them is not a change. Order is meaning elsewhere and is kept:
  layers (a later one wins), overrides (the last that applies wins), levels, participants, targets.
- A schedule's `time_zone` is the default of its layers and of its overrides' local times, and is
  not kept beyond that: each layer carries its own zone.

Line numbers. tomllib reports lines for syntax errors only (their message gives them; `parse`
reports that line). For the rest, `_locate` scans the text, which tomllib has just accepted, and
records the line of every table header, key and array element by its path in the parsed document:
("schedules", 0, "layers", 1, "participants", 2) is the third participant of the second layer of the
first schedule. Array-of-tables headers are counted per array, as TOML does, so the path of a
`[[schedules.layers]]` header names the right table instance, and a key's line is that of the key
within it. A problem about a value is reported at its key's line (or the element's, in an array), a
missing key at its table's header, and a whole-file rule (a parent cycle, an overlap) at the line of
the item that breaks it.
"""

from __future__ import annotations

import bisect
import contextlib
import difflib
import re
import tomllib
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeAlias, TypeVar

from console.domain.escalation import MAX_REPEATS, Level, Policy, ScheduleTarget, Target, UserTarget
from console.domain.runbook import one_line
from console.domain.schedule import (
    EVERY_DAY,
    Layer,
    Override,
    Restriction,
    Schedule,
    Turn,
    first_instant,
    overlapping,
    to_utc,
    zone,
)
from console.runbook_files import Problem

__all__ = [
    "ROLES",
    "Change",
    "ConfigError",
    "Problem",
    "Service",
    "TeamConfig",
    "User",
    "describe",
    "diff",
    "load",
    "parse",
]

# The server's roles (console.server.admin.ROLES; a test keeps the two equal). A viewer cannot
# acknowledge, so it is never on call and never an escalation target.
ROLES = ("responder", "manager", "admin", "viewer")
DEFAULT_ROLE = "responder"

TOP_KEYS = ("users", "services", "schedules", "escalation_policies")
USER_KEYS = ("name", "role", "time_zone")
SERVICE_KEYS = ("name", "parent", "escalation_policy", "ack_timeout_minutes")
SCHEDULE_KEYS = ("name", "time_zone", "layers", "overrides")
LAYER_KEYS = (
    "name",
    "participants",
    "turn",
    "handoff",
    "anchor",
    "time_zone",
    "restrictions",
    "starts",
    "ends",
)
RESTRICTION_KEYS = ("days", "start", "end")
OVERRIDE_KEYS = ("id", "user", "start", "end", "replaces")
POLICY_KEYS = ("name", "repeats", "levels")
LEVEL_KEYS = ("targets", "delay_minutes")

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TURN = re.compile(
    r"(?:(?P<count>[1-9][0-9]{0,5}) *)?(?P<unit>days?|weeks?|hours?|h|minutes?|min|m|daily|weekly)"
)
_LONGEST_TURN = timedelta(days=366)
_HH_MM = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9])?")
_YYYY_MM_DD = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SYNTAX = re.compile(
    r"(?P<message>.*) \(at (?:line (?P<line>[0-9]+), column (?P<column>[0-9]+)|end of document)\)"
)


# -- what a file declares --


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str = DEFAULT_ROLE
    time_zone: str | None = None  # where the person is, for display; schedules carry their own


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    parent: str | None = None  # the service this one depends on
    escalation_policy: str | None = None  # a policy's name: one per service
    ack_timeout_minutes: int | None = None  # acknowledged with no progress this long: pages again

    @property
    def ack_timeout(self) -> timedelta | None:
        """What console.domain.escalation.ack_timeout_due takes."""
        return None if self.ack_timeout_minutes is None else timedelta(minutes=self.ack_timeout_minutes)


@dataclass(frozen=True, slots=True)
class TeamConfig:
    """Everything one file declares, in canonical order (each kind sorted by name), so that two files
    that mean the same compare equal."""

    users: tuple[User, ...] = ()
    services: tuple[Service, ...] = ()
    schedules: tuple[Schedule, ...] = ()
    escalation_policies: tuple[Policy, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "users", tuple(sorted(self.users, key=lambda each: each.name)))
        object.__setattr__(self, "services", tuple(sorted(self.services, key=lambda each: each.name)))
        object.__setattr__(self, "schedules", tuple(sorted(self.schedules, key=lambda each: each.name)))
        object.__setattr__(
            self, "escalation_policies", tuple(sorted(self.escalation_policies, key=lambda each: each.name))
        )

    def user(self, name: str) -> User | None:
        return next((each for each in self.users if each.name == name), None)

    def service(self, name: str) -> Service | None:
        return next((each for each in self.services if each.name == name), None)

    def schedule(self, name: str) -> Schedule | None:
        return next((each for each in self.schedules if each.name == name), None)

    def escalation_policy(self, name: str) -> Policy | None:
        return next((each for each in self.escalation_policies if each.name == name), None)

    @property
    def schedules_by_name(self) -> dict[str, Schedule]:
        """What console.domain.escalation.resolve_targets takes."""
        return {each.name: each for each in self.schedules}


class ConfigError(Exception):
    """The file breaks the format or a rule; `problems` says where and how (every one found)."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


# -- reading --


def parse(text: str, file: str = "<string>") -> TeamConfig:
    """The configuration in `text`; `file` names it in problems. Raises ConfigError."""
    return _Reader(text, file).read()


def load(path: str | Path) -> TeamConfig:
    """The configuration in the file at `path`. Raises ConfigError (and OSError if it cannot be read)."""
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError([Problem(str(path), line, "not UTF-8 text")]) from None
    return parse(text, str(path))


KeyPath: TypeAlias = tuple[str | int, ...]  # where a value is in the parsed document
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Item(Generic[T]):
    """One [[users]], [[services]]… table as read: its name if that could be read, the object if the
    whole table could."""

    name: str | None
    path: KeyPath
    value: T | None


@dataclass(frozen=True, slots=True)
class _Ref:
    """A name that must be declared somewhere in the file: checked once every name is known."""

    kind: Literal["user", "on-call user", "service", "schedule", "escalation policy"]
    name: str
    path: KeyPath
    key: str  # for the message


@dataclass(slots=True)
class _Reader:
    text: str
    file: str
    problems: list[Problem] = field(default_factory=list)
    lines: dict[KeyPath, int] = field(default_factory=dict)
    refs: list[_Ref] = field(default_factory=list)
    parents: list[tuple[str, str, KeyPath]] = field(default_factory=list)  # (service, parent, where)

    # -- problems --

    def line(self, path: KeyPath) -> int:
        """The line of `path`, or of its nearest ancestor the scan found (line 1 for the file)."""
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)

    def problem(self, where: KeyPath | int, message: str) -> None:
        line = where if isinstance(where, int) else self.line(where)
        self.problems.append(Problem(self.file, line, message))

    def error(self) -> ConfigError:
        """Every problem once, by line (in the order found within a line)."""
        return ConfigError(sorted(dict.fromkeys(self.problems), key=lambda problem: problem.line))

    # -- the document --

    def read(self) -> TeamConfig:
        text = self.text.removeprefix("\ufeff")  # an editor's byte order mark: no line moves
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            self.problem(*_syntax_problem(str(exc), text))
            raise self.error() from None
        self.lines = _locate(text)
        self._keys(data, (), "the file", TOP_KEYS)
        users = [self._user(table, path) for path, table in self._tables(data, "users", ())]
        schedules = [self._schedule(table, path) for path, table in self._tables(data, "schedules", ())]
        policies = [
            self._policy(table, path) for path, table in self._tables(data, "escalation_policies", ())
        ]
        services = [self._service(table, path) for path, table in self._tables(data, "services", ())]
        self._unique("user", users)
        self._unique("schedule", schedules)
        self._unique("escalation policy", policies)
        self._unique("service", services)
        viewers = {
            item.value.name for item in users if item.value is not None and item.value.role == "viewer"
        }
        self._check_refs(
            {
                "user": _names(users),
                "on-call user": _names(users),
                "service": _names(services),
                "schedule": _names(schedules),
                "escalation policy": _names(policies),
            },
            viewers,
        )
        self._check_parents()
        if self.problems:
            raise self.error()
        return TeamConfig(
            users=tuple(item.value for item in users if item.value is not None),
            services=tuple(item.value for item in services if item.value is not None),
            schedules=tuple(item.value for item in schedules if item.value is not None),
            escalation_policies=tuple(item.value for item in policies if item.value is not None),
        )

    def _keys(self, table: Mapping[str, Any], path: KeyPath, what: str, known: Sequence[str]) -> bool:
        """Report the keys of `table` that are not `known`; whether all are."""
        ok = True
        for key in table:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"did you mean {close[0]}? " if close else ""
                self.problem((*path, key), f"unknown key {key!r} in {what} ({hint}known: {', '.join(known)})")
                ok = False
        return ok

    def _require(self, table: Mapping[str, Any], path: KeyPath, what: str, keys: Sequence[str]) -> bool:
        """Report the `keys` missing from `table`, at its header; whether none is."""
        missing = [key for key in keys if key not in table]
        for key in missing:
            self.problem(path, f"{what}: {key} is missing")
        return not missing

    def _tables(
        self, data: Mapping[str, Any], key: str, path: KeyPath
    ) -> list[tuple[KeyPath, Mapping[str, Any]]]:
        """The tables under `key`: an array of tables ([[key]]) or an array of inline tables."""
        if key not in data:
            return []
        value = data[key]
        header = ".".join([*(part for part in path if isinstance(part, str)), key])
        if not isinstance(value, list):
            self.problem((*path, key), f"{key}: must be [[{header}]] tables")
            return []
        found: list[tuple[KeyPath, Mapping[str, Any]]] = []
        for index, item in enumerate(value):
            if isinstance(item, dict):
                found.append(((*path, key, index), item))
            else:
                self.problem((*path, key, index), f"{key}: each must be a table, as [[{header}]]")
        return found

    # -- values: each returns None (and reports why, unless the key is absent) when it cannot read one --

    def _name(self, table: Mapping[str, Any], path: KeyPath, key: str = "name") -> str | None:
        if key not in table:
            return None
        value = table[key]
        if isinstance(value, str) and _good_name(value):
            return value
        self.problem((*path, key), f"{key}: must be a name: one line of text without spaces around it")
        return None

    def _whole(
        self, table: Mapping[str, Any], path: KeyPath, key: str, low: int, high: int | None = None
    ) -> int | None:
        if key not in table:
            return None
        value = table[key]
        allowed = f"from {low} to {high}" if high is not None else f"{low} or more"
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem((*path, key), f"{key}: must be a whole number, {allowed}")
            return None
        if value < low or (high is not None and value > high):
            self.problem((*path, key), f"{key}: {value} is out of range: {allowed}")
            return None
        return value

    def _zone(self, table: Mapping[str, Any], path: KeyPath, key: str = "time_zone") -> str | None:
        if key not in table:
            return None
        value = table[key]
        if not isinstance(value, str):
            self.problem((*path, key), f'{key}: must be an IANA time zone name, as "Europe/Berlin"')
            return None
        try:
            zone(value)
        except (ValueError, OSError):
            self.problem((*path, key), f'{key}: unknown time zone {value!r} (IANA names, as "Europe/Berlin")')
            return None
        return value

    def _time(self, table: Mapping[str, Any], path: KeyPath, key: str) -> time | None:
        if key not in table:
            return None
        value = table[key]
        if isinstance(value, time) and value.tzinfo is None:
            return value
        if isinstance(value, str) and _HH_MM.fullmatch(value):
            return time.fromisoformat(value)
        self.problem((*path, key), f'{key}: must be a local time, as "09:00"')
        return None

    def _date(self, table: Mapping[str, Any], path: KeyPath, key: str) -> date | None:
        if key not in table:
            return None
        value = table[key]
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str) and _YYYY_MM_DD.fullmatch(value):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        self.problem((*path, key), f"{key}: must be a date, as 2026-11-02")
        return None

    def _instant(
        self, table: Mapping[str, Any], path: KeyPath, key: str, zone_name: str | None
    ) -> datetime | None:
        """A TOML date-time (or date) or ISO 8601 text, in UTC; one without an offset is local time in
        `zone_name` (None: that zone is bad, which is reported already)."""
        if key not in table:
            return None
        value = table[key]
        at: datetime | None = None
        if isinstance(value, datetime):
            at = value
        elif isinstance(value, date):
            at = datetime.combine(value, time(0))
        elif isinstance(value, str):
            try:
                at = datetime.fromisoformat(value)
            except ValueError:
                at = None
        if at is None:
            self.problem((*path, key), f"{key}: must be a date and time, as 2026-12-24T18:00:00+01:00")
            return None
        try:
            if at.utcoffset() is not None:
                return to_utc(at, key)
            return None if zone_name is None else first_instant(at, zone(zone_name))
        except (OverflowError, ValueError):
            self.problem((*path, key), f"{key}: {at.isoformat()} is out of range")
            return None

    def _people(self, table: Mapping[str, Any], path: KeyPath, key: str) -> tuple[str, ...] | None:
        """A list of user names, which must be declared and not viewers."""
        if key not in table:
            return None
        value = table[key]
        if not isinstance(value, list):
            self.problem((*path, key), f'{key}: must be a list of user names, as ["sam", "priya"]')
            return None
        if not value:
            self.problem((*path, key), f"{key}: a layer needs at least one participant")
            return None
        found: list[str] = []
        for index, item in enumerate(value):
            where = (*path, key, index)
            if isinstance(item, str) and _good_name(item):
                found.append(item)
                self.refs.append(_Ref("on-call user", item, where, key))
            else:
                self.problem(where, f"{key}: each must be a user's name: one line of text")
        return tuple(found) if len(found) == len(value) else None

    # -- users and services --

    def _user(self, table: Mapping[str, Any], path: KeyPath) -> _Item[User]:
        ok = self._keys(table, path, "a user", USER_KEYS) & self._require(table, path, "user", ("name",))
        name = self._name(table, path)
        role = table.get("role", DEFAULT_ROLE)
        if role not in ROLES:
            shown = repr(role) if isinstance(role, str) else "this"
            self.problem((*path, "role"), f"role: {shown} is not a role: use one of {', '.join(ROLES)}")
            ok = False
        time_zone = self._zone(table, path)
        if name is None or not ok or ("time_zone" in table and time_zone is None):
            return _Item(name, path, None)
        return _Item(name, path, User(name, role, time_zone))

    def _service(self, table: Mapping[str, Any], path: KeyPath) -> _Item[Service]:
        ok = self._keys(table, path, "a service", SERVICE_KEYS) & self._require(
            table, path, "service", ("name",)
        )
        name = self._name(table, path)
        parent = self._name(table, path, "parent")
        policy = self._name(table, path, "escalation_policy")
        timeout = self._whole(table, path, "ack_timeout_minutes", 1)
        if parent is not None:
            self.refs.append(_Ref("service", parent, (*path, "parent"), "parent"))
            if name is not None:
                self.parents.append((name, parent, (*path, "parent")))
        if policy is not None:
            self.refs.append(
                _Ref("escalation policy", policy, (*path, "escalation_policy"), "escalation_policy")
            )
        read = all(
            key not in table or value is not None
            for key, value in (
                ("parent", parent),
                ("escalation_policy", policy),
                ("ack_timeout_minutes", timeout),
            )
        )
        if name is None or not ok or not read:
            return _Item(name, path, None)
        return _Item(name, path, Service(name, parent, policy, timeout))

    def _check_parents(self) -> None:
        """Report each loop of parents once, at the `parent` of its first service in the file. Every
        service whose name and parent could be read counts, whatever else is wrong with it."""
        parents: dict[str, str] = {}
        where: dict[str, KeyPath] = {}
        for name, named, path in self.parents:
            if name not in parents:
                parents[name], where[name] = named, path
        reported: set[str] = set()
        for name in parents:
            chain = [name]
            while (parent := parents.get(chain[-1])) is not None and parent not in chain:
                chain.append(parent)
            if parent != name or reported.intersection(chain):
                continue  # no loop, or not one through this service, or one reported already
            reported.update(chain)
            if len(chain) == 1:
                self.problem(where[name], f"parent: {name} cannot be its own parent")
            else:
                loop = " → ".join([*chain, name])
                self.problem(where[name], f"parent: the parents go round in a loop: {loop}")

    # -- schedules --

    def _schedule(self, table: Mapping[str, Any], path: KeyPath) -> _Item[Schedule]:
        ok = self._keys(table, path, "a schedule", SCHEDULE_KEYS)
        ok &= self._require(table, path, "schedule", ("name", "time_zone", "layers"))
        name = self._name(table, path)
        time_zone = self._zone(table, path)
        layer_tables = self._tables(table, "layers", path)
        if isinstance(table.get("layers"), list) and not table["layers"]:
            self.problem((*path, "layers"), "layers: a schedule needs at least one layer")
            ok = False
        layers: list[Layer | None] = []
        first_line: dict[str, int] = {}
        for layer_path, layer_table in layer_tables:
            layer = self._layer(layer_table, layer_path, time_zone)
            layer_name = self._name(layer_table, layer_path)
            if layer_name is not None and layer_name in first_line:
                self.problem(
                    (*layer_path, "name"),
                    f"name: this schedule has a layer {layer_name!r} already (line {first_line[layer_name]})",
                )
                layer = None
            elif layer_name is not None:
                first_line[layer_name] = self.line((*layer_path, "name"))
            layers.append(layer)
        overrides = self._overrides(table, path, time_zone)
        complete = len(layers) == _count(table, "layers") and None not in layers and overrides is not None
        if name is None or time_zone is None or not ok or not complete:
            return _Item(name, path, None)
        assert overrides is not None
        try:
            schedule = Schedule(name, tuple(layer for layer in layers if layer), overrides)
        except ValueError as exc:  # a rule the checks above missed: still the file's fault
            self.problem(path, str(exc))
            return _Item(name, path, None)
        return _Item(name, path, schedule)

    def _layer(self, table: Mapping[str, Any], path: KeyPath, schedule_zone: str | None) -> Layer | None:
        ok = self._keys(table, path, "a layer", LAYER_KEYS)
        ok &= self._require(table, path, "layer", ("name", "participants", "anchor"))
        name = self._name(table, path)
        participants = self._people(table, path, "participants")
        time_zone = self._zone(table, path) if "time_zone" in table else schedule_zone
        turn = Turn.daily()
        if "turn" in table:
            parsed = _turn(table["turn"])
            if parsed is None:
                self.problem(
                    (*path, "turn"),
                    'turn: "daily", "weekly", "N days", "N weeks", "N hours" or "N minutes" (up to a year), '
                    'as "12 hours"',
                )
                ok = False
            turn = parsed or turn
        handoff = self._time(table, path, "handoff") if "handoff" in table else time(9, 0)
        anchor = self._date(table, path, "anchor")
        restrictions = self._restrictions(table, path)
        starts = self._instant(table, path, "starts", time_zone)
        ends = self._instant(table, path, "ends", time_zone)
        if starts is not None and ends is not None and ends <= starts:
            self.problem((*path, "ends"), "ends: a layer must end after it starts")
            ok = False
        bounds = ("starts" not in table or starts is not None) and ("ends" not in table or ends is not None)
        if not ok or not bounds or name is None or participants is None or time_zone is None:
            return None
        if handoff is None or anchor is None or restrictions is None:
            return None
        try:
            return Layer(name, participants, time_zone, anchor, handoff, turn, restrictions, starts, ends)
        except ValueError as exc:  # a rule the checks above missed: still the file's fault
            self.problem(path, str(exc))
            return None

    def _restrictions(self, table: Mapping[str, Any], path: KeyPath) -> tuple[Restriction, ...] | None:
        if "restrictions" not in table:
            return ()
        example = '[{ days = ["mon-fri"], start = "09:00", end = "17:00" }]'
        if not isinstance(table["restrictions"], list):
            self.problem((*path, "restrictions"), f"restrictions: a list of windows, as {example}")
            return None
        found: list[Restriction] = []
        for index, item in enumerate(table["restrictions"]):
            where = (*path, "restrictions", index)
            if not isinstance(item, dict):
                self.problem(where, f"restrictions: each is a window, as {example[1:-1]}")
                continue
            ok = self._keys(item, where, "a restriction", RESTRICTION_KEYS)
            ok &= self._require(item, where, "restriction", ("start", "end"))
            start, end = self._time(item, where, "start"), self._time(item, where, "end")
            days = _days(item["days"]) if "days" in item else EVERY_DAY
            if days is None:
                self.problem(
                    (*where, "days"), 'days: a list of weekdays and ranges, as ["mon-fri"] or ["sat", "sun"]'
                )
            if ok and start is not None and end is not None and days is not None:
                found.append(Restriction(start, end, days))
        if len(found) != len(table["restrictions"]):
            return None
        return tuple(sorted(found, key=_restriction_key))

    def _overrides(
        self, table: Mapping[str, Any], path: KeyPath, schedule_zone: str | None
    ) -> tuple[Override, ...] | None:
        """The schedule's overrides in file order, refusing two of one id and two that clash."""
        tables = self._tables(table, "overrides", path)
        found: list[tuple[Override, KeyPath]] = []
        ok = len(tables) == _count(table, "overrides")
        for number, (override_path, override_table) in enumerate(tables, 1):
            override = self._override(override_table, override_path, number, schedule_zone)
            if override is None:
                ok = False
                continue
            same = next((where for earlier, where in found if earlier.id == override.id), None)
            if same is not None:
                self.problem(
                    (*override_path, "id"),
                    f"id: this schedule has an override {override.id!r} already (line {self.line(same)})",
                )
                ok = False
                continue
            lines = {earlier.id: self.line(where) for earlier, where in found}
            for conflict in overlapping((earlier for earlier, _ in found), override):
                self.problem(
                    override_path,
                    f"overrides: this override clashes with the one at line {lines[conflict.existing.id]}. "
                    f"{conflict.reason}",
                )
                ok = False
            found.append((override, override_path))
        return tuple(override for override, _ in found) if ok else None

    def _override(
        self, table: Mapping[str, Any], path: KeyPath, number: int, schedule_zone: str | None
    ) -> Override | None:
        ok = self._keys(table, path, "an override", OVERRIDE_KEYS)
        ok &= self._require(table, path, "override", ("user", "start", "end"))
        override_id = self._name(table, path, "id") if "id" in table else f"override-{number}"
        user = self._name(table, path, "user")
        replaces = self._name(table, path, "replaces")
        if user is not None:
            self.refs.append(_Ref("on-call user", user, (*path, "user"), "user"))
        if replaces is not None:
            self.refs.append(_Ref("user", replaces, (*path, "replaces"), "replaces"))
        start = self._instant(table, path, "start", schedule_zone)
        end = self._instant(table, path, "end", schedule_zone)
        if start is not None and end is not None and end <= start:
            self.problem((*path, "end"), "end: an override must end after it starts")
            ok = False
        if user is not None and user == replaces:
            self.problem((*path, "replaces"), "replaces: nobody can take their own shift")
            ok = False
        if not ok or override_id is None or user is None or start is None or end is None:
            return None
        if "replaces" in table and replaces is None:
            return None
        try:
            return Override(override_id, user, start, end, replaces)
        except ValueError as exc:  # a rule the checks above missed: still the file's fault
            self.problem(path, str(exc))
            return None

    # -- escalation policies --

    def _policy(self, table: Mapping[str, Any], path: KeyPath) -> _Item[Policy]:
        ok = self._keys(table, path, "an escalation policy", POLICY_KEYS)
        ok &= self._require(table, path, "escalation policy", ("name", "levels"))
        name = self._name(table, path)
        repeats = self._whole(table, path, "repeats", 0, MAX_REPEATS) if "repeats" in table else 0
        level_tables = self._tables(table, "levels", path)
        if isinstance(table.get("levels"), list) and not table["levels"]:
            self.problem((*path, "levels"), "levels: an escalation policy needs at least one level")
            ok = False
        levels = [self._level(level_table, level_path) for level_path, level_table in level_tables]
        complete = len(levels) == _count(table, "levels") and None not in levels
        if name is None or repeats is None or not ok or not complete:
            return _Item(name, path, None)
        try:
            policy = Policy(name, tuple(level for level in levels if level), repeats)
        except ValueError as exc:  # a rule the checks above missed: still the file's fault
            self.problem(path, str(exc))
            return _Item(name, path, None)
        return _Item(name, path, policy)

    def _level(self, table: Mapping[str, Any], path: KeyPath) -> Level | None:
        ok = self._keys(table, path, "a level", LEVEL_KEYS)
        ok &= self._require(table, path, "level", ("targets",))
        delay = self._whole(table, path, "delay_minutes", 1) if "delay_minutes" in table else 30
        value = table.get("targets", [])
        if not isinstance(value, list):
            self.problem((*path, "targets"), 'targets: a list, as ["schedule:payments-primary", "user:sam"]')
            return None
        if not value and "targets" in table:
            self.problem((*path, "targets"), "targets: a level must page someone")
            ok = False
        targets: list[Target] = []
        for index, item in enumerate(value):
            where = (*path, "targets", index)
            kind, _, name = item.partition(":") if isinstance(item, str) else ("", "", "")
            if kind == "user" and _good_name(name):
                targets.append(UserTarget(name))
                self.refs.append(_Ref("on-call user", name, where, "targets"))
            elif kind == "schedule" and _good_name(name):
                targets.append(ScheduleTarget(name))
                self.refs.append(_Ref("schedule", name, where, "targets"))
            else:
                self.problem(where, 'targets: each is "user:NAME" or "schedule:NAME"')
                ok = False
        if not ok or delay is None:
            return None
        try:
            return Level(tuple(targets), delay)
        except ValueError as exc:  # a rule the checks above missed: still the file's fault
            self.problem(path, str(exc))
            return None

    # -- across the file --

    def _unique(self, kind: str, items: Sequence[_Item[Any]]) -> None:
        first: dict[str, int] = {}
        for item in items:
            if item.name is None:
                continue
            line = self.line((*item.path, "name"))
            if item.name in first:
                self.problem(
                    line, f"name: there is a {kind} named {item.name!r} already (line {first[item.name]})"
                )
            else:
                first[item.name] = line

    def _check_refs(self, known: Mapping[str, set[str]], viewers: set[str]) -> None:
        for ref in self.refs:
            names = known[ref.kind]
            if ref.name not in names:
                kind = "user" if ref.kind == "on-call user" else ref.kind
                close = difflib.get_close_matches(ref.name, names, n=1)
                hint = f": did you mean {close[0]!r}?" if close else ""
                self.problem(ref.path, f"{ref.key}: there is no {kind} named {ref.name!r}{hint}")
            elif ref.kind == "on-call user" and ref.name in viewers:
                self.problem(
                    ref.path,
                    f"{ref.key}: {ref.name} is a viewer, who cannot acknowledge; "
                    "viewers are never on call or paged",
                )


def _count(table: Mapping[str, Any], key: str) -> int:
    """How many items `table[key]` has: 0 when absent, -1 when it is not a list."""
    value = table.get(key, [])
    return len(value) if isinstance(value, list) else -1


def _names(items: Sequence[_Item[Any]]) -> set[str]:
    """The names declared, including those of items that could not be read whole: a reference to
    them is not a second problem."""
    return {item.name for item in items if item.name is not None}


def _good_name(text: str) -> bool:
    """One line of text without spaces around it and without control characters."""
    return one_line(text) and not any(unicodedata.category(char) in ("Cc", "Cs") for char in text)


def _turn(value: Any) -> Turn | None:
    """ "daily", "weekly", "N days", "N weeks" (wall clock) or "N hours", "N minutes" (absolute)."""
    if not isinstance(value, str):
        return None
    found = _TURN.fullmatch(value.strip().lower())
    if found is None:
        return None
    unit, count = found["unit"], found["count"]
    if unit in ("daily", "weekly"):
        return None if count else (Turn.daily() if unit == "daily" else Turn.weekly())
    number = int(count) if count else 1
    if unit.startswith(("day", "week")):
        days = number * (7 if unit.startswith("week") else 1)
        return Turn.daily(days) if days <= _LONGEST_TURN.days else None
    length = timedelta(hours=number) if unit.startswith("h") else timedelta(minutes=number)
    return Turn.custom(length) if length <= _LONGEST_TURN else None


def _days(value: Any) -> frozenset[int] | None:
    """Weekdays (Monday 0) from ["mon", "wed-fri", "sunday"…]; None if that is not what `value` is."""
    if not isinstance(value, list) or not value:
        return None
    days: set[int] = set()
    for item in value:
        if not isinstance(item, str):
            return None
        first, dash, last = item.strip().lower().partition("-")
        start, end = _day(first), _day(last) if dash else _day(first)
        if start is None or end is None:
            return None
        days.update((start + offset) % 7 for offset in range((end - start) % 7 + 1))
    return frozenset(days)


def _day(name: str) -> int | None:
    name = name.strip()
    for names in (DAY_NAMES, _FULL_DAY_NAMES):
        if name in names:
            return names.index(name)
    return None


def _restriction_key(restriction: Restriction) -> tuple[tuple[int, ...], time, time]:
    """Restrictions' canonical order: their order does not matter, so it must not make a change."""
    return tuple(sorted(restriction.days)), restriction.start, restriction.end


def _syntax_problem(message: str, text: str) -> tuple[int, str]:
    """(line, message) of a tomllib error. "At end of document" is reported at the last line with
    something on it, where the unfinished thing is."""
    found = _SYNTAX.fullmatch(message)
    if found is None:
        return 1, f"not TOML: {message}"
    if found["line"] is not None:
        return int(found["line"]), f"not TOML: {found['message']} (column {found['column']})"
    lines = text.split("\n")
    last = max((number for number, line in enumerate(lines, 1) if line.strip()), default=1)
    return last, f"not TOML: {found['message']} (at the end of the file)"


# -- where each key is --


class _Lost(Exception):
    """The scan met something it does not know; the lines found so far are kept."""


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR = re.compile(r"[^ \t\r\n,\]}#]+")  # numbers, booleans, dates and times
_DATE_ONLY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _locate(text: str) -> dict[KeyPath, int]:
    """The line of every table header, key and array element of `text`, which tomllib accepted,
    by its path in the parsed document. Tables declared only implicitly (the `a` of [a.b]) get the
    line of their first mention."""
    scan = _Scan(text)
    with contextlib.suppress(_Lost):  # a construct the scan misreads: problems name an enclosing line
        scan.document()
    return scan.found


class _Scan:
    """A reader of TOML that keeps only where things are: `text` is valid TOML, so it can skip
    strings and values without checking them."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.newlines = [index for index, char in enumerate(text) if char == "\n"]
        self.found: dict[KeyPath, int] = {}
        self.arrays: dict[KeyPath, int] = {}  # array of tables (by path) → tables it has so far

    def document(self) -> None:
        table: KeyPath = ()
        while True:
            self.skip(newlines=True)
            if self.pos >= len(self.text):
                return
            start = self.pos
            if self.text.startswith("[[", self.pos):
                self.pos += 2
                table = self.resolve(self.key(), array=True)
                self.expect("]]")
            elif self.text.startswith("[", self.pos):
                self.pos += 1
                table = self.resolve(self.key(), array=False)
                self.expect("]")
            else:
                path = (*table, *self.key())
                self.mark(path, start)
                self.skip()
                self.expect("=")
                self.skip()
                self.value(path)
                continue
            self.mark(table, start)

    def resolve(self, parts: list[str], *, array: bool) -> KeyPath:
        """The path of a table header: the last table of each array of tables it goes through, and
        for [[header]] a new table at the end of its array."""
        path: KeyPath = ()
        for index, part in enumerate(parts):
            path = (*path, part)
            if path in self.arrays and not (array and index == len(parts) - 1):
                path = (*path, self.arrays[path] - 1)
        if array:
            count = self.arrays.get(path, 0)
            self.arrays[path] = count + 1
            path = (*path, count)
        return path

    def mark(self, path: KeyPath, pos: int) -> None:
        line = bisect.bisect_left(self.newlines, pos) + 1
        self.found[path] = line
        for end in range(1, len(path)):
            self.found.setdefault(path[:end], line)

    def peek(self, size: int = 1) -> str:
        return self.text[self.pos : self.pos + size]

    def expect(self, token: str) -> None:
        if not self.text.startswith(token, self.pos):
            raise _Lost(self.pos)
        self.pos += len(token)

    def skip(self, *, newlines: bool = False) -> None:
        """Past white space and comments (and line breaks, with `newlines`)."""
        blank = " \t\r\n" if newlines else " \t"
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in blank:
                self.pos += 1
            elif char == "#":
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end
            else:
                return

    def key(self) -> list[str]:
        """A dotted key's parts, as tomllib reads them."""
        parts: list[str] = []
        while True:
            self.skip()
            char = self.peek()
            if char == '"':
                start = self.pos
                self.basic_string()
                parts.append(tomllib.loads(f"k = {self.text[start : self.pos]}")["k"])
            elif char == "'":
                end = self.text.find("'", self.pos + 1)
                if end < 0:
                    raise _Lost(self.pos)
                parts.append(self.text[self.pos + 1 : end])
                self.pos = end + 1
            else:
                found = _BARE_KEY.match(self.text, self.pos)
                if found is None:
                    raise _Lost(self.pos)
                parts.append(found.group())
                self.pos = found.end()
            self.skip()
            if self.peek() != ".":
                return parts
            self.pos += 1

    def value(self, path: KeyPath) -> None:
        char = self.peek()
        if self.peek(3) in ('"""', "'''"):
            self.multiline_string(self.peek(3))
        elif char == '"':
            self.basic_string()
        elif char == "'":
            end = self.text.find("'", self.pos + 1)
            if end < 0:
                raise _Lost(self.pos)
            self.pos = end + 1
        elif char == "[":
            self.array(path)
        elif char == "{":
            self.inline_table(path)
        else:
            found = _SCALAR.match(self.text, self.pos)
            if found is None:
                raise _Lost(self.pos)
            self.pos = found.end()
            # A date and a time may be separated by a space (1979-05-27 07:32:00Z).
            if _DATE_ONLY.fullmatch(found.group()) and re.match(
                r" [0-9]", self.text[self.pos : self.pos + 2]
            ):
                self.pos += 1
                found = _SCALAR.match(self.text, self.pos)
                self.pos = found.end() if found else self.pos

    def basic_string(self) -> None:
        index = self.pos + 1
        while index < len(self.text) and self.text[index] != '"':
            index += 2 if self.text[index] == "\\" else 1
        if index >= len(self.text):
            raise _Lost(self.pos)
        self.pos = index + 1

    def multiline_string(self, quotes: str) -> None:
        index = self.pos + 3
        while index < len(self.text):
            if quotes == '"""' and self.text[index] == "\\":
                index += 2
            elif self.text.startswith(quotes, index):
                run = 3
                while run < 5 and self.text.startswith(quotes[0], index + run):
                    run += 1  # up to two quotes just before the closing ones belong to the string
                self.pos = index + run
                return
            else:
                index += 1
        raise _Lost(self.pos)

    def array(self, path: KeyPath) -> None:
        self.pos += 1
        index = 0
        while True:
            self.skip(newlines=True)
            if self.peek() == "]":
                self.pos += 1
                return
            self.mark((*path, index), self.pos)
            self.value((*path, index))
            self.skip(newlines=True)
            if self.peek() == ",":
                self.pos += 1
                index += 1
            else:
                self.expect("]")
                return

    def inline_table(self, path: KeyPath) -> None:
        self.pos += 1
        while True:
            self.skip(newlines=True)
            if self.peek() == "}":
                self.pos += 1
                return
            start = self.pos
            key = (*path, *self.key())
            self.mark(key, start)
            self.skip()
            self.expect("=")
            self.skip()
            self.value(key)
            self.skip(newlines=True)
            if self.peek() == ",":
                self.pos += 1
            else:
                self.expect("}")
                return


# -- what applying a file changes --


@dataclass(frozen=True, slots=True)
class Change:
    """One thing `admin apply` would change: "added user sam", "changed schedule primary: …"."""

    action: Literal["added", "removed", "changed"]
    kind: Literal["user", "service", "schedule", "escalation policy"]
    name: str
    details: tuple[str, ...] = ()  # for "changed": what, as "role responder → manager"

    def __str__(self) -> str:
        text = f"{self.action} {self.kind} {self.name}"
        return f"{text}: {'; '.join(self.details)}" if self.details else text


def diff(old: TeamConfig, new: TeamConfig) -> list[Change]:
    """What turns `old` into `new`: users, then schedules, escalation policies and services (the
    order in which added things can be made, each kind by name). Empty when they are equal, as after
    applying one file twice."""
    changes: list[Change] = []
    changes += _diff_kind("user", old.users, new.users, _user_details)
    changes += _diff_kind("schedule", old.schedules, new.schedules, _schedule_details)
    changes += _diff_kind(
        "escalation policy", old.escalation_policies, new.escalation_policies, _policy_details
    )
    changes += _diff_kind("service", old.services, new.services, _service_details)
    return changes


def describe(changes: Sequence[Change]) -> str:
    """What `admin apply` prints: one change a line, or "nothing to change"."""
    return "\n".join(str(change) for change in changes) if changes else "nothing to change"


class _Named(Protocol):
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=_Named)


def _diff_kind(
    kind: Literal["user", "service", "schedule", "escalation policy"],
    old: Sequence[N],
    new: Sequence[N],
    details: Callable[[N, N], list[str]],
) -> list[Change]:
    before = {item.name: item for item in old}
    after = {item.name: item for item in new}
    changes: list[Change] = []
    for name in sorted(before.keys() | after.keys()):
        if name not in after:
            changes.append(Change("removed", kind, name))
        elif name not in before:
            changes.append(Change("added", kind, name))
        elif before[name] != after[name]:
            changes.append(Change("changed", kind, name, tuple(details(before[name], after[name]))))
    return changes


def _was(label: str, old: object, new: object) -> list[str]:
    def shown(value: object) -> str:
        return "none" if value is None else str(value)

    return [f"{label} {shown(old)} → {shown(new)}"] if old != new else []


def _user_details(old: User, new: User) -> list[str]:
    return _was("role", old.role, new.role) + _was("time zone", old.time_zone, new.time_zone)


def _service_details(old: Service, new: Service) -> list[str]:
    return (
        _was("parent", old.parent, new.parent)
        + _was("escalation policy", old.escalation_policy, new.escalation_policy)
        + _was("ack timeout minutes", old.ack_timeout_minutes, new.ack_timeout_minutes)
    )


def _schedule_details(old: Schedule, new: Schedule) -> list[str]:
    details: list[str] = []
    before = {layer.name: layer for layer in old.layers}
    after = {layer.name: layer for layer in new.layers}
    for layer in new.layers:
        if layer.name not in before:
            details.append(f"layer {layer.name} added")
        elif before[layer.name] != layer:
            details.append(f"layer {layer.name} changed")
    details += [f"layer {layer.name} removed" for layer in old.layers if layer.name not in after]
    kept_old = [layer.name for layer in old.layers if layer.name in after]
    kept_new = [layer.name for layer in new.layers if layer.name in before]
    if kept_old != kept_new:
        details.append("layers reordered")
    old_overrides = {override.id: override for override in old.overrides}
    new_overrides = {override.id: override for override in new.overrides}
    for override in new.overrides:
        if override.id not in old_overrides:
            details.append(f"override {override.id} added")
        elif old_overrides[override.id] != override:
            details.append(f"override {override.id} changed")
    details += [
        f"override {override.id} removed" for override in old.overrides if override.id not in new_overrides
    ]
    kept_old = [override.id for override in old.overrides if override.id in new_overrides]
    kept_new = [override.id for override in new.overrides if override.id in old_overrides]
    if kept_old != kept_new:
        details.append("overrides reordered")  # the last that applies wins: their order is meaning
    return details


def _policy_details(old: Policy, new: Policy) -> list[str]:
    details = _was("repeats", old.repeats, new.repeats)
    for number in range(1, max(len(old.levels), len(new.levels)) + 1):
        if number > len(old.levels):
            details.append(f"level {number} added")
        elif number > len(new.levels):
            details.append(f"level {number} removed")
        elif old.levels[number - 1] != new.levels[number - 1]:
            details.append(f"level {number} changed")
    return details
