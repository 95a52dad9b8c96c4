"""What a person sets in the settings dialog, kept as JSON in the data dir (so `--data-dir` isolates
it too). Where the server is and who signs in are the session's (see console.session); they are
shown in the dialog, not stored here."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, replace
from datetime import time
from pathlib import Path
from typing import Any

from console.notify.policy import in_quiet_hours

log = logging.getLogger(__name__)

FILE = "preferences.json"
DEFAULT_RESPONSES = (
    "Investigating.",
    "Identified the cause; working on a fix.",
    "Mitigated, monitoring.",
    "Resolved: no further action.",
    "Escalating to the owning team.",
)


@dataclass(frozen=True, slots=True)
class Preferences:
    volume: int = 80  # percent, for the alert sounds
    muted: bool = False
    quiet_from: time | None = None  # low priority stays silent between these (local time)
    quiet_until: time | None = None
    responses: tuple[str, ...] = field(default=DEFAULT_RESPONSES)
    renotify_minutes: int = 5  # a high-priority notification comes again this often while unacknowledged

    def quiet_at(self, now: time) -> bool:
        """Whether `now` falls in the quiet hours (which may span midnight)."""
        return in_quiet_hours(self.quiet_from, self.quiet_until, now)


def load(data_dir: Path) -> Preferences:
    """The saved preferences; defaults for anything missing or unreadable (said in the log)."""
    path = data_dir / FILE
    try:
        given: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Preferences()
    except (OSError, ValueError) as exc:
        log.warning("preferences in %s unreadable (%s): using defaults", path, exc)
        return Preferences()
    defaults = Preferences()
    try:
        responses = tuple(
            str(r).strip() for r in given.get("responses", defaults.responses) if str(r).strip()
        )
        return replace(
            defaults,
            volume=max(0, min(100, int(given.get("volume", defaults.volume)))),
            muted=bool(given.get("muted", defaults.muted)),
            quiet_from=_time(given.get("quiet_from")),
            quiet_until=_time(given.get("quiet_until")),
            renotify_minutes=max(0, min(120, int(given.get("renotify_minutes", defaults.renotify_minutes)))),
            responses=responses or defaults.responses,
        )
    except (TypeError, ValueError) as exc:
        log.warning("preferences in %s partly invalid (%s): using defaults", path, exc)
        return defaults


def save(data_dir: Path, preferences: Preferences) -> None:
    """Written to a temporary file and renamed over the old one: a crash never leaves half a file."""
    data = asdict(preferences)
    data["quiet_from"] = preferences.quiet_from.isoformat("minutes") if preferences.quiet_from else None
    data["quiet_until"] = preferences.quiet_until.isoformat("minutes") if preferences.quiet_until else None
    data["responses"] = list(preferences.responses)
    data_dir.mkdir(parents=True, exist_ok=True)
    temporary = data_dir / f".{FILE}.tmp"
    temporary.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(temporary, data_dir / FILE)


def _time(value: Any) -> time | None:
    return time.fromisoformat(value) if isinstance(value, str) and value else None
