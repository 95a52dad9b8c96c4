"""The two alert sounds: made reproducibly, and different in pitch and in rhythm."""

from __future__ import annotations

import array
import itertools
import math
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from console.notify.sounds import HIGH_SOUND, LOW_SOUND, SOUND_DIR, missing_sounds

SCRIPT = Path(__file__).resolve().parents[2] / "packaging" / "make_sounds.py"


def samples(path: Path) -> tuple[int, list[int]]:
    with wave.open(str(path), "rb") as sound:
        assert (sound.getnchannels(), sound.getsampwidth(), sound.getcomptype()) == (1, 2, "NONE")
        rate = sound.getframerate()
        frames = array.array("h", sound.readframes(sound.getnframes()))
    if sys.byteorder == "big":
        frames.byteswap()
    return rate, frames.tolist()


def goertzel_power(chunk: list[int], frequency: float, rate: int) -> float:
    coefficient = 2 * math.cos(2 * math.pi * frequency / rate)
    previous = before = 0.0
    for x in chunk:
        previous, before = x + coefficient * previous - before, previous
    return previous * previous + before * before - coefficient * previous * before


def dominant_frequency(path: Path) -> float:
    """The strongest frequency (20 Hz steps from 100 Hz to 5 kHz) in the loudest 4096 samples."""
    rate, x = samples(path)
    size = 4096
    start = max(range(0, len(x) - size, 512), key=lambda i: sum(v * v for v in x[i : i + size : 8]))
    chunk = x[start : start + size]
    return max(range(100, 5000, 20), key=lambda f: goertzel_power(chunk, f, rate))


def onsets(path: Path) -> int:
    """How many times the 10 ms loudness rises past a tenth of its peak."""
    rate, x = samples(path)
    frame = rate // 100
    levels = [
        math.sqrt(sum(v * v for v in x[i : i + frame]) / frame) for i in range(0, len(x) - frame, frame)
    ]
    threshold = max(levels) / 10
    count, above = 0, False
    for level in levels:
        if level > threshold and not above:
            count += 1
        above = level > threshold
    return count


def test_the_committed_sounds_are_what_the_script_makes(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    for name in ("high.wav", "low.wav"):
        assert (tmp_path / name).read_bytes() == (SOUND_DIR / name).read_bytes(), (
            f"resources/sounds/{name} differs from what packaging/make_sounds.py makes: run it and commit"
        )


@pytest.mark.parametrize("path", [HIGH_SOUND, LOW_SOUND], ids=["high", "low"])
def test_a_sound_is_short_16_bit_mono_and_starts_and_ends_silent(path: Path) -> None:
    rate, x = samples(path)
    assert rate in (44_100, 48_000)
    assert 0.5 <= len(x) / rate <= 1.5
    assert x[0] == x[-1] == 0  # loops without a click
    steepest = max(abs(b - a) for a, b in itertools.pairwise(x))
    assert steepest < 8000, "a jump between samples: a click"
    assert max(abs(v) for v in x) > 8000, "loud enough to hear"


def test_high_and_low_differ_in_pitch() -> None:
    high, low = dominant_frequency(HIGH_SOUND), dominant_frequency(LOW_SOUND)
    assert high > 1000
    assert low < 700
    assert high / low > 2


def test_high_and_low_differ_in_rhythm() -> None:
    assert onsets(HIGH_SOUND) == 3
    assert onsets(LOW_SOUND) == 2


def test_both_sounds_are_there() -> None:
    assert missing_sounds() == []
