"""Alerting end to end: a real server, a console replica synced with it, and the notification server
stand-in on a private session bus. A page becomes a Notify call with the spec's types; its
Acknowledge button acknowledges the incident in the replica and, after a sync, on the server; an
acknowledgement made elsewhere closes the notification."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from console.domain.ops import OpType
from console.notify.alerting import Alerting, PlyerNotifier, default_notifier
from console.notify.dbus import DBusNotifier
from console.notify.policy import AlertPolicy, Show, StartHighSound, StopHighSound
from console.server.tables import incidents as server_incidents
from console.store.replica import Replica
from console.sync.client import SyncClient
from console.sync.engine import SyncEngine
from tests.notify.daemon import NotificationDaemon, wire_calls
from tests.stack import Stack


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def server_status(stack: Stack, title: str) -> str:
    with stack.engine.connect() as conn:
        return str(
            conn.execute(
                select(server_incidents.c.status).where(server_incidents.c.title == title)
            ).scalar_one()
        )


def test_a_page_notifies_and_its_button_acknowledges_here_and_on_the_server(
    stack: Stack, notification_daemon: NotificationDaemon
) -> None:
    stack.trigger("database down")  # critical: high priority
    sounds: list[object] = []

    async def scenario() -> None:
        watch = stack.replica.watch()
        watch.take()
        await stack.sync_now()

        def acknowledge(incident_ids: tuple[str, ...]) -> None:
            for incident_id in incident_ids:
                stack.replica.act(OpType.ACKNOWLEDGE, incident_id)

        alerting = Alerting(
            AlertPolicy("ann"),
            acknowledge=acknowledge,
            sounds=sounds.extend,
            notifier=DBusNotifier(on_event=lambda event: alerting.event(event)),
        )
        await alerting.start()
        assert alerting.desktop_actions
        shown: list[Show] = []
        alerting.notified = shown.append
        try:
            async with wire_calls() as calls:
                alerting.carry_out(alerting.evaluate(stack.replica.views(watch.take() or ()).values()))
                member, signature, args = await calls.next()
                assert (member, signature) == ("Notify", "susssasa{sv}i")
                assert args[3].startswith("shop")
                assert "database down" in args[3] + args[4]
                assert args[5] == ["acknowledge", "Acknowledge", "default", "Open"]
                assert args[6]["urgency"] == ("y", 2)
                assert args[6]["resident"] == ("b", True)
                assert args[7] == 0  # never expires
                await until(lambda: bool(shown))
                assert StartHighSound() in sounds

                # the person presses Acknowledge on the desktop
                notification_id = _last_notify_id(notification_daemon)
                notification_daemon.emit("ActionInvoked", "us", ("u", notification_id), ("s", "acknowledge"))
                await until(lambda: any(op.type == "acknowledge" for op in stack.replica.outbox()))
                # the acknowledgement is in the replica at once (offline too), and the window's
                # next read closes the notification and stops the sound
                alerting.carry_out(alerting.evaluate(stack.replica.views(watch.take() or ()).values()))
                member, signature, args = await calls.next()
                assert (member, signature, args) == ("CloseNotification", "u", (notification_id,))
                assert StopHighSound() in sounds
            await stack.sync_now()
            assert server_status(stack, "database down") == "acknowledged"
        finally:
            await alerting.aclose()

    asyncio.run(scenario())


def test_acknowledged_elsewhere_closes_the_notification(
    stack: Stack, notification_daemon: NotificationDaemon, tmp_path: Path
) -> None:
    stack.trigger("disk full")
    other = Replica(tmp_path / "other.db")  # another console of the same team
    other.set_server(stack.url, "ann")

    async def scenario() -> None:
        watch = stack.replica.watch()
        watch.take()
        await stack.sync_now()
        alerting = Alerting(
            AlertPolicy("ann"), notifier=DBusNotifier(on_event=lambda event: alerting.event(event))
        )
        await alerting.start()
        try:
            async with wire_calls() as calls:
                alerting.carry_out(alerting.evaluate(stack.replica.views(watch.take() or ()).values()))
                assert (await calls.next())[0] == "Notify"
                await _sync(stack, other)
                [view] = other.incidents()
                other.act(OpType.ACKNOWLEDGE, view.id)
                await _sync(stack, other)  # the other console's acknowledgement reaches the server
                await stack.sync_now()  # and this console
                alerting.carry_out(alerting.evaluate(stack.replica.views(watch.take() or ()).values()))
                assert (await calls.next())[0] == "CloseNotification"
        finally:
            await alerting.aclose()
            other.close()

    asyncio.run(scenario())


async def _sync(stack: Stack, replica: Replica) -> None:
    client = SyncClient(stack.url, stack.token, replica.state().client_id)
    try:
        await SyncEngine(replica, client).sync_once()
    finally:
        await client.aclose()


def _last_notify_id(daemon: NotificationDaemon) -> int:
    """The id the stand-in gave the last Notify (dbusmock's template numbers them from 1)."""
    return len(daemon.calls("Notify"))


def test_off_linux_notifications_go_through_plyer_without_buttons() -> None:
    notifier = default_notifier(lambda event: None, platform="win32")
    assert isinstance(notifier, PlyerNotifier)
    assert not notifier.supports_actions
    assert isinstance(default_notifier(lambda event: None, platform="linux"), DBusNotifier)
