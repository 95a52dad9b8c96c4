"""Which incidents changed in the replica since a reader last looked, so that the window re-reads
those few instead of folding 100,000 incidents again on every sync round."""

from __future__ import annotations

import threading
from collections.abc import Iterable

# Past this many changed incidents a reader re-reads everything: one full read is then cheaper
# than asking for the ids one by one (a first sync, a snapshot after a 410).
MAX_TRACKED = 5000


class ChangeWatch:
    """Incident ids changed since the last take(). Writers mark from any thread, after their
    transaction committed; one reader takes. The first take() says everything: the reader has
    read nothing yet."""

    def __init__(self, max_tracked: int = MAX_TRACKED) -> None:
        self._lock = threading.Lock()
        self._ids: set[str] | None = None
        self._max = max_tracked

    def mark(self, incident_ids: Iterable[str]) -> None:
        with self._lock:
            if self._ids is None:
                return
            self._ids.update(incident_ids)
            if len(self._ids) > self._max:
                self._ids = None

    def mark_all(self) -> None:
        with self._lock:
            self._ids = None

    def take(self) -> set[str] | None:
        """The ids changed since the last take (None: everything may have), and start afresh."""
        with self._lock:
            taken, self._ids = self._ids, set()
        return taken
