"""The alert sounds: resources/sounds/{high,low}.wav, made by packaging/make_sounds.py.

high.wav loops while a loud incident is unacknowledged; low.wav plays once. Both are 16-bit PCM
WAV, which QSoundEffect plays without a decoder.
"""

from __future__ import annotations

from pathlib import Path

SOUND_DIR = Path(__file__).resolve().parents[2] / "resources" / "sounds"
HIGH_SOUND = SOUND_DIR / "high.wav"
LOW_SOUND = SOUND_DIR / "low.wav"


def missing_sounds() -> list[Path]:
    """Sound files that are not there (an install without the resources): say so, play nothing."""
    return [path for path in (HIGH_SOUND, LOW_SOUND) if not path.is_file()]
