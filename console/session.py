"""How a console gets its server and its token at start (issue: start-up).

- No server configured: the embedded server runs as a child process on 127.0.0.1 and a free port,
  with its database in the data dir; on first run a local user is made there and its token kept in
  the keyring. The replica remembers the server as "embedded", not by its port, which changes.
- A team server (`--server URL`, or the one `login` remembered): the token comes from the keyring,
  or, the first time, from `ask_token` (the window's dialog), checked with the server first.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from console.domain.errors import KnownFailure
from console.store.replica import Replica
from console.sync.client import TokenRefused
from console.sync.credentials import TokenStore
from console.sync.wire import SCHEMA_HEADER, SCHEMA_VERSION

if TYPE_CHECKING:
    from console.server.process import ServerProcess

EMBEDDED = "embedded"


class LoginCancelled(KnownFailure):
    """The person did not give a token for the team server."""


@dataclass
class Session:
    replica: Replica
    base_url: str
    token: str
    user: str
    server: ServerProcess | None  # the embedded server, if this console runs it

    @property
    def embedded(self) -> bool:
        return self.server is not None

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
        self.replica.close()


def whoami(base_url: str, token: str) -> str:
    """The user name the server knows the token by. Raises TokenRefused, or Offline-like KnownFailure."""
    headers = {"Authorization": f"Bearer {token}", SCHEMA_HEADER: str(SCHEMA_VERSION)}
    try:
        response = httpx.get(f"{base_url.rstrip('/')}/sync/whoami", headers=headers, timeout=10)
    except httpx.TransportError as exc:
        raise KnownFailure(f"The server at {base_url} cannot be reached ({type(exc).__name__}).") from exc
    if response.status_code in (401, 403):
        raise TokenRefused("The server does not accept this token.")
    if response.status_code != 200:
        raise KnownFailure(f"The server answered {response.status_code} when checking the token.")
    return str(response.json()["user"])


def open_session(
    data_dir: Path,
    *,
    server_url: str | None = None,
    db_url: str | None = None,
    ask_token: Callable[[str], str | None] = lambda url: None,
    tokens: TokenStore | None = None,
) -> Session:
    tokens = tokens or TokenStore()
    tokens.check()  # no secure store: say so before anything starts
    replica = Replica.in_dir(data_dir)
    try:
        state = replica.state()
        remembered = state.server_url if state.server_url != EMBEDDED else ""
        team = server_url or remembered
        if team:
            return _team(replica, tokens, team.rstrip("/"), ask_token)
        return _embedded(replica, tokens, data_dir, db_url)
    except BaseException:
        replica.close()
        raise


def _team(replica: Replica, tokens: TokenStore, url: str, ask_token: Callable[[str], str | None]) -> Session:
    state = replica.state()
    token = tokens.load(state.client_id) if state.server_url == url else None
    if token is not None:  # checked by the first sync; offline starts work with what is remembered
        return Session(replica, url, token, state.user_name, None)
    given = ask_token(url)
    if not given:
        raise LoginCancelled(f"No token was given for {url}; the console cannot sign in.")
    user = whoami(url, given.strip())
    tokens.save(state.client_id, given.strip())
    replica.set_server(url, user)
    return Session(replica, url, given.strip(), user, None)


def _embedded(replica: Replica, tokens: TokenStore, data_dir: Path, db_url: str | None) -> Session:
    from console.server.process import ServerProcess  # the server's modules: only when it is ours

    server = ServerProcess(data_dir, db_url=db_url)
    try:
        url = server.wait_ready()
        state = replica.state()
        token = tokens.load(state.client_id) if state.server_url == EMBEDDED else None
        user = state.user_name
        if token is not None:
            try:
                user = whoami(url, token)
            except TokenRefused:  # the server's database was replaced: sign in afresh
                token = None
        if token is None:
            user, token = _local_user(db_url or f"sqlite:///{data_dir / 'server.db'}", state.client_id)
            tokens.save(state.client_id, token)
        replica.set_server(EMBEDDED, user)
        return Session(replica, url, token, user, server)
    except BaseException:
        server.stop()
        raise


def _local_user(db_url: str, client_id: str) -> tuple[str, str]:
    """The person at this machine, as an admin of their own embedded server."""
    from console.server.admin import AdminError, add_user
    from console.server.database import open_engine

    engine = open_engine(db_url, writer=True)
    try:
        name = getpass.getuser()
        for candidate in (name, f"{name}-{client_id[:8]}"):
            try:
                return candidate, add_user(engine, candidate, role="admin")
            except AdminError:
                continue
        raise KnownFailure("Could not create a local user on the embedded server.")
    finally:
        engine.dispose()
