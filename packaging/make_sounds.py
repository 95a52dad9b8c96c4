"""Make the two alert sounds in resources/sounds/ (standard library only, same bytes every run).

    python packaging/make_sounds.py [OUTPUT_DIR]

- high.wav: urgent, played in a loop until acknowledged: three fast 1568 Hz beeps (G6, with a
  quieter octave above for bite), then a pause, so the loop reads as beep-beep-beep ... beep-beep-beep.
- low.wav: played once: a soft two-tone chime, 587 Hz then 440 Hz (D5, A4), each note decaying.

Both are 16-bit PCM mono at 44.1 kHz. Every note starts and ends on a short raised-cosine fade, so
there is no click at note edges nor at the loop point (the files start and end on silence).
"""

from __future__ import annotations

import math
import struct
import sys
import wave
from collections.abc import Callable
from pathlib import Path

RATE = 44_100
FADE = 0.005  # seconds of raised-cosine fade at each note edge
OUTPUT = Path(__file__).resolve().parent.parent / "resources" / "sounds"


def _fade(t: float, length: float) -> float:
    """Gain at time t into a note of `length` seconds: 0 → 1 → 0 over FADE at both edges."""
    edge = min(t, length - t)
    if edge >= FADE:
        return 1.0
    return 0.5 - 0.5 * math.cos(math.pi * max(edge, 0.0) / FADE)


def _note(
    samples: list[float],
    start: float,
    length: float,
    partials: list[tuple[float, float]],
    envelope: Callable[[float], float] = lambda t: 1.0,
) -> None:
    """Add a note of sine partials (frequency, amplitude) at `start` seconds into `samples`."""
    first = round(start * RATE)
    for n in range(round(length * RATE)):
        t = n / RATE
        value = sum(a * math.sin(2 * math.pi * f * t) for f, a in partials)
        samples[first + n] += value * envelope(t) * _fade(t, length)


def high() -> list[float]:
    """Three 90 ms beeps, 60 ms apart, then a pause: 1.0 s in all."""
    samples = [0.0] * RATE
    for beep in range(3):
        _note(samples, 0.15 * beep, 0.09, [(1568.0, 0.55), (3136.0, 0.12)])
    return samples


def low() -> list[float]:
    """Two soft decaying notes, a falling fourth: 0.9 s in all."""
    samples = [0.0] * round(0.9 * RATE)

    def decay(t: float) -> float:
        return math.exp(-t * 6.0)

    _note(samples, 0.0, 0.28, [(587.33, 0.30), (1174.66, 0.03)], decay)
    _note(samples, 0.32, 0.55, [(440.0, 0.30), (880.0, 0.03)], decay)
    return samples


def pcm16(samples: list[float]) -> bytes:
    return b"".join(struct.pack("<h", max(-32767, min(32767, round(s * 32767)))) for s in samples)


def write(path: Path, samples: list[float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm16(samples))


def main(argv: list[str]) -> int:
    output = Path(argv[1]) if len(argv) > 1 else OUTPUT
    write(output / "high.wav", high())
    write(output / "low.wav", low())
    print(f"wrote {output / 'high.wav'} and {output / 'low.wav'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
