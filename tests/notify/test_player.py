"""The sound player against a real PulseAudio: its null sink's monitor is recorded and analysed.

Times in a recording are read from `Recording.now()` just before acting, so the assertions hold on
a loaded machine: generous margins (a sound starts within 1 s, stops within 1 s), but every one of
them fails if a sound does not loop, does not stop, plays when muted, or ignores the volume.
Each silence checked lasts longer than one round of the high loop (1 s), so a loop still running
would show in it.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from console.notify.player import NO_OUTPUT, SoundPlayer
from console.notify.policy import (
    AlertPolicy,
    AlertSettings,
    Close,
    PlayLowSound,
    StartHighSound,
    StopHighSound,
    Urgency,
)
from tests.audio_session import PulseAudio, Recording
from tests.notify.incidents import ME, T0, acknowledged, low, view

HIGH_PITCH = (1400.0, 1750.0)  # high.wav: 1568 Hz beeps
LOW_PITCH = (400.0, 650.0)  # low.wav: 587 Hz then 440 Hz
STARTS_WITHIN = 1.0  # seconds from the call to the first sound
STOPS_WITHIN = 1.0  # seconds from the call to lasting silence
ROUND = 1.0  # one round of the high loop: three beeps (0.4 s) and a pause


@pytest.fixture
def player(pulse_audio: PulseAudio, qtbot: QtBot) -> Iterator[SoundPlayer]:
    made = SoundPlayer()
    qtbot.waitUntil(lambda: made.ready, timeout=5000)
    yield made
    made.set_muted(True)  # stops whatever plays
    made.deleteLater()


def loop_on(player: SoundPlayer) -> bool:
    return player.high_playing  # read afresh: mypy would keep an asserted property narrowed


def wait_recorded(qtbot: QtBot, recording: Recording, until: float) -> None:
    """Run the Qt event loop until the recording has reached `until` seconds."""
    timeout = round((until - recording.now()) * 1000) + 10_000
    qtbot.waitUntil(lambda: recording.now() >= until, timeout=timeout)


def first_sound(recording: Recording, after: float) -> float:
    """When the recording first sounds after `after` (a call's time): fails if not within the limit."""
    sounding = recording.sounding(after, after + STARTS_WITHIN)
    assert sounding, f"no sound within {STARTS_WITHIN} s of {after:.2f} s: {recording.levels(after)}"
    return sounding[0]


def test_the_high_sound_loops_until_stopped_then_falls_silent(
    player: SoundPlayer, pulse_audio: PulseAudio, qtbot: QtBot
) -> None:
    with pulse_audio.record() as recording:
        started = recording.now()
        player.start_high()
        assert loop_on(player)
        wait_recorded(qtbot, recording, started + 3.4)  # the fourth round starts 3 s in
        stopped = recording.now()
        player.stop_high()
        assert not loop_on(player)
        wait_recorded(qtbot, recording, stopped + STOPS_WITHIN + ROUND + 0.1)
    onset = first_sound(recording, started)
    assert onset + 2.5 < recording.sounding(started, stopped + 0.2)[-1], "the loop did not go on"
    rounds = {round(t - onset) for t in recording.sounding(onset, stopped)}
    assert rounds >= {0, 1, 2, 3}, f"a round of the loop is missing: {recording.levels(onset, stopped)}"
    assert recording.silent(stopped + STOPS_WITHIN), f"still sounding: {recording.levels(stopped)}"
    assert recording.duration >= stopped + STOPS_WITHIN + ROUND
    assert HIGH_PITCH[0] < recording.dominant_frequency(onset, onset + 0.4) < HIGH_PITCH[1]


def test_the_low_sound_plays_once(player: SoundPlayer, pulse_audio: PulseAudio, qtbot: QtBot) -> None:
    with pulse_audio.record() as recording:
        started = recording.now()
        player.play_low()
        wait_recorded(qtbot, recording, started + 2.6)
    onset = first_sound(recording, started)
    assert recording.sounding(onset, onset + 1.0)
    assert recording.silent(onset + 1.5), f"sounds on (or again): {recording.levels(onset)}"
    assert recording.duration >= onset + 1.5 + 0.95  # longer than the sound (0.9 s): a repeat would show
    assert LOW_PITCH[0] < recording.dominant_frequency(onset, onset + 0.9) < LOW_PITCH[1]
    assert not loop_on(player)


def test_muted_plays_nothing_and_unmuting_resumes_the_loop_still_wanted(
    player: SoundPlayer, pulse_audio: PulseAudio, qtbot: QtBot
) -> None:
    with pulse_audio.record() as recording:
        muted = recording.now()
        player.set_muted(True)
        player.start_high()
        player.play_low()
        assert not loop_on(player)
        wait_recorded(qtbot, recording, muted + ROUND + 0.2)
        unmuted = recording.now()
        player.set_muted(False)
        assert loop_on(player)
        wait_recorded(qtbot, recording, unmuted + STARTS_WITHIN)
        muted_again = recording.now()
        player.set_muted(True)
        wait_recorded(qtbot, recording, muted_again + STOPS_WITHIN + ROUND + 0.1)
    assert recording.silent(muted, unmuted), f"sound while muted: {recording.levels(muted, unmuted)}"
    onset = first_sound(recording, unmuted)
    assert HIGH_PITCH[0] < recording.dominant_frequency(onset, onset + 0.4) < HIGH_PITCH[1]
    assert recording.silent(muted_again + STOPS_WITHIN), (
        f"muting did not stop it: {recording.levels(muted_again)}"
    )
    assert player.muted
    assert not loop_on(player)


def test_the_volume_scales_the_sound(player: SoundPlayer, pulse_audio: PulseAudio, qtbot: QtBot) -> None:
    with pulse_audio.record() as recording:
        loud = recording.now()
        player.set_volume(0.8)
        player.play_low()
        wait_recorded(qtbot, recording, loud + 1.2)
        soft = recording.now()
        player.set_volume(0.2)
        player.play_low()
        wait_recorded(qtbot, recording, soft + 1.2)
    loud_level = recording.peak_level(loud, soft)
    soft_level = recording.peak_level(soft)
    assert soft_level > 300, "the soft sound did not play"
    assert 3.0 < loud_level / soft_level < 5.3, (loud_level, soft_level)  # linear: 0.8 / 0.2 = 4
    assert player.volume == 0.2


def test_the_policys_commands_pass_straight_through(
    player: SoundPlayer, pulse_audio: PulseAudio, qtbot: QtBot
) -> None:
    policy = AlertPolicy(ME, AlertSettings())
    quiet, loud = low(1), view(2)
    with pulse_audio.record() as recording:
        low_at = recording.now()
        commands = policy.update([quiet], T0)
        assert PlayLowSound() in commands
        player.run(commands)  # the Show is not the player's
        wait_recorded(qtbot, recording, low_at + 1.1)
        high_at = recording.now()
        commands = policy.update([loud], T0)
        assert StartHighSound() in commands
        player.run(commands)
        assert loop_on(player)
        wait_recorded(qtbot, recording, high_at + 1.1)
        ack_at = recording.now()
        commands = policy.update([acknowledged(loud)], T0)
        assert StopHighSound() in commands
        player.run([*commands, Close("elsewhere")])
        assert not loop_on(player)
        wait_recorded(qtbot, recording, ack_at + STOPS_WITHIN + ROUND + 0.1)
    low_onset = first_sound(recording, low_at)
    assert LOW_PITCH[0] < recording.dominant_frequency(low_onset, low_onset + 0.9) < LOW_PITCH[1]
    high_onset = first_sound(recording, high_at)
    assert HIGH_PITCH[0] < recording.dominant_frequency(high_onset, high_onset + 0.4) < HIGH_PITCH[1]
    assert recording.silent(ack_at + STOPS_WITHIN)


def test_the_test_sound_plays_one_round_even_when_muted(
    player: SoundPlayer, pulse_audio: PulseAudio, qtbot: QtBot
) -> None:
    player.set_muted(True)
    with pulse_audio.record() as recording:
        started = recording.now()
        player.test_sound(Urgency.HIGH)
        wait_recorded(qtbot, recording, started + 2.0)
    onset = first_sound(recording, started)
    assert HIGH_PITCH[0] < recording.dominant_frequency(onset, onset + 0.4) < HIGH_PITCH[1]
    assert recording.silent(onset + 0.8), f"it looped: {recording.levels(onset)}"
    assert recording.duration >= onset + 0.8 + ROUND
    assert not loop_on(player)


def test_a_missing_sound_file_is_reported_once_and_never_raised(
    pulse_audio: PulseAudio, qtbot: QtBot, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    absent = tmp_path / "absent.wav"
    player = SoundPlayer(high=absent)
    assert player.last_problem is None  # reported when it is to play, to whoever listens by then
    caplog.set_level(logging.WARNING, logger="console.notify.player")
    with qtbot.waitSignal(player.problem, timeout=1000) as blocker:
        player.start_high()  # never raises
    assert blocker.args is not None
    assert "missing" in blocker.args[0]
    assert str(absent) in blocker.args[0]
    assert not loop_on(player)
    with qtbot.assertNotEmitted(player.problem, wait=100):
        player.start_high()
        player.test_sound(Urgency.HIGH)
    assert [r.getMessage() for r in caplog.records] == [blocker.args[0]]
    assert player.last_problem == blocker.args[0]
    with qtbot.assertNotEmitted(player.problem, wait=300):
        player.play_low()  # the other sound is there, and plays
    player.deleteLater()


@pytest.mark.qt_log_ignore("QSoundEffect")  # Qt's own warning about the file it cannot decode
def test_a_damaged_sound_file_is_reported_not_raised(
    pulse_audio: PulseAudio, qtbot: QtBot, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    damaged = tmp_path / "high.wav"
    damaged.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really a sound")
    caplog.set_level(logging.WARNING, logger="console.notify.player")
    # Qt may find the file damaged while the player is made, before anyone listens to `problem`
    # (a window made later reads `last_problem`), or only when the sound is to play.
    player = SoundPlayer(high=damaged)
    player.start_high()  # never raises
    qtbot.waitUntil(lambda: player.last_problem is not None, timeout=5000)
    assert player.last_problem is not None
    assert "high.wav" in player.last_problem
    assert "damaged" in player.last_problem
    qtbot.waitUntil(lambda: not player.high_playing, timeout=1000)
    with qtbot.assertNotEmitted(player.problem, wait=100):
        player.start_high()  # said once
    assert [r.getMessage() for r in caplog.records] == [player.last_problem]
    player.deleteLater()


def test_without_an_audio_server_the_player_reports_it_once_and_carries_on(tmp_path: Path) -> None:
    # its own process: Qt looks for the audio server once per process, and this one has ours
    code = (
        "import json, logging, sys\n"
        "from PySide6.QtCore import QCoreApplication, QTimer\n"
        "from console.notify.player import SoundPlayer\n"
        "from console.notify.policy import StartHighSound, PlayLowSound, Urgency\n"
        "logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format='LOG %(message)s')\n"
        "app = QCoreApplication([])\n"
        "problems = []\n"
        "player = SoundPlayer()\n"
        "player.problem.connect(problems.append)\n"
        "player.run([StartHighSound(), PlayLowSound()])\n"
        "QTimer.singleShot(300, lambda: (player.run([StartHighSound(), PlayLowSound()]),"
        " player.test_sound(Urgency.LOW), player.set_muted(True), player.set_muted(False)))\n"
        "QTimer.singleShot(600, app.quit)\n"
        "app.exec()\n"
        "print('RESULT ' + json.dumps({'problems': problems, 'high_playing': player.high_playing}))\n"
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PULSE_", "PIPEWIRE_")) and key not in ("DISPLAY", "WAYLAND_DISPLAY")
    }
    env.update(
        PULSE_SERVER=f"unix:{tmp_path / 'no-server'}",
        PULSE_COOKIE=str(tmp_path / "cookie"),  # libpulse would otherwise write one into the real HOME
        QT_AUDIO_BACKEND="pulseaudio",
        QT_QPA_PLATFORM="offscreen",
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    result = json.loads(next(line for line in lines if line.startswith("RESULT "))[len("RESULT ") :])
    assert result == {"problems": [NO_OUTPUT], "high_playing": False}
    assert [line for line in lines if line.startswith("LOG ")] == [f"LOG {NO_OUTPUT}"]  # logged once


def test_the_volume_is_clamped_and_nan_refused(pulse_audio: PulseAudio) -> None:
    player = SoundPlayer(volume=1.7)
    assert player.volume == 1.0
    player.set_volume(-0.5)
    assert player.volume == 0.0
    with pytest.raises(ValueError, match="NaN"):
        player.set_volume(float("nan"))
    player.deleteLater()
