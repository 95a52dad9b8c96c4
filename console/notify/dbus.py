"""Freedesktop notifications over D-Bus with jeepney, on whatever asyncio loop runs (qasync's too).

jeepney rather than QtDBus: QtDBus cannot marshal the `u` and `y` arguments `Notify` needs, and
strict servers (GNOME Shell, dunst) reject the call (desktop.md §2.1). Every library or bus error
becomes NotifierUnavailable here, so callers fall back to the tray and the window.

Notifications are addressed by the policy's keys (console.notify.policy.Show.key); the server's
notification ids stay inside this module. What the person does with a notification comes back
through `on_event` as Activated (acknowledge, open) or Dismissed.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jeepney import DBusAddress, HeaderFields, MatchRule, Message, MessageType, message_bus, new_method_call
from jeepney.io.asyncio import DBusConnection, DBusRouter, open_dbus_connection
from jeepney.io.common import RouterClosed
from jeepney.wrappers import DBusErrorResponse, unwrap_msg

from console.domain.errors import KnownFailure
from console.notify.policy import ACKNOWLEDGE, OPEN, Show, Urgency

log = logging.getLogger(__name__)

BUS_NAME = "org.freedesktop.Notifications"
OBJECT_PATH = "/org/freedesktop/Notifications"
INTERFACE = "org.freedesktop.Notifications"
NOTIFICATIONS = DBusAddress(OBJECT_PATH, bus_name=BUS_NAME, interface=INTERFACE)
NOTIFY_SIGNATURE = "susssasa{sv}i"

URGENCY_NORMAL = 1
URGENCY_CRITICAL = 2
NEVER_EXPIRE = 0
SERVER_DEFAULT_EXPIRY = -1
CATEGORY = "x-responder.incident"

# the policy's actions as D-Bus action keys and button labels; "default" is a click on the body
_DBUS_ACTIONS = {ACKNOWLEDGE: ("acknowledge", "Acknowledge"), OPEN: ("default", "Open")}
_FROM_DBUS = {dbus_key: action for action, (dbus_key, _label) in _DBUS_ACTIONS.items()}


class NotifierUnavailable(KnownFailure):
    """Desktop notifications cannot be shown: no session bus, no notification server, or it failed."""


class CloseReason(enum.IntEnum):
    EXPIRED = 1
    DISMISSED = 2  # by the person
    CLOSED = 3  # by CloseNotification
    UNDEFINED = 4


@dataclass(frozen=True, slots=True)
class Activated:
    """The person chose an action on a notification: ACKNOWLEDGE or OPEN (a click on it)."""

    key: str
    action: str


@dataclass(frozen=True, slots=True)
class Dismissed:
    """A notification went away without us closing it (expired, or dismissed by the person)."""

    key: str
    reason: CloseReason


NotificationEvent = Activated | Dismissed


class DBusNotifier:
    """A client of org.freedesktop.Notifications on the session bus.

    Use `async with DBusNotifier(...) as notifier:` or `await connect()` … `await aclose()`.
    `on_event` is called on the event loop for what the person does with our notifications.
    """

    def __init__(
        self,
        *,
        app_name: str = "Responder Console",
        desktop_entry: str | None = None,  # the .desktop file's basename, for the icon and grouping
        on_event: Callable[[NotificationEvent], None] | None = None,
        timeout: float = 5.0,
        bus: str = "SESSION",
    ) -> None:
        self.app_name = app_name
        self.desktop_entry = desktop_entry
        self.on_event = on_event
        self._timeout = timeout
        self._bus = bus
        self._connection: DBusConnection | None = None
        self._router: DBusRouter | None = None
        self._listener: asyncio.Task[None] | None = None
        self._capabilities: frozenset[str] = frozenset()
        self._ids: dict[str, int] = {}  # key -> the server's notification id
        self._keys: dict[int, str] = {}
        self._lock = asyncio.Lock()  # one call at a time keeps ids and keys consistent

    # --- connection ---------------------------------------------------------------------------

    async def connect(self) -> frozenset[str]:
        """Connect, subscribe to the server's signals and return its capabilities."""
        if self._router is not None:
            return self._capabilities
        try:
            self._connection = await asyncio.wait_for(open_dbus_connection(self._bus), self._timeout)
        except (KeyError, ValueError, RuntimeError, OSError, EOFError, TimeoutError, RouterClosed) as exc:
            # KeyError: no DBUS_SESSION_BUS_ADDRESS; RuntimeError: no unix: address in it;
            # ValueError: an unreadable address, or authentication failed
            raise NotifierUnavailable(f"No D-Bus session bus for desktop notifications ({exc!r}).") from exc
        self._router = DBusRouter(self._connection)
        try:
            rule = MatchRule(type="signal", interface=INTERFACE, path=OBJECT_PATH)
            signals: asyncio.Queue[Message] = asyncio.Queue()
            handle = self._router.filter(rule, queue=signals)
            self._listener = asyncio.create_task(self._listen(signals, handle.close))
            await self._call(message_bus.AddMatch(rule))
            reply = await self._call(new_method_call(NOTIFICATIONS, "GetCapabilities"))
            self._capabilities = frozenset(str(c) for c in reply[0])
        except BaseException:
            await self.aclose()
            raise
        log.info("desktop notifications: capabilities %s", ", ".join(sorted(self._capabilities)))
        return self._capabilities

    async def aclose(self) -> None:
        """Disconnect. Notifications already shown stay on the desktop."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        router, connection = self._router, self._connection
        self._router = self._connection = None
        if router is not None:
            with contextlib.suppress(Exception):  # a router whose receiver failed re-raises here
                await router.__aexit__(None, None, None)
        if connection is not None:
            with contextlib.suppress(OSError):
                await connection.close()

    async def __aenter__(self) -> DBusNotifier:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def capabilities(self) -> frozenset[str]:
        return self._capabilities

    @property
    def supports_actions(self) -> bool:
        """Whether the server shows buttons; without them acknowledge only from the window or tray."""
        return "actions" in self._capabilities

    # --- notifications ------------------------------------------------------------------------

    async def show(self, show: Show) -> int:
        """Show a notification, replacing the one shown under the same key; the server's id."""
        high = show.urgency is Urgency.HIGH
        hints: dict[str, tuple[str, Any]] = {
            "urgency": ("y", URGENCY_CRITICAL if high else URGENCY_NORMAL),
            "category": ("s", CATEGORY),
            "suppress-sound": ("b", True),  # our own sounds say how urgent it is
        }
        if show.persistent:
            hints["resident"] = ("b", True)  # stays after "acknowledge" until we close it
        if self.desktop_entry:
            hints["desktop-entry"] = ("s", self.desktop_entry)
        actions: list[str] = []
        if self.supports_actions:
            for action in show.actions:
                actions.extend(_DBUS_ACTIONS[action])
        async with self._lock:
            replaces = self._ids.get(show.key, 0)
            body = (
                self.app_name,
                replaces,
                "dialog-warning" if high else "dialog-information",
                show.title,
                show.body,
                actions,
                hints,
                NEVER_EXPIRE if show.persistent else SERVER_DEFAULT_EXPIRY,
            )
            reply = await self._call(new_method_call(NOTIFICATIONS, "Notify", NOTIFY_SIGNATURE, body))
            notification_id = int(reply[0])
            if replaces and replaces != notification_id:
                self._keys.pop(replaces, None)
            self._ids[show.key] = notification_id
            self._keys[notification_id] = show.key
        return notification_id

    async def close(self, key: str) -> None:
        """Close the notification shown under `key`, if it is still there."""
        async with self._lock:
            notification_id = self._ids.pop(key, None)
            if notification_id is None:
                return
            self._keys.pop(notification_id, None)
            try:
                await self._call(new_method_call(NOTIFICATIONS, "CloseNotification", "u", (notification_id,)))
            except _ServerError as exc:  # the spec's answer for a notification that is already gone
                log.debug("closing notification %d (%s): %s", notification_id, key, exc)

    def key_of(self, notification_id: int) -> str | None:
        return self._keys.get(notification_id)

    # --- plumbing -----------------------------------------------------------------------------

    async def _call(self, message: Message) -> tuple[Any, ...]:
        if self._router is None:
            raise NotifierUnavailable("Desktop notifications are not connected.")
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for makes a task, which the loop runs only
            # after what is queued before it (a window repaint: ~30 ms; tests/perf/bench_notify.py)
            async with asyncio.timeout(self._timeout):
                reply = await self._router.send_and_get_reply(message)
            return tuple(unwrap_msg(reply))
        except DBusErrorResponse as exc:  # e.g. ServiceUnknown: no notification server
            raise _ServerError(f"The notification server answered {_member(message)} with {exc}.") from exc
        except TimeoutError as exc:
            raise NotifierUnavailable(
                f"The notification server did not answer within {self._timeout:g} s."
            ) from exc
        except (RouterClosed, OSError, EOFError) as exc:
            raise NotifierUnavailable(f"The D-Bus session bus went away ({exc!r}).") from exc

    async def _listen(self, signals: asyncio.Queue[Message], stop: Callable[[], None]) -> None:
        try:
            while True:
                message = await signals.get()
                event = self._event(message)
                if event is not None and self.on_event is not None:
                    try:
                        self.on_event(event)
                    except Exception:  # a bug in the callback must not end the listener
                        log.exception("handling %r", event)
        finally:
            stop()

    def _event(self, message: Message) -> NotificationEvent | None:
        if message.header.message_type is not MessageType.signal:
            return None
        member = message.header.fields.get(HeaderFields.member)
        if member == "ActionInvoked" and len(message.body) >= 2:
            key = self._keys.get(int(message.body[0]))
            action = _FROM_DBUS.get(str(message.body[1]))
            return Activated(key, action) if key is not None and action is not None else None
        if member == "NotificationClosed" and len(message.body) >= 2:
            notification_id = int(message.body[0])
            key = self._keys.pop(notification_id, None)
            if key is None:
                return None  # not ours, or closed by us
            self._ids.pop(key, None)
            try:
                reason = CloseReason(int(message.body[1]))
            except ValueError:
                reason = CloseReason.UNDEFINED
            return Dismissed(key, reason)
        return None


class _ServerError(NotifierUnavailable):
    """The server answered a call with a D-Bus error."""


def _member(message: Message) -> str:
    return str(message.header.fields.get(HeaderFields.member, "a call"))
