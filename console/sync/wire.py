"""The sync protocol's constants, without its message models (console.sync.protocol): the console
needs only these, and pydantic was a sixth of a second of every console start."""

from __future__ import annotations

SCHEMA_VERSION = 3  # of the replica's shape and the ops a console sends (2: on-call, 3: runbooks)
OLDEST_SCHEMA = 1  # the oldest a server still takes
SCHEMA_HEADER = "X-Responder-Schema"
MAX_PUSH = 500  # ops in one push
DEFAULT_PULL = 10_000  # rows in one pull page
MAX_PULL = 50_000

# Replicated tables, in the order a pull page lists them (also the tie-break of the cursor).
TABLES = (
    "services",
    "users",
    "incidents",
    "alerts",
    "timeline",
    "schedules",
    "overrides",
    "escalation_policies",
    "pages",
    "runbooks",
    "runs",
    "run_ops",
)
TOMBSTONES = "tombstones"  # rows deleted on the server: [entity, id] pairs
