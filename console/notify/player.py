"""The alert sounds, played with QtMultimedia's QSoundEffect (low latency, uncompressed WAV).

`SoundPlayer` carries out the alert policy's sound commands (console.notify.policy): the high sound
loops from StartHighSound until StopHighSound, the low sound plays once on PlayLowSound. Pass the
policy's output straight to `run`; it ignores the notification commands.

Muting silences everything at once; the high loop the policy still wants resumes on unmuting. The
settings dialog's "test sound" button calls `test_sound`, which plays a sound once even while muted
(the person asked to hear it).

Audio failures never raise: no audio server or device, a sound file missing or unreadable. Each
distinct one is logged once and reported through the `problem` signal, in words a responder
understands, so the window can say "alert sounds unavailable" and lean on the visual alert.

Use it on the thread it lives on (the GUI thread): Alerting hands it the commands on the event loop.

QtMultimedia looks for its audio server (PipeWire, else PulseAudio) once per process, the first time
an audio object is made, and never again (checked, PySide6 6.11): a server started later stays
unused until the console restarts.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtMultimedia import QMediaDevices, QSoundEffect

from console.notify.policy import PlayLowSound, StartHighSound, StopHighSound, Urgency
from console.notify.sounds import HIGH_SOUND, LOW_SOUND

log = logging.getLogger(__name__)

# QSoundEffect.setLoopCount rejects the enum member itself (TypeError): it takes the plain int -2
INFINITE = QSoundEffect.Loop.Infinite.value

NO_OUTPUT = (
    "No audio output: alert sounds cannot play (no PulseAudio or PipeWire server, or no output device)."
    " Alerts still show on screen."
)


class _Sound:
    """One sound file and the effect that plays it; `missing` says why it cannot load, if so."""

    def __init__(self, path: Path, effect: QSoundEffect) -> None:
        self.path = path
        self.effect = effect
        self.missing = not path.is_file()

    @property
    def broken(self) -> bool:
        return self.missing or self.effect.status() is QSoundEffect.Status.Error


class SoundPlayer(QObject):
    """Plays the high sound in a loop and the low sound once, on the default audio output."""

    problem = Signal(str)  # an audio failure, in words for the status bar; each one is sent once

    def __init__(
        self,
        high: Path = HIGH_SOUND,
        low: Path = LOW_SOUND,
        *,
        volume: float = 0.8,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._volume = _checked_volume(volume)
        self._muted = False
        self._high_wanted = False  # between start_high and stop_high, muted or not
        self._reported: set[str] = set()
        self._last_problem: str | None = None
        self._high = self._sound(high)
        self._low = self._sound(low)

    def _sound(self, path: Path) -> _Sound:
        effect = QSoundEffect(self)
        sound = _Sound(path, effect)
        effect.setVolume(self._volume)
        effect.statusChanged.connect(lambda: self._status_changed(sound))
        if not sound.missing:  # a missing file would only earn a Qt warning and the Error status
            effect.setSource(QUrl.fromLocalFile(str(path)))
        return sound

    # --- state --------------------------------------------------------------------------------

    @property
    def high_playing(self) -> bool:
        """Whether the high loop is on: started, not stopped, not muted, and playable."""
        return self._high_wanted and not self._muted and not self._high.broken

    @property
    def ready(self) -> bool:
        """Whether both sounds are loaded and play without delay."""
        return all(s.effect.status() is QSoundEffect.Status.Ready for s in (self._high, self._low))

    @property
    def muted(self) -> bool:
        return self._muted

    @property
    def volume(self) -> float:
        return self._volume

    @property
    def last_problem(self) -> str | None:
        """The latest problem reported (for a window made after it was signalled), or None."""
        return self._last_problem

    # --- commands -----------------------------------------------------------------------------

    def start_high(self) -> None:
        """Loop the high sound until `stop_high` (silently while muted)."""
        self._high_wanted = True
        if not self._muted:
            self._loop_high()

    def stop_high(self) -> None:
        self._high_wanted = False
        self._high.effect.stop()

    def play_low(self) -> None:
        """Play the low sound once (nothing while muted)."""
        if not self._muted:
            self._play_once(self._low)

    def set_volume(self, volume: float) -> None:
        """Set the volume of both sounds: 0 (silent) to 1 (full), linear; outside values are clamped."""
        self._volume = _checked_volume(volume)
        for sound in (self._high, self._low):
            sound.effect.setVolume(self._volume)

    def set_muted(self, muted: bool) -> None:
        """Mute at once (what plays stops), or unmute (resuming the high loop if it is still wanted)."""
        if muted == self._muted:
            return
        self._muted = muted
        if muted:
            self._high.effect.stop()
            self._low.effect.stop()
        elif self._high_wanted:
            self._loop_high()

    def run(self, commands: Iterable[object]) -> None:
        """Carry out the policy's sound commands in order; anything else (Show, Close) is not ours."""
        for command in commands:
            if isinstance(command, StartHighSound):
                self.start_high()
            elif isinstance(command, StopHighSound):
                self.stop_high()
            elif isinstance(command, PlayLowSound):
                self.play_low()

    def test_sound(self, which: Urgency) -> None:
        """Play one sound once for the settings dialog, even while muted.

        The high sound plays one round of its loop; if the loop is already on, it is heard already.
        """
        if which is Urgency.HIGH:
            if not self.high_playing:
                self._play_once(self._high)
        else:
            self._play_once(self._low)

    # --- internals ----------------------------------------------------------------------------

    def _loop_high(self) -> None:
        if self._check(self._high):
            effect = self._high.effect
            effect.setLoopCount(INFINITE)  # a playing effect (a test round) carries on looping
            if not effect.isPlaying():
                effect.play()

    def _play_once(self, sound: _Sound) -> None:
        if self._check(sound):
            sound.effect.setLoopCount(1)
            sound.effect.play()  # from the start, if it was playing

    def _check(self, sound: _Sound) -> bool:
        """Whether the sound can play; if not, report why."""
        if sound.broken:
            self._report(self._describe(sound))
            return False
        return True

    def _status_changed(self, sound: _Sound) -> None:
        if sound.effect.status() is QSoundEffect.Status.Error:
            self._report(self._describe(sound))

    def _describe(self, sound: _Sound) -> str:
        if sound.missing:
            return f"Alert sound file missing: {sound.path}. That alert plays no sound."
        if not QMediaDevices.audioOutputs():
            return NO_OUTPUT
        device = sound.effect.audioDevice().description() or "the default audio output"
        return (
            f"Cannot play the alert sound {sound.path.name} on {device}: the file is damaged or"
            " in a format the output does not take. That alert plays no sound."
        )

    def _report(self, message: str) -> None:
        if message in self._reported:
            return
        self._reported.add(message)
        self._last_problem = message
        log.warning("%s", message)
        self.problem.emit(message)


def _checked_volume(volume: float) -> float:
    if math.isnan(volume):
        raise ValueError("volume must be a number from 0 to 1, not NaN")
    return min(max(float(volume), 0.0), 1.0)
