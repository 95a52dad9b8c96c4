"""Start-up: the embedded server as a child process with a local user made once, or a team server
whose token is asked for once and then kept in the (real) keyring."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from console.server.admin import add_service, add_user
from console.server.database import migrate, open_engine
from console.server.process import ServerProcess
from console.session import EMBEDDED, LoginCancelled, open_session
from console.sync.client import TokenRefused


@pytest.mark.e2e
@pytest.mark.usefixtures("secret_service")
def test_the_embedded_server_starts_with_a_local_user_made_once(tmp_path: Path) -> None:
    first = open_session(tmp_path)
    try:
        assert first.embedded
        assert httpx.get(f"{first.base_url}/healthz").status_code == 200
        user, token = first.user, first.token
        assert first.replica.state().server_url == EMBEDDED
    finally:
        first.close()
    assert first.server is not None
    assert not first.server.running
    again = open_session(tmp_path)
    try:
        assert (again.user, again.token) == (user, token)  # from the keyring, no new user
        headers = {"Authorization": f"Bearer {token}", "X-Responder-Schema": "1"}
        assert httpx.get(f"{again.base_url}/sync/whoami", headers=headers).json()["user"] == user
    finally:
        again.close()
    assert token not in "".join(p.read_text(errors="ignore") for p in tmp_path.rglob("*") if p.is_file())


@pytest.mark.e2e
@pytest.mark.usefixtures("secret_service")
def test_a_team_server_asks_for_the_token_once(tmp_path: Path) -> None:
    server_dir = tmp_path / "server"
    engine = open_engine(f"sqlite:///{server_dir / 'server.db'}", writer=True)
    migrate(engine)
    add_service(engine, "shop")
    token = add_user(engine, "dana")
    engine.dispose()

    server = ServerProcess(server_dir)
    try:
        url = server.wait_ready()
        asked: list[str] = []

        def cancel(given_url: str) -> None:
            asked.append(given_url)

        with pytest.raises(LoginCancelled):
            open_session(tmp_path / "console", server_url=url, ask_token=cancel)
        with pytest.raises(TokenRefused):
            open_session(tmp_path / "console", server_url=url, ask_token=lambda u: "not-a-token")
        session = open_session(tmp_path / "console", server_url=url, ask_token=lambda u: token)
        assert (session.user, session.embedded) == ("dana", False)
        session.close()
        later = open_session(tmp_path / "console", ask_token=lambda u: pytest.fail("asked again"))
        assert (later.base_url, later.user, later.token) == (url, "dana", token)
        later.close()
        assert asked == [url]
    finally:
        server.stop()
