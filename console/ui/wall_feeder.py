"""Feeding the wall (console.ui.wall.WallWindow) from the replica, off the UI thread."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, tzinfo

from console.domain.errors import DomainError
from console.domain.incident import EntryKind
from console.domain.status import Rank
from console.domain.views import IncidentView
from console.ui import wall_layout as layout
from console.ui.ports import IncidentSource, OnCallBoard
from console.ui.wall import WallChanges, WallWindow

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def acknowledger(source: IncidentSource, incident_id: str) -> str | None:
    """Who acknowledged the incident in its current epoch, from its timeline (None: not known)."""
    detail = source.incident(incident_id)
    epoch = detail.view.incident.status.epoch
    found = None
    for entry in detail.timeline:
        body_epoch = entry.entry.body.get("epoch", epoch)
        if entry.entry.kind is EntryKind.ACKNOWLEDGED and body_epoch == epoch:
            found = entry.entry.actor
    return found


class WallFeeder:
    """Reads the replica for a WallWindow in a worker thread, as app.py's reader does for the main
    window: one read at a time, at most one per MIN_GAP, only the incidents that changed (the
    replica's ChangeWatch), and the on-call board every ON_CALL_EVERY seconds."""

    MIN_GAP = 0.25
    ON_CALL_EVERY = 60.0
    LOOKUPS = 100  # who acknowledged: at most this many timeline reads per read (a storm's acks wait)

    def __init__(
        self,
        window: WallWindow,
        source: IncidentSource,
        board: OnCallBoard | None = None,
        *,
        clock: Callable[[], datetime] = _utcnow,
        tz: tzinfo | None = None,
    ) -> None:
        self._window = window
        self._source = source
        self._board = board
        self._clock = clock
        self._tz = tz
        self._watch = source.watch()
        self._who: dict[str, tuple[datetime | None, str]] = {}  # id -> (acknowledged_at, who)
        self._backlog: dict[str, datetime | None] = {}  # acknowledged, who not looked up yet
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self._last = 0.0

    def request(self) -> None:
        """Read again soon (a sync round ended, an op was recorded)."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.ensure_future(self._read_until_done())

    async def idle(self) -> None:
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def run_on_call(self) -> None:
        """Keep the on-call panel current until cancelled."""
        if self._board is None:
            return
        board = self._board
        while True:
            entries = await asyncio.to_thread(board.on_call_now, self._clock())
            self._window.set_on_call(entries)
            await asyncio.sleep(self.ON_CALL_EVERY)

    async def _read_until_done(self) -> None:
        loop = asyncio.get_running_loop()
        self._again = True
        while self._again:
            self._again = False
            if (wait := self._last + self.MIN_GAP - loop.time()) > 0:
                await asyncio.sleep(wait)
            changes = await asyncio.to_thread(self.read)
            self._last = loop.time()
            self._window.show_changes(changes)
            self._again = self._again or self.behind
            if changes.everything is not None:
                # What a full read loaded lives as long as the wall: out of the collector's full
                # passes, which otherwise stalled the loop 100-200 ms in a storm (bench_wall; app.py's
                # reader does the same for the main window).
                gc.freeze()

    def read(self) -> WallChanges:
        """In the worker thread: what changed since the last read, and who acknowledged it."""
        since = layout.day_start(self._clock(), self._tz)
        ids = self._watch.take()
        if ids is None:
            views = [v for v in self._source.incidents() if layout.worth_keeping(v, since)]
            self._note_acknowledged(views)
            return WallChanges(everything=views, acknowledged_by=self._look_up())
        found = self._source.views(ids) if ids else {}
        for incident_id in ids:
            if incident_id not in found:
                self._who.pop(incident_id, None)
                self._backlog.pop(incident_id, None)
        self._note_acknowledged(found.values())
        return WallChanges(
            changed=list(found.values()),
            gone=frozenset(ids.difference(found)),
            acknowledged_by=self._look_up(),
        )

    @property
    def behind(self) -> bool:
        """Acknowledgements wait for their names (more than LOOKUPS came at once)."""
        return bool(self._backlog)

    def _note_acknowledged(self, views: Iterable[IncidentView]) -> None:
        """Queue the open, acknowledged incidents whose acknowledger is not known yet."""
        for view in views:
            incident = view.incident
            if not incident.status.is_open or incident.status.rank is Rank.TRIGGERED:
                self._who.pop(view.id, None)  # asked again should it be acknowledged again
                self._backlog.pop(view.id, None)
                continue
            known = self._who.get(view.id)
            if known is None or known[0] != incident.acknowledged_at:
                self._backlog[view.id] = incident.acknowledged_at

    def _look_up(self) -> dict[str, str]:
        """Who acknowledged, from the timelines: LOOKUPS at most, the rest in the next reads."""
        found: dict[str, str] = {}
        for incident_id in list(self._backlog)[: self.LOOKUPS]:
            acknowledged_at = self._backlog.pop(incident_id)
            try:
                who = acknowledger(self._source, incident_id)
            except DomainError:  # gone meanwhile (the store's NotFound): the next read says so
                log.debug("who acknowledged %s: not found", incident_id, exc_info=True)
                continue
            if who:
                self._who[incident_id] = (acknowledged_at, who)
                found[incident_id] = who
        return found
