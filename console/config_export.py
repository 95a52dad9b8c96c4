"""A TeamConfig written back as the text of a team file (console/config_file.py's layout), and the
rules of editing one from a console.

`export_team` writes what `config_file.parse` reads back to an equal TeamConfig. It is written by
hand rather than with tomli-w: tomli-w writes neither comments nor a chosen inline table (it makes
every list of tables an array of tables, so a restriction window would take four lines and a header
of its own), and the layout people read in the docs is both.

The console's editor ("Edit schedules and policies…") edits schedules, escalation policies and which
policy (and acknowledgement timeout) each service has. It does not make or change users or services,
does not remove services, and leaves overrides to the On call view: `console_merge` is what applying a
file from the editor makes of the current configuration, and `console_edit_problems` what it refuses,
each at its line. The server and the editor both call them, so the preview says what the server does.
The edit is a compare-and-set: it carries `config_fingerprint` of the configuration it started from.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from console.config_file import TOP_KEYS, Problem, Service, TeamConfig, User, _locate
from console.domain.escalation import Level, Policy
from console.domain.oncall_json import layers_json, levels_json, target_text
from console.domain.schedule import EVERY_DAY, Layer, Override, Restriction, Schedule, Turn, zone

__all__ = [
    "ONCALL_CONFIG",
    "config_fingerprint",
    "console_edit_problems",
    "console_merge",
    "export_team",
    "without_overrides",
]

# The outbox op of the console's editor: entity "team", args {"text": the file, "base": the
# fingerprint of the configuration the editor started from}.
ONCALL_CONFIG = "oncall_config"
ONCALL_CONFIG_ENTITY = "team"

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HEADINGS = {
    "users": "# -- users --",
    "services": "# -- services --",
    "schedules": "# -- schedules --",
    "escalation_policies": "# -- escalation policies --",
}


# -- writing --


def export_team(config: TeamConfig, *, only: Collection[str] | None = None) -> str:
    """`config` as a team file's text; `only` names the kinds to write (of users, services, schedules,
    escalation_policies; all by default). A file without users does not parse on its own: its
    schedules name people it does not declare."""
    kinds = TOP_KEYS if only is None else tuple(kind for kind in TOP_KEYS if kind in only)
    unknown = set(only or ()) - set(TOP_KEYS)
    if unknown:
        raise ValueError(f"only: unknown kinds {', '.join(sorted(unknown))} (known: {', '.join(TOP_KEYS)})")
    writers = {
        "users": lambda: [_user(user) for user in config.users],
        "services": lambda: [_service(service) for service in config.services],
        "schedules": lambda: [_schedule(schedule) for schedule in config.schedules],
        "escalation_policies": lambda: [_policy(policy) for policy in config.escalation_policies],
    }
    sections = []
    for kind in kinds:
        tables = writers[kind]()
        if tables:
            sections.append("\n\n".join([_HEADINGS[kind], *tables]))
    return "\n\n".join(sections) + "\n" if sections else ""


def _lines(*pairs: tuple[str, str | None]) -> str:
    """`key = value` lines, leaving out the keys without a value."""
    return "\n".join(f"{key} = {value}" for key, value in pairs if value is not None)


def _user(user: User) -> str:
    return "[[users]]\n" + _lines(
        ("name", _string(user.name)),
        ("role", _string(user.role)),
        ("time_zone", _optional(user.time_zone)),
    )


def _service(service: Service) -> str:
    timeout = service.ack_timeout_minutes
    return "[[services]]\n" + _lines(
        ("name", _string(service.name)),
        ("parent", _optional(service.parent)),
        ("escalation_policy", _optional(service.escalation_policy)),
        ("ack_timeout_minutes", None if timeout is None else str(timeout)),
    )


def _schedule(schedule: Schedule) -> str:
    # A schedule's zone is only its layers' default: the one most of them have (ties: the first's).
    counted = Counter(layer.time_zone for layer in schedule.layers)
    time_zone = counted.most_common(1)[0][0] if counted else "UTC"
    parts = ["[[schedules]]\n" + _lines(("name", _string(schedule.name)), ("time_zone", _string(time_zone)))]
    parts += [_layer(layer, time_zone) for layer in schedule.layers]
    parts += [_override(override, time_zone) for override in schedule.overrides]
    return "\n\n".join(parts)


def _layer(layer: Layer, schedule_zone: str) -> str:
    restrictions = None
    if layer.restrictions:
        windows = "".join(f"    {_restriction(each)},\n" for each in layer.restrictions)
        restrictions = f"[\n{windows}]"
    return "[[schedules.layers]]\n" + _lines(
        ("name", _string(layer.name)),
        ("participants", _array(layer.participants)),
        ("time_zone", _string(layer.time_zone) if layer.time_zone != schedule_zone else None),
        ("turn", _string(_turn(layer.turn))),
        ("handoff", _clock(layer.handoff)),
        ("anchor", _date(layer.anchor)),
        ("restrictions", restrictions),
        ("starts", _instant(layer.starts, layer.time_zone)),
        ("ends", _instant(layer.ends, layer.time_zone)),
    )


def _restriction(restriction: Restriction) -> str:
    keys = [] if restriction.days == EVERY_DAY else [f"days = {_array(_day_ranges(restriction.days))}"]
    keys += [f"start = {_clock(restriction.start)}", f"end = {_clock(restriction.end)}"]
    return "{ " + ", ".join(keys) + " }"


def _override(override: Override, schedule_zone: str) -> str:
    return "[[schedules.overrides]]\n" + _lines(
        ("id", _string(override.id)),
        ("user", _string(override.user)),
        ("start", _instant(override.start, schedule_zone)),
        ("end", _instant(override.end, schedule_zone)),
        ("replaces", _optional(override.replaces)),
    )


def _policy(policy: Policy) -> str:
    head = "[[escalation_policies]]\n" + _lines(
        ("name", _string(policy.name)), ("repeats", str(policy.repeats))
    )
    return "\n\n".join([head, *(_level(level) for level in policy.levels)])


def _level(level: Level) -> str:
    return "[[escalation_policies.levels]]\n" + _lines(
        ("targets", _array(target_text(target) for target in level.targets)),
        ("delay_minutes", str(level.delay_minutes)),
    )


# -- values --


def _string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    escaped = []
    for char in text:
        if char in '"\\':
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04X}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def _optional(text: str | None) -> str | None:
    return None if text is None else _string(text)


def _array(items: Iterable[str]) -> str:
    return "[" + ", ".join(_string(item) for item in items) + "]"


def _clock(at: time) -> str:
    """ "09:00" as the docs write it; a TOML local time when it has fractions of a second."""
    if at.microsecond:
        return at.isoformat()
    return _string(at.strftime("%H:%M:%S" if at.second else "%H:%M"))


def _date(day: date) -> str:
    return day.isoformat()  # a TOML local date


def _instant(at: datetime | None, zone_name: str) -> str | None:
    """A TOML offset date-time, on the wall clock of `zone_name` (as people read it). TOML offsets
    are whole minutes: an instant in a zone's early local mean time (+00:19:32) is written in UTC."""
    if at is None:
        return None
    local = at.astimezone(zone(zone_name))
    offset = local.utcoffset() or timedelta(0)
    if offset % timedelta(minutes=1) or not offset:
        return at.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
    return local.isoformat()


