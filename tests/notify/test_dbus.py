"""The freedesktop notifications client against a real notification server stand-in on a private
session bus: the argument types the server receives, and what comes back from the person."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

import pytest

from console.notify.dbus import (
    Activated,
    CloseReason,
    DBusNotifier,
    Dismissed,
    NotificationEvent,
    NotifierUnavailable,
)
from console.notify.policy import ACKNOWLEDGE, OPEN, Show, Urgency
from tests.desktop_session import SessionBus
from tests.notify.daemon import NotificationDaemon, wire_calls

T = TypeVar("T")

HIGH = Show(
    key="incident:inc-1",
    title="checkout-api: Checkout 500s",
    body="#1 · High priority",
    urgency=Urgency.HIGH,
    persistent=True,
    incident_ids=("inc-1",),
)
LOW = Show(
    key="incident:inc-2",
    title="search: Slow suggestions",
    body="#2 · Low priority",
    urgency=Urgency.LOW,
    persistent=False,
    incident_ids=("inc-2",),
)


def run(scenario: Callable[[DBusNotifier, list[NotificationEvent]], Awaitable[T]], **kwargs: Any) -> T:
    """Runs `scenario` with a connected notifier and the list its events land in."""

    async def main() -> T:
        events: list[NotificationEvent] = []
        async with DBusNotifier(on_event=events.append, **kwargs) as notifier:
            return await scenario(notifier, events)

    return asyncio.run(main())


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def test_a_high_notification_goes_over_the_bus_with_the_spec_types(
    notification_daemon: NotificationDaemon,
) -> None:
    async def scenario(notifier: DBusNotifier, events: list[NotificationEvent]) -> None:
        assert notifier.supports_actions
        async with wire_calls() as calls:
            notification_id = await notifier.show(HIGH)
            assert notification_id > 0
            member, signature, args = await calls.next()
            assert (member, signature) == ("Notify", "susssasa{sv}i")  # u, not the i QtDBus would send
            assert args == (
                "Responder Console",
                0,
                "dialog-warning",
                "checkout-api: Checkout 500s",
                "#1 · High priority",
                ["acknowledge", "Acknowledge", "default", "Open"],
                {
                    "urgency": ("y", 2),  # a byte: critical
                    "category": ("s", "x-responder.incident"),
                    "suppress-sound": ("b", True),
                    "resident": ("b", True),
                    "desktop-entry": ("s", "responder-console"),
                },
                0,  # never expires
            )
            await notifier.close(HIGH.key)
            assert (await calls.next())[:2] == ("CloseNotification", "u")

    run(scenario, desktop_entry="responder-console")
    # and as the server took them: the hints keep their variant types there too
    [call] = notification_daemon.calls("Notify")
    assert call[6] == (
        "a{sv}",
        {
            "urgency": ("y", 2),
            "category": ("s", "x-responder.incident"),
            "suppress-sound": ("b", True),
            "resident": ("b", True),
            "desktop-entry": ("s", "responder-console"),
        },
    )
    assert call[7] == ("i", 0)


def test_a_low_notification_is_normal_urgency_and_expires(notification_daemon: NotificationDaemon) -> None:
    run(lambda notifier, events: notifier.show(LOW))
    [call] = notification_daemon.calls("Notify")
    hints = call[6][1]
    assert hints["urgency"] == ("y", 1)
    assert "resident" not in hints
    assert "desktop-entry" not in hints  # only when there is a .desktop file to name
    assert call[2] == ("s", "dialog-information")
    assert call[7] == ("i", -1)  # the server's default expiry


def test_showing_a_key_again_replaces_its_notification(notification_daemon: NotificationDaemon) -> None:
    async def scenario(notifier: DBusNotifier, events: list[NotificationEvent]) -> tuple[int, int, int]:
        first = await notifier.show(HIGH)
        again = await notifier.show(replace(HIGH, body="Not acknowledged for 5 min."))
        other = await notifier.show(LOW)
        return first, again, other

    first, again, other = run(scenario)
    assert again == first != other
    assert [call[1] for call in notification_daemon.calls("Notify")] == [("u", 0), ("u", first), ("u", 0)]


def test_without_the_actions_capability_no_buttons_are_sent_and_the_client_says_so(
    start_daemon: Callable[..., NotificationDaemon],
) -> None:
    daemon = start_daemon("body body-markup")

    async def scenario(notifier: DBusNotifier, events: list[NotificationEvent]) -> bool:
        await notifier.show(HIGH)
        return notifier.supports_actions

    assert run(scenario) is False
    [call] = daemon.calls("Notify")
    assert call[5] == ("as", [])


def test_buttons_pressed_on_the_desktop_reach_the_callback_as_incident_keys(
    notification_daemon: NotificationDaemon,
) -> None:
    async def scenario(notifier: DBusNotifier, events: list[NotificationEvent]) -> list[NotificationEvent]:
        high = await notifier.show(HIGH)
        low = await notifier.show(LOW)
        notification_daemon.emit("ActionInvoked", "us", ("u", high), ("s", "acknowledge"))
        notification_daemon.emit("ActionInvoked", "us", ("u", low), ("s", "default"))  # a click on it
        notification_daemon.emit("ActionInvoked", "us", ("u", 999), ("s", "acknowledge"))  # someone else's
        notification_daemon.emit("ActionInvoked", "us", ("u", high), ("s", "no-such-action"))
        notification_daemon.emit("NotificationClosed", "uu", ("u", 1000), ("u", 2))  # someone else's
        notification_daemon.emit("NotificationClosed", "uu", ("u", low), ("u", 2))
        await until(lambda: len(events) == 3)
        await asyncio.sleep(0.1)  # nothing more comes
        return events

    assert run(scenario) == [
        Activated("incident:inc-1", ACKNOWLEDGE),
        Activated("incident:inc-2", OPEN),
        Dismissed("incident:inc-2", CloseReason.DISMISSED),
    ]


def test_closing_sends_the_id_and_reports_no_dismissal(notification_daemon: NotificationDaemon) -> None:
    async def scenario(notifier: DBusNotifier, events: list[NotificationEvent]) -> list[NotificationEvent]:
        notification_id = await notifier.show(HIGH)
        await notifier.close(HIGH.key)
        await notifier.close(HIGH.key)  # twice: nothing more is sent
        await notifier.close("incident:never-shown")
        assert notifier.key_of(notification_id) is None
        await asyncio.sleep(0.2)  # the server's NotificationClosed arrives and is ours, not the person's
        return events

    assert run(scenario) == []
    assert len(notification_daemon.calls("CloseNotification")) == 1


def test_a_notification_the_person_dismissed_is_not_closed_again(
    notification_daemon: NotificationDaemon,
) -> None:
    async def scenario(notifier: DBusNotifier, events: list[NotificationEvent]) -> list[NotificationEvent]:
        notification_id = await notifier.show(LOW)
        notification_daemon.emit("NotificationClosed", "uu", ("u", notification_id), ("u", 1))
        await until(lambda: bool(events))
        await notifier.close(LOW.key)
        shown_again = await notifier.show(LOW)
        assert shown_again != notification_id  # a new one: the old id is gone
        return events

    assert run(scenario) == [Dismissed(LOW.key, CloseReason.EXPIRED)]
    assert notification_daemon.calls("CloseNotification") == []


def test_a_failing_callback_does_not_stop_the_events(notification_daemon: NotificationDaemon) -> None:
    received: list[NotificationEvent] = []

    def flaky(event: NotificationEvent) -> None:
        received.append(event)
        if len(received) == 1:
            raise RuntimeError("a bug in the handler")

    async def main() -> None:
        async with DBusNotifier(on_event=flaky) as notifier:
            notification_id = await notifier.show(HIGH)
            for _ in range(2):
                notification_daemon.emit("ActionInvoked", "us", ("u", notification_id), ("s", "acknowledge"))
            await until(lambda: len(received) == 2)

    asyncio.run(main())


def test_no_notification_server_means_unavailable(session_bus: SessionBus) -> None:
    with pytest.raises(NotifierUnavailable, match=r"answered GetCapabilities with .*ServiceUnknown"):
        run(lambda notifier, events: asyncio.sleep(0))


def test_no_session_bus_means_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    with pytest.raises(NotifierUnavailable, match="No D-Bus session bus"):
        run(lambda notifier, events: asyncio.sleep(0))
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    with pytest.raises(NotifierUnavailable, match="No D-Bus session bus"):
        run(lambda notifier, events: asyncio.sleep(0))


def test_a_server_that_went_away_means_unavailable(notification_daemon: NotificationDaemon) -> None:
    async def scenario(notifier: DBusNotifier, events: list[NotificationEvent]) -> None:
        await notifier.show(HIGH)
        notification_daemon.stop()
        with pytest.raises(NotifierUnavailable):
            await notifier.show(LOW)

    run(scenario)


def test_a_server_that_hangs_means_unavailable(notification_daemon: NotificationDaemon) -> None:
    notification_daemon.replace_method("Notify", "susssasa{sv}i", "u", "import time; time.sleep(3); ret = 1")

    async def scenario(notifier: DBusNotifier, events: list[NotificationEvent]) -> None:
        with pytest.raises(NotifierUnavailable, match=r"did not answer within 0\.5 s"):
            await notifier.show(HIGH)

    run(scenario, timeout=0.5)


def test_the_client_runs_on_the_qt_event_loop(qapp: Any, notification_daemon: NotificationDaemon) -> None:
    import qasync

    loop = qasync.QEventLoop(qapp)
    events: list[NotificationEvent] = []

    async def main() -> None:
        async with DBusNotifier(on_event=events.append) as notifier:
            notification_id = await notifier.show(HIGH)
            notification_daemon.emit("ActionInvoked", "us", ("u", notification_id), ("s", "acknowledge"))
            await until(lambda: bool(events))
            await notifier.close(HIGH.key)

    try:
        loop.run_until_complete(asyncio.wait_for(main(), 10))
    finally:
        loop.close()
        asyncio.set_event_loop(None)
    assert events == [Activated(HIGH.key, ACKNOWLEDGE)]
    assert len(notification_daemon.calls("CloseNotification")) == 1
