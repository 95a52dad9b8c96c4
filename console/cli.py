"""Command line: the console (default), `serve`, and `admin` commands."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from console import settings as settings_module
from console.domain.errors import DomainError


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "admin":
        return _admin(args)
    from console import app

    return app.run(data_dir=args.data_dir, db_url=args.db)


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
        else:
            secret = admin.add_user(engine, args.name, role=args.role)
    except DomainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(secret)
    return 0
