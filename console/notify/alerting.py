"""The alert policy carried out: what the console reads goes through AlertPolicy, and its commands
become desktop notifications (D-Bus on Linux, plyer elsewhere) and sounds, in the order made.

Threads: the policy is evaluated where the replica was read (a worker thread: a first load of
100,000 incidents takes the policy most of a second) and the commands are carried out on the event
loop. A lock keeps one evaluation at a time; everything else runs on the loop.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from console.domain.views import IncidentView
from console.notify.dbus import Activated, DBusNotifier, Dismissed, NotificationEvent, NotifierUnavailable
from console.notify.policy import (
    ACKNOWLEDGE,
    AlertPolicy,
    AlertSettings,
    Close,
    Command,
    Page,
    Show,
)

log = logging.getLogger(__name__)


class Notifier(Protocol):
    @property
    def supports_actions(self) -> bool: ...

    async def connect(self) -> frozenset[str]: ...

    async def show(self, show: Show) -> int: ...

    async def close(self, key: str) -> None: ...

    async def aclose(self) -> None: ...


class PlyerNotifier:
    """Off Linux: plyer's notification (Windows toast, macOS banner). It has no buttons and cannot
    close what it showed: acknowledging is the tray's and the window's there."""

    def __init__(self, app_name: str = "Responder Console") -> None:
        self._app_name = app_name

    @property
    def supports_actions(self) -> bool:
        return False

    async def connect(self) -> frozenset[str]:
        return frozenset()

    async def show(self, show: Show) -> int:
        from plyer import notification  # imported here: plyer picks its backend on import

        try:
            await asyncio.to_thread(
                notification.notify,
                title=show.title,
                message=show.body,
                app_name=self._app_name,
                timeout=0 if show.persistent else 10,
            )
        except Exception as exc:  # plyer raises whatever its backend raises
            raise NotifierUnavailable(f"Desktop notifications failed ({exc!r}).") from exc
        return 0

    async def close(self, key: str) -> None:
        return None

    async def aclose(self) -> None:
        return None


def default_notifier(on_event: Callable[[NotificationEvent], None], platform: str = sys.platform) -> Notifier:
    """freedesktop notifications (with buttons) on Linux, plyer's elsewhere."""
    if platform.startswith("linux"):
        return DBusNotifier(on_event=on_event)
    return PlyerNotifier()


class Alerting:
    """The console's alerting. `sounds` carries out the sound commands (a SoundPlayer's run);
    `acknowledge` records acknowledgements (the replica's outbox, so it works offline too);
    `open_incident` brings the window up on an incident."""

    def __init__(
        self,
        policy: AlertPolicy,
        *,
        sounds: Callable[[Sequence[Command]], None] = lambda commands: None,
        acknowledge: Callable[[tuple[str, ...]], None] = lambda ids: None,
        open_incident: Callable[[str], None] = lambda incident_id: None,
        notifier: Notifier | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._policy = policy
        self._sounds = sounds
        self._acknowledge = acknowledge
        self._open = open_incident
        self._now = now
        self._lock = threading.Lock()
        self._notifier: Notifier | None = notifier if notifier is not None else default_notifier(self.event)
        self._connected = False
        self._outgoing: asyncio.Queue[Show | Close] = asyncio.Queue()
        self._sender: asyncio.Task[None] | None = None
        self.notified: Callable[[Show], None] = lambda show: None  # after each Notify call (benchmarks)

    @property
    def policy(self) -> AlertPolicy:
        return self._policy

    @property
    def desktop_actions(self) -> bool:
        """Whether notifications carry an Acknowledge button (else the tray and window must)."""
        return self._connected and self._notifier is not None and self._notifier.supports_actions

    async def start(self) -> None:
        """Connect to the desktop's notifications; without them alerting goes on with sounds,
        the tray and the window."""
        if self._notifier is not None:
            try:
                capabilities = await self._notifier.connect()
                self._connected = True
                log.info("desktop notifications: %s", ", ".join(sorted(capabilities)) or "basic")
            except NotifierUnavailable as exc:
                log.warning("no desktop notifications, the tray and the window alert instead: %s", exc)
                self._notifier = None
        self._sender = asyncio.create_task(self._send(), name="notifications")

    async def aclose(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
        if self._notifier is not None and self._connected:
            await self._notifier.aclose()

    # -- evaluation: any thread --

    def evaluate(
        self,
        views: Iterable[IncidentView],
        *,
        pages: Iterable[Page] = (),
        complete: bool = False,
        escalated: frozenset[str] | None = None,
    ) -> list[Command]:
        with self._lock:
            return self._policy.update(
                views, self._now(), pages=pages, complete=complete, escalated=escalated
            )

    def tick(self) -> list[Command]:
        with self._lock:
            return self._policy.tick(self._now())

    def configure(self, settings: AlertSettings) -> list[Command]:
        with self._lock:
            return self._policy.configure(settings, self._now())

    # -- carrying out: on the event loop --

    def carry_out(self, commands: Sequence[Command]) -> None:
        if not commands:
            return
        self._sounds(commands)
        for command in commands:
            if isinstance(command, Show | Close) and self._notifier is not None:
                self._outgoing.put_nowait(command)

    def event(self, event: NotificationEvent) -> None:
        """What the person did with a notification (the D-Bus notifier calls this on the loop)."""
        with self._lock:
            incident_ids = self._policy.incidents_of(event.key)
            commands = self._policy.dismissed(event.key, self._now()) if isinstance(event, Dismissed) else []
        if isinstance(event, Activated):
            if event.action == ACKNOWLEDGE and incident_ids:
                self._acknowledge(incident_ids)
            elif incident_ids:
                self._open(incident_ids[0])
        self.carry_out(commands)

    async def _send(self) -> None:
        """One notification call at a time, in the order the policy made them."""
        while True:
            command = await self._outgoing.get()
            notifier = self._notifier
            if notifier is None:
                continue
            try:
                if isinstance(command, Show):
                    await notifier.show(command)
                    self.notified(command)
                else:
                    await notifier.close(command.key)
            except NotifierUnavailable as exc:  # the notification server went away: said once
                log.warning("desktop notifications stopped, the tray and the window alert instead: %s", exc)
                self._notifier = None
                self._connected = False
