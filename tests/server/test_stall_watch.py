"""The stall watch on a real event loop: a loop held longer than the threshold is logged once, with
the function that held it; shorter holds are not."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from console.server.stall_watch import StallWatch


def _hold_the_loop_for(seconds: float) -> None:
    time.sleep(seconds)  # as a long synchronous step on the loop would


async def _watched(watch: StallWatch, holds: list[float]) -> None:
    watch.start()
    await asyncio.sleep(0.1)
    for seconds in holds:
        _hold_the_loop_for(seconds)
        await asyncio.sleep(0.1)  # the heartbeat wakes and reports
    await watch.stop()


def test_a_stall_is_logged_once_with_what_held_the_loop(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="console.server.stall_watch")

    asyncio.run(_watched(StallWatch(0.05), [0.2]))

    [record] = caplog.records
    message = record.getMessage()
    assert message.startswith("the event loop stalled ")
    stalled_ms = float(message.split()[4])
    assert 150 <= stalled_ms < 1000
    assert "_hold_the_loop_for" in message
    assert "time.sleep(seconds)" in message


def test_holds_shorter_than_the_threshold_are_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="console.server.stall_watch")

    asyncio.run(_watched(StallWatch(0.25), [0.02, 0.05, 0.1]))

    assert caplog.records == []


def test_after_stop_nothing_is_watched(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="console.server.stall_watch")

    async def main() -> None:
        await _watched(StallWatch(0.05), [])
        _hold_the_loop_for(0.2)
        await asyncio.sleep(0.1)

    asyncio.run(main())
    assert caplog.records == []