def _turn(turn: Turn) -> str:
    if turn.follows_wall_clock:
        if turn.days % 7 == 0:
            weeks = turn.days // 7
            return "weekly" if weeks == 1 else f"{weeks} weeks"
        return "daily" if turn.days == 1 else f"{turn.days} days"
    minutes = int(turn.length.total_seconds()) // 60
    if minutes % 60 == 0:
        return "1 hour" if minutes == 60 else f"{minutes // 60} hours"
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def _day_ranges(days: frozenset[int]) -> list[str]:
    """Weekdays as the docs write them: runs of three or more as "mon-fri", the others one by one."""
    runs: list[list[int]] = []
    for day in sorted(days):
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    names: list[str] = []
    for run in runs:
        if len(run) >= 3:
            names.append(f"{_DAYS[run[0]]}-{_DAYS[run[-1]]}")
        else:
            names += [_DAYS[day] for day in run]
    return names


# -- the console's edit --


def without_overrides(config: TeamConfig) -> TeamConfig:
    """`config` as the console's editor shows it: overrides are the On call view's."""
    return replace(config, schedules=tuple(replace(each, overrides=()) for each in config.schedules))


def config_fingerprint(config: TeamConfig) -> str:
    """A hash of what the console's editor shows of `config` (everything but overrides): the editor's
    save carries the one it started from, and the server refuses it if its own has moved since."""
    shown: dict[str, Any] = {
        "users": [[u.name, u.role, u.time_zone] for u in config.users],
        "services": [[s.name, s.parent, s.escalation_policy, s.ack_timeout_minutes] for s in config.services],
        "schedules": [[s.name, layers_json(s.layers)] for s in config.schedules],
        "escalation_policies": [
            [p.name, p.repeats, levels_json(p.levels)] for p in config.escalation_policies
        ],
    }
    canonical = json.dumps(shown, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def console_merge(current: TeamConfig, edited: TeamConfig) -> TeamConfig:
    """What applying `edited` from the console's editor makes of `current`: its schedules (keeping
    the overrides `current` has for each) and escalation policies; for each service it names, the
    policy and acknowledgement timeout. Users and services stay as `current` has them."""
    kept = {schedule.name: schedule.overrides for schedule in current.schedules}
    return replace(
        current,
        services=tuple(
            replace(
                service,
                escalation_policy=named.escalation_policy,
                ack_timeout_minutes=named.ack_timeout_minutes,
            )
            if (named := edited.service(service.name)) is not None
            else service
            for service in current.services
        ),
        schedules=tuple(replace(each, overrides=kept.get(each.name, ())) for each in edited.schedules),
        escalation_policies=edited.escalation_policies,
    )


def console_edit_problems(
    current: TeamConfig, edited: TeamConfig, text: str, file: str = "<editor>"
) -> list[Problem]:
    """What the console's editor may not do in `text` (which parsed to `edited`), each at its line:
    add or change users, add services or change their parents, write overrides, or remove a policy a
    service the file leaves out still pages with."""
    data = tomllib.loads(text.removeprefix("\ufeff"))
    lines = _locate(text.removeprefix("\ufeff"))

    def line(*path: str | int) -> int:
        while path and path not in lines:
            path = path[:-1]
        return lines.get(path, 1)

    found: list[Problem] = []

    def refuse(where: int, message: str) -> None:
        found.append(Problem(file, where, message))

    for index, table in enumerate(_tables(data, "users")):
        user, known = edited.user(str(table.get("name"))), current.user(str(table.get("name")))
        if user is None:
            continue
        if known is None:
            refuse(
                line("users", index, "name"),
                f"name: there is no user named {user.name!r} here: "
                "people are added with `admin add-user`, not in this editor",
            )
            continue
        changed = (("role", known.role, user.role), ("time_zone", known.time_zone, user.time_zone))
        for key, old, new in changed:
            if old != new:
                refuse(
                    line("users", index, key),
                    f"{key}: {user.name} has {_shown(old)} here; people's roles and time zones "
                    "are changed with admin commands, not in this editor",
                )
    for index, table in enumerate(_tables(data, "services")):
        name = str(table.get("name"))
        service, known_service = edited.service(name), current.service(name)
        if service is None:
            continue
        if known_service is None:
            refuse(
                line("services", index, "name"),
                f"name: there is no service named {name!r}: services are added with `admin apply`",
            )
        elif known_service.parent != service.parent:
            refuse(
                line("services", index, "parent"),
                f"parent: {name} depends on {_shown(known_service.parent)}; "
                "dependencies are changed with `admin apply`",
            )
    for index, table in enumerate(_tables(data, "schedules")):
        for number, _ in enumerate(_tables(table, "overrides")):
            refuse(
                line("schedules", index, "overrides", number),
                "overrides: are made in the On call view, not in this editor "
                "(saving here keeps the schedule's overrides)",
            )
    merged = console_merge(current, edited)
    for service in merged.services:
        policy = service.escalation_policy
        if edited.service(service.name) is None and policy and merged.escalation_policy(policy) is None:
            refuse(
                1,
                f"escalation policy {policy!r} is gone, but service {service.name} (not in this file) "
                "pages with it: keep the policy, or list the service with another",
            )
    return sorted(found, key=lambda problem: problem.line)


def _tables(data: Any, key: str) -> Sequence[dict[str, Any]]:
    value = data.get(key, []) if isinstance(data, dict) else []
    return [item if isinstance(item, dict) else {} for item in value] if isinstance(value, list) else []


def _shown(value: str | None) -> str:
    return "none" if value is None else value
