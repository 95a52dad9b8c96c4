"""`python main.py admin import-runbooks DIR` and `admin export-runbooks DIR`: runbooks kept as
Markdown files in git (console/runbook_files.py), stored in and read back from the server database.

An import is all or nothing: a bad file, or a runbook changed without a higher version, refuses it
whole with `file:line: message` lines; importing what the database holds already changes nothing.
An export writes DIR/ID.md per runbook, which an import reads back as the same runbooks.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from sqlalchemy import Engine

from console import runbook_files
from console.server.runbooks import ImportRefused, import_runbooks, read_runbooks

_VERSION_LINE = re.compile(r"version\s*:")


def import_dir(engine: Engine, folder: Path) -> int:
    try:
        found = runbook_files.load_dir(folder)
    except runbook_files.RunbookFileError as exc:
        print(f"error: {folder} was not imported; nothing changed:\n{exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot read {folder}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    try:
        imported = import_runbooks(engine, found)
    except ImportRefused as exc:
        where = _version_lines(folder)
        lines = [f"{where.get(runbook_id, str(folder))}: {message}" for runbook_id, message in exc.refusals]
        print(f"error: {folder} was not imported; nothing changed:\n" + "\n".join(lines), file=sys.stderr)
        return 1
    for runbook in imported.added:
        print(f"added {runbook.id} (version {runbook.version}): {runbook.title}")
    for old, runbook in imported.changed:
        print(f"changed {runbook.id}: version {old} → {runbook.version}")
    if not imported.added and not imported.changed:
        print(f"Nothing to change: the server holds these {imported.unchanged} runbook(s) already.")
    elif imported.unchanged:
        print(f"{imported.unchanged} unchanged")
    return 0


def export_dir(engine: Engine, folder: Path) -> int:
    with engine.connect() as conn:
        found = read_runbooks(conn)
    try:
        written = runbook_files.export_dir(found, folder)
    except ValueError as exc:
        print(f"error: nothing was exported: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot write to {folder}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    print(f"exported {len(written)} runbook(s) to {folder}")
    return 0


def _version_lines(folder: Path) -> dict[str, str]:
    """Runbook id → `file:line` of its version (read again only to say where a refusal is)."""
    where: dict[str, str] = {}
    for path in sorted(p for p in folder.rglob("*.md") if p.is_file() and p.name.lower() != "readme.md"):
        try:
            runbook = runbook_files.load(path)
        except (runbook_files.RunbookFileError, OSError):
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        line = next((n for n, text in enumerate(lines, 1) if _VERSION_LINE.match(text)), 1)
        where[runbook.id] = f"{path}:{line}"
    return where
