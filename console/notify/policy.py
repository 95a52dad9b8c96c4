"""The alert policy: which incidents raise a desktop notification, how loud, and how often.

Pure rules over incident views (no Qt, no I/O, time injected); delivery backends (D-Bus, tray,
sound) carry out the commands it returns.

- An incident is *pending* while it is triggered (not acknowledged) and not snoozed. It is *loud*
  when it is paged to the current user, or high priority on a service the server does not page for
  (no escalation policy): where it does, the pages decide who is woken, not every console at once.
- Loud: a persistent notification (critical urgency, no expiry) shown again every
  `renotify_minutes` while unacknowledged, and the high sound looping. The loop plays exactly while
  some loud incident is pending and the sound is not muted.
- Low: one normal notification and one soft sound, neither of them during the quiet hours or while
  low priority is muted; an incident silenced that way stays silent (no flood when the quiet ends).
- Storms: new incidents on one service join the service's summary notification ("12 new incidents
  on checkout-api") when that service would otherwise have more than `storm_threshold` bubbles
  within `storm_window`; and at most `max_bubbles` notifications count as on screen (loud ones, and
  any shown within the window): `max_bubbles - 1` for single incidents and service summaries, one
  for an overflow summary of everything else. So one call never shows more than `max_bubbles`
  notifications, whatever the size of the storm.
- Acknowledged, resolved, closed or snoozed: the incident leaves its notification, which is closed
  once none of its incidents is pending, or once nothing loud is left in a persistent one. An
  acknowledgement made here and not synced yet counts too: this person knows (the server keeps
  paging others until it arrives).

Feed it with `update` (changed incidents, pages) and call `tick` every few seconds.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, tzinfo

from console.domain.priority import Priority
from console.domain.status import Rank
from console.domain.views import IncidentView

ACKNOWLEDGE = "acknowledge"
OPEN = "open"
ACTIONS = (ACKNOWLEDGE, OPEN)

OVERFLOW_KEY = "overflow"
_LISTED = 3  # titles or services named in a summary's body


class Urgency(enum.Enum):
    HIGH = "high"
    LOW = "low"


@dataclass(frozen=True, slots=True)
class Show:
    """Show a notification, or replace the one already shown under `key`."""

    key: str
    title: str
    body: str
    urgency: Urgency
    persistent: bool  # stays until closed: no expiry, resident after an action
    incident_ids: tuple[str, ...]  # what "acknowledge" on it acknowledges
    actions: tuple[str, ...] = ACTIONS


@dataclass(frozen=True, slots=True)
class Close:
    key: str


@dataclass(frozen=True, slots=True)
class StartHighSound:
    """Loop the high sound until StopHighSound."""


@dataclass(frozen=True, slots=True)
class StopHighSound:
    pass


@dataclass(frozen=True, slots=True)
class PlayLowSound:
    """Play the low sound once."""


Command = Show | Close | StartHighSound | StopHighSound | PlayLowSound


@dataclass(frozen=True, slots=True)
class AlertSettings:
    quiet_from: time | None = None  # low priority is silent between these local times (may span midnight)
    quiet_until: time | None = None
    renotify_minutes: int = 5  # a loud notification is shown again this often while pending; 0: never
    low_muted_until: datetime | None = None  # low priority is silent until then
    sound_muted: bool = False  # notifications only, no sound at all

    def quiet_at(self, local: time) -> bool:
        """Whether the local time `local` falls in the quiet hours."""
        return in_quiet_hours(self.quiet_from, self.quiet_until, local)


def in_quiet_hours(start: time | None, end: time | None, local: time) -> bool:
    """Whether `local` is in [start, end), which may span midnight; unset or empty: never."""
    if start is None or end is None or start == end:
        return False
    return start <= local < end if start < end else local >= start or local < end


@dataclass(frozen=True, slots=True)
class Page:
    """The server's record that `user` must be alerted about an incident (DESIGN.md §4)."""

    incident_id: str
    user: str


class _Kind(enum.Enum):
    SINGLE = "single"
    SERVICE = "service"
    OVERFLOW = "overflow"


