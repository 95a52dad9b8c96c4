"""Command line: the console (default), `serve`, and `admin` commands."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from console import settings as settings_module
from console.domain.errors import DomainError, KnownFailure
from console.domain.ops import OpType
from console.server.stall_watch import DEFAULT_THRESHOLD as STALL_THRESHOLD


def _common(*, in_subcommand: bool) -> argparse.ArgumentParser:
    # A subcommand's defaults would overwrite what was given before it, so there they are suppressed.
    default = argparse.SUPPRESS if in_subcommand else None
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        metavar="DIR",
        default=default,
        help="keep everything in DIR (default: the user data dir)",
    )
    common.add_argument(
        "--db", metavar="URL", default=default, help="server database URL (default: SQLite in the data dir)"
    )
    return common


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python main.py",
        description="Responder Console: offline-first incident response.",
        parents=[_common(in_subcommand=False)],
    )
    parser.add_argument("--server", metavar="URL", help="use this team server (default: the embedded one)")
    parser.add_argument("--demo", action="store_true", help="feed the embedded server sample alerts")
    parser.add_argument("--screenshot", type=Path, metavar="PNG", help="save the window to PNG, then quit")
    parser.add_argument(
        "--screenshot-after", type=float, default=20.0, metavar="SECONDS", help="when to take it (default 20)"
    )
    parser.add_argument(
        "--screenshot-page", default="Incidents", metavar="TITLE", help="the page in it (e.g. 'On call')"
    )
    common = _common(in_subcommand=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", parents=[common], help="run the server headless, for a team")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8765)")
    serve.add_argument(
        "--workers",
        type=int,
        help="server processes sharing the port and the database (default 1)",
    )
    serve.add_argument(
        "--tls-cert", type=Path, metavar="FILE", help="serve HTTPS with this certificate (PEM)"
    )
    serve.add_argument("--tls-key", type=Path, metavar="FILE", help="the certificate's private key (PEM)")
    serve.add_argument(
        "--log-stalls",
        type=float,
        default=STALL_THRESHOLD * 1000,
        metavar="MS",
        help="log each event-loop stall (with where the loop was) and each group commit of at least MS ms"
        f" (default {STALL_THRESHOLD * 1000:.0f}; 0: off)",
    )

    admin = commands.add_parser("admin", help="manage services and users")
    admin_commands = admin.add_subparsers(dest="admin_command", metavar="ACTION", required=True)
    add_service = admin_commands.add_parser(
        "add-service", parents=[common], help="create a service; prints its integration (routing) key"
    )
    add_service.add_argument("name")
    add_service.add_argument("--parent", metavar="NAME", help="the service this one depends on")
    add_user = admin_commands.add_parser(
        "add-user", parents=[common], help="create a user; prints the API token"
    )
    add_user.add_argument("name")
    add_user.add_argument("--role", default="responder", choices=["responder", "manager", "admin", "viewer"])
    remove_user = admin_commands.add_parser(
        "remove-user", parents=[common], help="delete a user and their token"
    )
    remove_user.add_argument("name")
    compact = admin_commands.add_parser(
        "compact", parents=[common], help="forget deletions older than --keep-days (consoles older re-sync)"
    )
    compact.add_argument("--keep-days", type=float, default=30.0, metavar="N")
    apply = admin_commands.add_parser(
        "apply",
        parents=[common],
        help="declare users, services, schedules and escalation policies from a TOML file (idempotent)",
    )
    apply.add_argument("file", type=Path, metavar="FILE.toml")
    apply.add_argument("--dry-run", action="store_true", help="print what would change; change nothing")
    apply.add_argument(
        "--prune", action="store_true", help="also remove users and services the file does not name"
    )

    for name, text in (
        ("import-runbooks", "store every runbook (Markdown file) of DIR; a bad file refuses them all"),
        ("export-runbooks", "write every stored runbook to DIR/ID.md, as import-runbooks reads them"),
    ):
        runbooks = admin_commands.add_parser(name, parents=[common], help=text)
        runbooks.add_argument("dir", type=Path, metavar="DIR")

    oncall = commands.add_parser(
        "oncall",
        parents=[common],
        help="who is on call: every schedule, or just the person for SCHEDULE (works offline)",
    )
    oncall.add_argument("schedule", nargs="?", metavar="SCHEDULE")
    oncall.add_argument(
        "--at", metavar="ISO-8601", help="at this instant instead of now (no offset: local time)"
    )

    wall = commands.add_parser(
        "wall", parents=[common], help="the NOC wall view, full screen; read-only unless --allow-acknowledge"
    )
    wall.add_argument(
        "--screen", type=int, default=0, metavar="N", help="which screen (default 0, the first)"
    )
    wall.add_argument("--server", metavar="URL", help="use this team server (default: the embedded one)")
    wall.add_argument(
        "--allow-acknowledge",
        action="store_true",
        help="Ctrl+Shift+A acknowledges the first waiting incident (needs a responder's token)",
    )
    wall.add_argument("--screenshot", type=Path, metavar="PNG", help="save the wall to PNG, then quit")
    wall.add_argument("--screenshot-after", type=float, default=20.0, metavar="SECONDS")

    # The console's own commands, over its replica and outbox: they work offline.
    login = commands.add_parser(
        "login", parents=[common], help="log this console in to a server; reads the user token from stdin"
    )
    login.add_argument(
        "--server", required=True, metavar="URL", help="the server, e.g. https://oncall.example:8765"
    )
    listing = commands.add_parser("incidents", parents=[common], help="list incidents from the local replica")
    listing.add_argument("--status", metavar="S", help="comma-separated statuses, or 'open'")
    listing.add_argument("--search", metavar="TEXT", default="", help="only titles containing TEXT")
    for name, text in (("ack", "acknowledge"), ("resolve", "resolve"), ("reopen", "reopen")):
        command = commands.add_parser(name, parents=[common], help=f"{text} an incident (works offline)")
        command.add_argument("id", help="incident id, a unique prefix of it, or its number")
    note = commands.add_parser("note", parents=[common], help="add a note to an incident (works offline)")
    note.add_argument("id", help="incident id, a unique prefix of it, or its number")
    note.add_argument("text")
    new = commands.add_parser("report", parents=[common], help="report a new incident (works offline)")
    new.add_argument("title")
    new.add_argument("--service", required=True, metavar="S", help="service name")
    new.add_argument("--priority", choices=["high", "low"], default="high")
    new.add_argument("--category", default="", help="e.g. network, database, security")
    new.add_argument("--description", default="")
    commands.add_parser("sync", parents=[common], help="push local changes and pull the server's, once")
    return parser


_OPS = {"ack": OpType.ACKNOWLEDGE, "resolve": OpType.RESOLVE, "reopen": OpType.REOPEN}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "admin":
        return _admin(args)
    if args.command == "wall":
        from console import app

        return app.run_wall(
            data_dir=args.data_dir,
            db_url=args.db,
            server_url=args.server,
            screen=args.screen,
            allow_acknowledge=args.allow_acknowledge,
            screenshot=args.screenshot,
            screenshot_after=args.screenshot_after,
        )
    if args.command == "oncall":
        from console import oncall_command

        return oncall_command.run(args.data_dir, args.db, args.schedule, args.at)
    if args.command in _CONSOLE_COMMANDS:
        return _console_command(args)
    from console import app

    return app.run(
        data_dir=args.data_dir,
        db_url=args.db,
        server_url=args.server,
        demo=args.demo,
        screenshot=args.screenshot,
        screenshot_after=args.screenshot_after,
        screenshot_page=args.screenshot_page,
    )


def _serve(args: argparse.Namespace) -> int:
    from console import logs
    from console.server.runner import ServeOptions, serve

    if (args.tls_cert is None) != (args.tls_key is None):
        print("error: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    for path in (args.tls_cert, args.tls_key):
        if path is not None and not path.is_file():
            print(f"error: {path} is not a file", file=sys.stderr)
            return 2
    settings = settings_module.load(
        data_dir=args.data_dir, db_url=args.db, host=args.host, port=args.port, workers=args.workers
    )
    log_file = logs.configure(settings.data_dir)
    workers = max(settings.workers, 1)
    options = ServeOptions(
        settings.server_db_url,
        settings.host,
        settings.port,
        args.tls_cert,
        args.tls_key,
        workers,
        settings.data_dir,
        args.log_stalls / 1000,
    )
    logging.getLogger(__name__).info(
        "serving on %s://%s:%d with %d worker(s) (log: %s)",
        options.scheme,
        options.host,
        options.port,
        workers,
        log_file,
    )
    serve(options)
    return 0


def _admin(args: argparse.Namespace) -> int:
    from console import logs
    from console.server import admin
    from console.server.database import migrate, open_engine

    settings = settings_module.load(data_dir=args.data_dir, db_url=args.db)
    logs.configure(settings.data_dir, level=logging.WARNING, to_stderr=False)
    engine = open_engine(settings.server_db_url, writer=True)
    try:
        migrate(engine)
        if args.admin_command == "add-service":
            secret = admin.add_service(engine, args.name, parent=args.parent)
        elif args.admin_command == "add-user":
            secret = admin.add_user(engine, args.name, role=args.role)
        elif args.admin_command == "apply":
            return _apply(engine, args.file, dry_run=args.dry_run, prune=args.prune)
        elif args.admin_command in ("import-runbooks", "export-runbooks"):
            from console import runbook_command

            if args.admin_command == "import-runbooks":
                return runbook_command.import_dir(engine, args.dir)
            return runbook_command.export_dir(engine, args.dir)
        elif args.admin_command == "remove-user":
            admin.remove_user(engine, args.name)
            return 0
        else:
            horizon = admin.compact(engine, keep=timedelta(days=args.keep_days))
            print(f"compacted: consoles that last synced before change {horizon} will take a new snapshot")
            return 0
    except DomainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(secret)
    return 0


def _apply(engine: Any, file: Path, *, dry_run: bool, prune: bool) -> int:
    from console import config_file
    from console.server import oncall

    try:
        config = config_file.load(file)
    except config_file.ConfigError as exc:
        print(f"error: {file} was not applied; nothing changed:\n{exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot read {file}: {exc.strerror}", file=sys.stderr)
        return 1
    if dry_run:
        with engine.connect() as conn:
            print(config_file.describe(oncall.planned_changes(conn, config, prune=prune)))
        return 0
    applied = oncall.apply_config(engine, config, prune=prune)
    print(config_file.describe(applied.changes))
    if applied.tokens:
        print("\nNew users' API tokens (shown only now; each person logs in with theirs):")
        for name, token in sorted(applied.tokens.items()):
            print(f"{name} {token}")
    if applied.keys:
        print("\nNew services' integration (routing) keys, for monitoring to send alerts with:")
        for name, key in sorted(applied.keys.items()):
            print(f"{name} {key}")
    return 0


_CONSOLE_COMMANDS = {"login", "incidents", "ack", "resolve", "reopen", "note", "report", "sync"}


def _console_command(args: argparse.Namespace) -> int:
    from console import commands, logs

    data_dir = settings_module.load(data_dir=args.data_dir).data_dir
    logs.configure(data_dir, level=logging.WARNING, to_stderr=False)
    try:
        if args.command == "login":
            user = commands.login(data_dir, args.server)
            print(f"Logged in to {args.server} as {user}.")
        elif args.command == "incidents":
            statuses = None
            if args.status:
                statuses = {s.strip() for s in args.status.split(",") if s.strip()}
                if "open" in statuses:
                    statuses = (statuses - {"open"}) | {"triggered", "acknowledged"}
            replica = commands.open_replica(data_dir)
            try:
                for line in commands.format_incidents(replica.incidents(statuses=statuses, text=args.search)):
                    print(line)
            finally:
                replica.close()
        elif args.command in _OPS:
            commands.act(data_dir, _OPS[args.command], args.id)
        elif args.command == "note":
            commands.act(data_dir, OpType.NOTE, args.id, {"text": args.text})
        elif args.command == "report":
            print(
                commands.report(
                    data_dir, args.title, args.service, args.priority, args.category, args.description
                )
            )
        elif args.command == "sync":
            report = commands.sync(data_dir)
            for line in commands.format_report(report):
                print(line)
    except (DomainError, KnownFailure) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
