"""`python main.py oncall [SCHEDULE] [--at ISO-8601]`: who is on call.

It answers from the server database when this data dir has one (a team server's host, or a console
running the embedded server), else from the console's replica: a responder asks offline too.
With SCHEDULE it prints just the person's name (for scripts: `oncall primary` → `sam`).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from console import settings as settings_module
from console.domain.oncall import OnCallNow, board
from console.domain.schedule import Schedule

NOBODY = "(nobody)"


def run(data_dir: str | None, db_url: str | None, schedule: str | None, at_text: str | None) -> int:
    try:
        at = parse_at(at_text) if at_text else datetime.now(UTC)
    except ValueError:
        print(f"error: --at: not an ISO 8601 date and time: {at_text!r}", file=sys.stderr)
        return 2
    settings = settings_module.load(data_dir=data_dir, db_url=db_url)
    schedules = _schedules(settings.data_dir, settings.server_db_url, server_given=db_url is not None)
    if schedule is not None:
        if schedule not in schedules:
            known = ", ".join(sorted(schedules)) or "none"
            print(f"error: no schedule named {schedule!r} (known: {known})", file=sys.stderr)
            return 1
        [answer] = board([schedules[schedule]], at)
        if answer.user is None:
            print(f"nobody is on call in {schedule} at {_local(at)}", file=sys.stderr)
            return 1
        print(answer.user)
        return 0
    if not schedules:
        print("no schedules: declare them with `python main.py admin apply FILE.toml`", file=sys.stderr)
        return 1
    for line in format_board(board(schedules.values(), at)):
        print(line)
    return 0


def parse_at(text: str) -> datetime:
    """An instant; without an offset it is this machine's local time."""
    value = datetime.fromisoformat(text)
    return value.astimezone(UTC) if value.tzinfo else value.astimezone().astimezone(UTC)


def format_board(answers: list[OnCallNow]) -> list[str]:
    width = max((len(a.schedule) for a in answers), default=0)
    people = max((len(a.user or NOBODY) for a in answers), default=0)
    lines = []
    for answer in answers:
        line = f"{answer.schedule:<{width}}  {answer.user or NOBODY:<{people}}"
        if answer.until is not None:
            line += f"  until {_local(answer.until)}"
        if answer.next_user is not None and answer.next_at is not None:
            line += f"  then {answer.next_user} from {_local(answer.next_at)}"
        lines.append(line.rstrip())
    return lines


def _local(at: datetime) -> str:
    return at.astimezone().strftime("%Y-%m-%d %H:%M %Z")


def _schedules(data_dir: Path, server_db_url: str, *, server_given: bool) -> dict[str, Schedule]:
    if server_given or (data_dir / "server.db").exists():
        from console.server.database import migrate, open_engine
        from console.server.oncall import read_schedules

        engine = open_engine(server_db_url, writer=True)
        try:
            migrate(engine)
            with engine.connect() as conn:
                return read_schedules(conn)
        finally:
            engine.dispose()
    from console.store.replica import Replica

    replica = Replica.in_dir(data_dir)
    try:
        return {s.name: s for s in replica.schedules()}
    finally:
        replica.close()
