"""The console's command line over its replica and outbox: the same ops the window makes, one local
transaction each, so they work offline; `sync` pushes and pulls once; `login` sets a data dir up."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from console.domain.errors import DomainError
from console.domain.ops import OpType
from console.domain.views import IncidentView
from console.store.replica import Replica
from console.sync.client import Offline, SyncClient
from console.sync.credentials import TokenStore
from console.sync.engine import SyncEngine, SyncReport

NOT_LOGGED_IN = "This console is not logged in to a server: run `python main.py login --server URL` first."


class CommandError(DomainError):
    """Printed as `error: …` with exit status 1."""


def login(data_dir: Path, server: str, token_input: TextIO = sys.stdin) -> str:
    """Check the token read from `token_input` against `server`, store it in the keyring and remember
    the server. Returns the user name."""
    token = token_input.readline().strip()
    if not token:
        raise CommandError(
            "No token on standard input (pipe it in, e.g. `echo $TOKEN | python main.py login …`)."
        )
    store = TokenStore()
    store.check()  # before anything else: no secure store, no login
    replica = Replica.in_dir(data_dir)
    try:
        client_id = replica.state().client_id

        async def check() -> str:
            client = SyncClient(server, token, client_id)
            try:
                return str((await client.whoami())["user"])
            finally:
                await client.aclose()

        user = asyncio.run(check())
        store.save(client_id, token)
        replica.set_server(server.rstrip("/"), user)
    finally:
        replica.close()
    return user


def open_replica(data_dir: Path) -> Replica:
    return Replica.in_dir(data_dir)


def sync(data_dir: Path) -> SyncReport:
    replica = Replica.in_dir(data_dir)
    try:
        state = replica.state()
        if not state.server_url:
            raise CommandError(NOT_LOGGED_IN)
        token = TokenStore().load(state.client_id)
        if token is None:
            raise CommandError(f"No token for this console in the keyring. {NOT_LOGGED_IN}")

        async def once() -> SyncReport:
            client = SyncClient(state.server_url, token, state.client_id)
            try:
                return await SyncEngine(replica, client).sync_once()
            finally:
                await client.aclose()

        try:
            return asyncio.run(once())
        except Offline as exc:
            pending = replica.pending_count()
            raise Offline(f"{exc} Working offline: {pending} change(s) will sync when it is back.") from exc
    finally:
        replica.close()


def act(data_dir: Path, kind: OpType, given_id: str, args: dict[str, object] | None = None) -> str:
    replica = Replica.in_dir(data_dir)
    try:
        incident_id = replica.find(given_id)
        replica.act(kind, incident_id, args)
        return incident_id
    finally:
        replica.close()


def report(data_dir: Path, title: str, service: str, priority: str, category: str, description: str) -> str:
    replica = Replica.in_dir(data_dir)
    try:
        return replica.report(
            title, service, priority=priority, category=category, description=description
        ).entity_id
    finally:
        replica.close()


def short_ids(ids: Sequence[str], minimum: int = 8) -> dict[str, str]:
    """The shortest prefix of each id (at least `minimum` characters) that no other id shares."""
    ordered = sorted(ids)
    out: dict[str, str] = {}
    for n, incident_id in enumerate(ordered):
        length = minimum
        for other in (ordered[n - 1] if n else "", ordered[n + 1] if n + 1 < len(ordered) else ""):
            common = 0
            for a, b in zip(incident_id, other, strict=False):
                if a != b:
                    break
                common += 1
            length = max(length, common + 1)
        out[incident_id] = incident_id[:length]
    return out


def format_incidents(views: Sequence[IncidentView]) -> list[str]:
    shorts = short_ids([v.id for v in views])
    lines = []
    for view in views:
        incident = view.incident
        number = f"#{incident.number}" if incident.number else "#new"
        mark = f"  [{view.unsynced} unsynced]" if view.unsynced else ""
        lines.append(
            f"{number:>6}  {shorts[view.id]:<13}  {incident.status.rank.label:<12}  "
            f"{incident.priority.value:<4}  {view.service:<16}  {incident.title}{mark}"
        )
    return lines


def format_report(report: SyncReport) -> list[str]:
    lines = [
        f"pushed: {report.applied} applied, {report.noop} without effect, {len(report.rejected)} rejected"
    ]
    lines += [
        f"  rejected {kind} on {incident_id}: {reason}" for kind, incident_id, reason in report.rejected
    ]
    lines.append(f"pulled: {report.pulled} rows" + (" (new snapshot)" if report.snapshots else ""))
    lines.append(f"pending: {report.pending}")
    return lines