@dataclass(slots=True)
class _Group:
    """One notification on the desktop and the pending incidents it stands for."""

    key: str
    kind: _Kind
    service: str
    members: dict[str, str] = field(default_factory=dict)  # pending incident id -> its service, in order
    loud: dict[str, None] = field(default_factory=dict)  # the loud ones among them, in order
    services: dict[str, int] = field(default_factory=dict)  # how many members each service has
    first_shown: datetime | None = None  # None: not shown yet
    last_shown: datetime | None = None
    loud_at_show: bool = False  # shown as persistent
    dirty: bool = True  # to be shown (again) at the end of this call


@dataclass(frozen=True, slots=True)
class _Notice:
    """That an incident was announced (or silenced) in this epoch, and whether loudly."""

    epoch: int
    loud: bool


class AlertPolicy:
    """Turns successive incident changes into notification and sound commands."""

    def __init__(
        self,
        user: str,
        settings: AlertSettings | None = None,
        *,
        zone: tzinfo | None = None,
        max_bubbles: int = 5,
        storm_threshold: int = 3,
        storm_window: timedelta = timedelta(minutes=1),
    ) -> None:
        """`zone` is the local time zone of the quiet hours (None: the system's)."""
        if max_bubbles < 2:
            raise ValueError("max_bubbles must leave room for the overflow summary (at least 2)")
        self.user = user
        self.settings = settings or AlertSettings()
        self._zone = zone
        self._max_bubbles = max_bubbles
        self._storm_threshold = storm_threshold
        self._storm_window = storm_window
        self._views: dict[str, IncidentView] = {}  # open incidents
        self._paged: set[str] = set()  # incident ids paged to this user
        self._escalated: frozenset[str] = frozenset()  # services the server pages people for
        self._notices: dict[str, _Notice] = {}
        self._snoozed: dict[str, datetime] = {}  # open, snoozed until
        self._loud_pending: set[str] = set()
        self._group_of: dict[str, str] = {}  # incident id -> group key
        self._groups: dict[str, _Group] = {}
        self._high_sound = False
        self._closes: list[str] = []  # keys to close at the end of this call
        self._fresh: dict[str, None] = {}  # incidents to announce at the end of this call
        self._touched: set[str] = set()  # groups whose members or their loudness changed

    # --- queries ------------------------------------------------------------------------------

    @property
    def high_sound_on(self) -> bool:
        return self._high_sound

    @property
    def open_keys(self) -> frozenset[str]:
        """Keys of the notifications this policy considers shown."""
        return frozenset(self._groups)

    def incidents_of(self, key: str) -> tuple[str, ...]:
        """The pending incidents a notification stands for (what its "acknowledge" acknowledges)."""
        group = self._groups.get(key)
        return tuple(group.members) if group else ()

    def pending_loud(self) -> frozenset[str]:
        """Incidents that keep the high sound looping (unless muted): for the tray and the window."""
        return frozenset(self._loud_pending)

    # --- inputs -------------------------------------------------------------------------------

    def update(
        self,
        incidents: Iterable[IncidentView],
        now: datetime,
        *,
        pages: Iterable[Page] = (),
        complete: bool = False,
        escalated: frozenset[str] | None = None,
    ) -> list[Command]:
        """Take incidents that are new or changed (in any status), and pages for anyone (a page
        and its incident may come in the same call). `escalated`, when given, is the new set of
        services that have an escalation policy.

        With `complete`, `incidents` is everything there is: an incident seen before and missing
        now is treated as gone.
        """
        if escalated is not None:
            self._escalated = escalated
        given = {view.id: view for view in incidents}
        silenced = self._low_silenced(now)
        paged: list[str] = []
        for page in pages:  # a page counts while its incident is open (given now, or seen before)
            known = page.incident_id in self._views or page.incident_id in given
            if page.user == self.user and known and page.incident_id not in self._paged:
                self._paged.add(page.incident_id)
                paged.append(page.incident_id)
        gone = sorted(self._views.keys() - given.keys()) if complete else []
        for incident_id in gone:
            self._evaluate(incident_id, None, now, silenced)
        for incident_id, view in given.items():
            self._evaluate(incident_id, view, now, silenced)
        for incident_id in paged:
            if incident_id in self._views and incident_id not in given:
                self._evaluate(incident_id, self._views[incident_id], now, silenced)
        return self._finish(now)

    def tick(self, now: datetime) -> list[Command]:
        """Call every few seconds: ends snoozes and shows loud notifications again when due."""
        silenced = self._low_silenced(now)
        for incident_id in sorted(i for i, until in self._snoozed.items() if until <= now):
            self._evaluate(incident_id, self._views.get(incident_id), now, silenced)
        if self.settings.renotify_minutes > 0:
            interval = timedelta(minutes=self.settings.renotify_minutes)
            for group in self._groups.values():
                if group.loud_at_show and group.last_shown is not None and now - group.last_shown >= interval:
                    group.dirty = True
        return self._finish(now)

    def configure(self, settings: AlertSettings, now: datetime) -> list[Command]:
        """New settings; muting the sound stops the high loop at once."""
        self.settings = settings
        return self._finish(now)

    def dismissed(self, key: str, now: datetime) -> list[Command]:
        """The desktop closed a notification (it expired, or the person dismissed it).

        A persistent one comes back at the next re-notification; any other is done with.
        """
        group = self._groups.get(key)
        if group is not None and not group.loud_at_show:
            self._drop(group, closed_already=True)
        return self._finish(now)

    # --- rules --------------------------------------------------------------------------------

    def _loud(self, view: IncidentView) -> bool:
        if view.id in self._paged:
            return True
        return view.incident.priority is Priority.HIGH and view.service not in self._escalated

    def _low_silenced(self, now: datetime) -> bool:
        muted_until = self.settings.low_muted_until
        if muted_until is not None and now < muted_until:
            return True
        return self.settings.quiet_at(now.astimezone(self._zone).time())

    def _evaluate(self, incident_id: str, view: IncidentView | None, now: datetime, silenced: bool) -> None:
        """Bring one incident's state up to date; `silenced`: whether low priority is silent now."""
        if view is None or not view.incident.status.is_open:  # resolved, closed or gone
            self._views.pop(incident_id, None)
            self._paged.discard(incident_id)
            self._notices.pop(incident_id, None)
            self._snoozed.pop(incident_id, None)
            self._not_pending(incident_id)
            return
        self._views[incident_id] = view
        incident = view.incident
        until = incident.snoozed_until
        if until is not None and until > now:
            self._snoozed[incident_id] = until
            self._notices.pop(incident_id, None)  # announced again when the snooze ends
            self._not_pending(incident_id)
            return
        self._snoozed.pop(incident_id, None)
        if incident.status.rank is not Rank.TRIGGERED:  # acknowledged
            self._not_pending(incident_id)
            return
        loud = self._loud(view)
        group = self._groups.get(self._group_of.get(incident_id, ""))
        if loud:
            self._loud_pending.add(incident_id)
            if group is not None:
                group.loud[incident_id] = None
        else:
            self._loud_pending.discard(incident_id)
            if group is not None and incident_id in group.loud:
                del group.loud[incident_id]
                self._touched.add(group.key)  # perhaps nothing loud is left in it
        notice = self._notices.get(incident_id)
        epoch = incident.status.epoch
        if notice is not None and notice.epoch == epoch and (notice.loud or not loud):
            if notice.loud and not loud:  # quieter now: announced loudly again if it gets loud again
                self._notices[incident_id] = _Notice(epoch, False)
            return  # announced already, as loudly as it is now
        self._notices[incident_id] = _Notice(epoch, loud)
        if group is not None:
            if self._counting(group, now):
                group.dirty = True  # louder now, or a new epoch: show its notification again
                return
            self._leave_group(incident_id)
        if not loud and silenced:
            return  # silent, and stays so
        self._fresh[incident_id] = None

    def _not_pending(self, incident_id: str) -> None:
        self._loud_pending.discard(incident_id)
        self._fresh.pop(incident_id, None)
        self._leave_group(incident_id)

    def _counting(self, group: _Group, now: datetime) -> bool:
        """Whether a notification counts as on screen: about to be shown, persistent, or recent."""
        if group.dirty or group.loud_at_show:
            return True
        return group.last_shown is not None and now - group.last_shown < self._storm_window

    def _leave_group(self, incident_id: str) -> None:
        group = self._groups.get(self._group_of.pop(incident_id, ""))
        if group is not None:
            service = group.members.pop(incident_id)
            group.loud.pop(incident_id, None)
            group.services[service] -= 1
            if not group.services[service]:
                del group.services[service]
            self._touched.add(group.key)

    def _drop(self, group: _Group, *, closed_already: bool = False) -> None:
        """Forget a notification, and close it on the desktop if it was shown there."""
        del self._groups[group.key]
        self._touched.discard(group.key)
        for member in group.members:
            if self._group_of.get(member) == group.key:
                del self._group_of[member]
        if group.first_shown is not None and not closed_already:
            self._closes.append(group.key)

    # --- placing new incidents ----------------------------------------------------------------

    def _place(self, now: datetime) -> bool:
        """Put the incidents to announce into notifications; True if a quiet one is among them."""
        fresh = sorted((self._views[i] for i in self._fresh), key=self._rank)
        self._fresh.clear()
        if not fresh:
            return False
        by_service: dict[str, list[str]] = {}
        for view in fresh:
            by_service.setdefault(view.service, []).append(view.id)

        recent_singles: dict[str, list[_Group]] = {}
        for group in self._groups.values():
            if (
                group.kind is _Kind.SINGLE
                and group.first_shown is not None
                and now - group.first_shown < self._storm_window
            ):
                recent_singles.setdefault(group.service, []).append(group)
        candidates: list[_Candidate] = []
        for service, ids in by_service.items():
            existing = self._groups.get(_service_key(service))
            if existing is not None:
                if self._counting(existing, now):
                    self._join(existing, ids)
                else:  # an old quiet summary: shown again only if there is room
                    candidates.append(_Candidate(existing.key, _Kind.SERVICE, service, ids))
                continue
            recent = recent_singles.get(service, [])
            if len(ids) + len(recent) > self._storm_threshold:  # a storm: one summary for the service
                absorbed: list[str] = []
                for group in recent:
                    absorbed.extend(group.members)
                    self._drop(group)
                candidates.append(_Candidate(_service_key(service), _Kind.SERVICE, service, absorbed + ids))
            else:
                candidates.extend(_Candidate(_single_key(i), _Kind.SINGLE, service, [i]) for i in ids)

        # one place on screen is kept for the overflow summary, so it never pushes past the cap
        on_screen = sum(
            1 for g in self._groups.values() if g.kind is not _Kind.OVERFLOW and self._counting(g, now)
        )
        free = max(self._max_bubbles - 1 - on_screen, 0)
        candidates.sort(key=self._candidate_rank)
        for candidate in candidates[:free]:
            if candidate.key not in self._groups:
                self._groups[candidate.key] = _Group(candidate.key, candidate.kind, candidate.service)
            self._join(self._groups[candidate.key], candidate.ids)
        spilled = [i for candidate in candidates[free:] for i in candidate.ids]
        if spilled:
            if OVERFLOW_KEY not in self._groups:
                self._groups[OVERFLOW_KEY] = _Group(OVERFLOW_KEY, _Kind.OVERFLOW, "")
            self._join(self._groups[OVERFLOW_KEY], spilled)
        return any(not self._loud(view) for view in fresh)

    def _join(self, group: _Group, ids: Iterable[str]) -> None:
        for incident_id in ids:
            service = self._views[incident_id].service
            group.members[incident_id] = service
            group.services[service] = group.services.get(service, 0) + 1
            if incident_id in self._loud_pending:
                group.loud[incident_id] = None
            self._group_of[incident_id] = group.key
        group.dirty = True

    def _rank(self, view: IncidentView) -> tuple[bool, datetime, int, str]:
        """Loud first, then oldest first."""
        return (not self._loud(view), view.incident.created_at, view.incident.number, view.id)

    def _candidate_rank(self, candidate: _Candidate) -> tuple[bool, int, tuple[bool, datetime, int, str]]:
        ranks = [self._rank(self._views[i]) for i in candidate.ids]
        return (min(ranks)[0], -len(ranks), min(ranks))

    # --- output -------------------------------------------------------------------------------

    def _finish(self, now: datetime) -> list[Command]:
        for key in sorted(self._touched):
            group = self._groups.get(key)
            if group is None:
                continue
            if not group.members or (group.loud_at_show and not group.loud):
                self._drop(group)  # nothing pending left, or nothing loud left in a persistent one
        self._touched.clear()
        announced_low = self._place(now)
        # a key closed and made again in one call is replaced, not closed
        commands: list[Command] = [Close(k) for k in dict.fromkeys(self._closes) if k not in self._groups]
        self._closes.clear()
        commands.extend(self._show(group, now) for group in self._groups.values() if group.dirty)
        want_high = bool(self._loud_pending) and not self.settings.sound_muted
        if want_high != self._high_sound:
            self._high_sound = want_high
            commands.append(StartHighSound() if want_high else StopHighSound())
        if announced_low and not want_high and not self.settings.sound_muted:
            commands.append(PlayLowSound())
        return commands

    def _show(self, group: _Group, now: datetime) -> Show:
        # members join oldest first within each call, loud first: the first ones are what to name
        loud = bool(group.loud)
        group.loud_at_show = loud
        group.dirty = False
        group.first_shown = group.first_shown or now
        group.last_shown = now
        if len(group.members) == 1:
            title, body = self._single_text(self._views[next(iter(group.members))])
        elif group.kind is _Kind.OVERFLOW:
            title, body = self._overflow_text(group)
        else:
            title, body = self._service_text(group)
        if loud:
            waiting = _minutes(now - self._views[next(iter(group.loud))].incident.created_at)
            if waiting >= 1:
                body = f"{body}\nNot acknowledged for {waiting} min."
        return Show(
            key=group.key,
            title=title,
            body=body,
            urgency=Urgency.HIGH if loud else Urgency.LOW,
            persistent=loud,
            incident_ids=tuple(group.members),
        )

    def _single_text(self, view: IncidentView) -> tuple[str, str]:
        incident = view.incident
        high = incident.priority is Priority.HIGH
        details = [f"#{incident.number}", "High priority" if high else "Low priority"]
        if view.id in self._paged:
            details.append("paged to you")
        if incident.assignee == self.user:
            details.append("assigned to you")
        return f"{view.service}: {incident.title}", " · ".join(details)

    def _service_text(self, group: _Group) -> tuple[str, str]:
        n = len(group.members)
        named = list(itertools.islice(itertools.chain(group.loud, group.members), 2 * _LISTED))
        lines = [self._views[i].incident.title for i in dict.fromkeys(named)][:_LISTED]
        if n > _LISTED:
            lines.append(f"…and {n - _LISTED} more")
        return f"{_count(n, 'new incident')} on {group.service}", "\n".join(lines)

    def _overflow_text(self, group: _Group) -> tuple[str, str]:
        ranked = sorted(group.services.items(), key=lambda item: (-item[1], item[0]))
        parts = [f"{service} ({count})" for service, count in ranked[:_LISTED]]
        if len(ranked) > _LISTED:
            parts.append(f"…and {len(ranked) - _LISTED} more")
        n, m = len(group.members), len(ranked)
        return f"{_count(n, 'new incident')} on {_count(m, 'service')}", ", ".join(parts)


@dataclass(frozen=True, slots=True)
class _Candidate:
    key: str
    kind: _Kind
    service: str
    ids: list[str]


def _service_key(service: str) -> str:
    return f"service:{service}"


def _single_key(incident_id: str) -> str:
    return f"incident:{incident_id}"


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
