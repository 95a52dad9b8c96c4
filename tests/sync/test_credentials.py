"""The token store against a real Secret Service (gnome-keyring on a private bus) and refused backends."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import TypeVar

import keyring
import keyring.backends.SecretService
import pytest
import secretstorage
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null
from keyring.errors import KeyringError, KeyringLocked

from console.domain.errors import KnownFailure
from console.sync.credentials import CredentialStoreLocked, CredentialStoreMissing, TokenStore

ROOT = Path(__file__).resolve().parents[2]

UseBackend = Callable[[KeyringBackend], None]
B = TypeVar("B", bound=KeyringBackend)


def new(backend_class: type[B]) -> B:
    """An instance of a keyring backend (their __init__ is untyped)."""
    return backend_class()


def fresh_account() -> str:
    return f"alice-{uuid.uuid4().hex[:8]}"


def fresh_token() -> str:
    return f"tok-{uuid.uuid4().hex}"


@pytest.fixture
def use_backend() -> Iterator[UseBackend]:
    """Make a backend keyring's active one for this test; the previous one comes back after."""
    previous = keyring.get_keyring()
    yield keyring.set_keyring
    keyring.set_keyring(previous)


class PlaintextKeyring(KeyringBackend):
    """Named like keyrings.alt.file.PlaintextKeyring; never viable, so keyring never picks it itself."""

    viable = False
    priority = 0.5

    def get_password(self, service: str, username: str) -> str | None:
        raise AssertionError("a plaintext backend was read")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise AssertionError("a plaintext backend was written")


class MemoryKeyring(KeyringBackend):
    """A secure-looking store held in memory."""

    viable = False
    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.saved: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.saved.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.saved[(service, username)] = password


class Chain(chainer.ChainerBackend):
    """A chainer over the backends a test gives it."""

    viable = False
    backends: list[KeyringBackend] = []  # noqa: RUF012  (replaced per test)


class Troubled(KeyringBackend):
    """A store that fails the way Secret Service can: writes refused, collection locked."""

    viable = False
    priority = 1

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("Failed to unlock the collection!")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringError(f"could not store {password!r} for {username}")  # a careless library


def assert_says_how_to_fix(error: CredentialStoreMissing, token: str) -> None:
    message = str(error)
    assert isinstance(error, KnownFailure)
    assert "No secure credential store is available" in message
    assert "apt install gnome-keyring" in message
    assert "dbus-run-session" in message
    assert "gnome-keyring-daemon --unlock" in message
    assert "never written to a plain file" in message
    assert token not in message
    assert token not in repr(error.args)


# the real Secret Service


def test_the_fixture_makes_the_secret_service_keyrings_backend(secret_service: dict[str, str]) -> None:
    assert isinstance(keyring.get_keyring(), keyring.backends.SecretService.Keyring)
    assert os.environ["DBUS_SESSION_BUS_ADDRESS"] == secret_service["DBUS_SESSION_BUS_ADDRESS"]
    assert secret_service["DBUS_SESSION_BUS_ADDRESS"].startswith("unix:path=")
    assert Path(secret_service["GNOME_KEYRING_CONTROL"], "control").is_socket()
    TokenStore().check()  # accepted: raises if not


def test_save_load_delete_round_trip_through_the_secret_service(secret_service: dict[str, str]) -> None:
    store, account, token = TokenStore(), fresh_account(), fresh_token()

    store.save(account, token)
    assert store.load(account) == token

    # it is really in gnome-keyring's default collection, under our service name
    with closing(secretstorage.dbus_init()) as connection:
        collection = secretstorage.get_default_collection(connection)
        items = list(collection.search_items({"service": "responder-console", "username": account}))
        assert [item.get_secret().decode() for item in items] == [token]

    store.delete(account)
    assert store.load(account) is None


def test_saving_again_replaces_the_token(secret_service: dict[str, str]) -> None:
    store, account = TokenStore(), fresh_account()
    store.save(account, "first-token")
    store.save(account, "second-token")
    assert store.load(account) == "second-token"


def test_accounts_and_services_do_not_see_each_others_tokens(secret_service: dict[str, str]) -> None:
    store, alice, bob = TokenStore(), fresh_account(), fresh_account()
    alice_token, bob_token = fresh_token(), fresh_token()
    store.save(alice, alice_token)
    store.save(bob, bob_token)

    assert store.load(alice) == alice_token
    assert store.load(bob) == bob_token
    assert TokenStore("another-app").load(alice) is None

    store.delete(alice)
    assert store.load(alice) is None
    assert store.load(bob) == bob_token


def test_an_unknown_account_has_no_token_and_deleting_it_is_harmless(secret_service: dict[str, str]) -> None:
    store, account = TokenStore(), fresh_account()
    assert store.load(account) is None
    store.delete(account)
    assert store.load(account) is None


def test_empty_account_or_token_is_refused(secret_service: dict[str, str]) -> None:
    store = TokenStore()
    with pytest.raises(ValueError, match="account"):
        store.save("", "token")
    with pytest.raises(ValueError, match="token"):
        store.save(fresh_account(), "")


def test_the_token_is_not_logged(secret_service: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    store, account, token = TokenStore(), fresh_account(), fresh_token()
    with caplog.at_level(logging.DEBUG):
        store.save(account, token)
        assert store.load(account) == token
        store.delete(account)
    assert account in caplog.text  # the store does log what it does ...
    assert token not in caplog.text  # ... but never the token


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env, cwd=ROOT
    )


def test_a_subprocess_with_the_fixtures_environment_shares_the_tokens(secret_service: dict[str, str]) -> None:
    store, account, token = TokenStore(), fresh_account(), fresh_token()
    store.save(account, token)
    env = {**os.environ, **secret_service}
    env.pop("PYTHON_KEYRING_BACKEND", None)  # keyring chooses by itself, as it does for users

    loaded = run_python(
        f"from console.sync.credentials import TokenStore; print(TokenStore().load({account!r}))", env
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == token

    # and the other way round: what a CLI process saves, the test reads
    other, other_token = fresh_account(), fresh_token()
    saved = run_python(
        f"from console.sync.credentials import TokenStore; TokenStore().save({other!r}, {other_token!r})", env
    )
    assert saved.returncode == 0, saved.stderr
    assert store.load(other) == other_token


def test_a_process_without_a_secret_service_is_told_how_to_fix_it(
    secret_service: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path / 'no-bus'}",
        "HOME": str(tmp_path),
    }
    env.pop("PYTHON_KEYRING_BACKEND", None)
    env.pop("XDG_CONFIG_HOME", None)
    token = fresh_token()
    done = run_python(
        "from console.sync.credentials import CredentialStoreMissing, TokenStore\n"
        "try:\n"
        f"    TokenStore().save('alice', {token!r})\n"
        "except CredentialStoreMissing as error:\n"
        "    print(error)\n"
        "else:\n"
        "    print('SAVED')\n",
        env,
    )
    assert done.returncode == 0, done.stderr
    assert "No secure credential store is available" in done.stdout
    assert "apt install gnome-keyring" in done.stdout
    assert token not in done.stdout + done.stderr


# refused and failing backends


@pytest.mark.parametrize(
    "backend",
    [new(fail.Keyring), new(null.Keyring), new(PlaintextKeyring)],
    ids=["fail", "null", "plaintext"],
)
def test_a_backend_that_is_no_secure_store_is_refused(
    backend: KeyringBackend, use_backend: UseBackend
) -> None:
    use_backend(backend)
    store, token = TokenStore(), fresh_token()

    with pytest.raises(CredentialStoreMissing) as raised:
        store.save("alice", token)
    assert_says_how_to_fix(raised.value, token)
    assert type(backend).__name__ in raised.value.reason

    with pytest.raises(CredentialStoreMissing, match="No secure credential store"):
        store.check()
    with pytest.raises(CredentialStoreMissing, match="No secure credential store"):
        store.load("alice")
    with pytest.raises(CredentialStoreMissing, match="No secure credential store"):
        store.delete("alice")


def test_a_chain_without_a_secure_store_is_refused(
    use_backend: UseBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    for backends in ([], [new(PlaintextKeyring)], [new(PlaintextKeyring), new(MemoryKeyring)]):
        monkeypatch.setattr(Chain, "backends", backends)
        use_backend(new(Chain))
        with pytest.raises(CredentialStoreMissing, match="No secure credential store"):
            TokenStore().save("alice", "a-token")


def test_a_chain_is_used_through_its_first_store_only(
    use_backend: UseBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory = new(MemoryKeyring)
    monkeypatch.setattr(Chain, "backends", [memory, new(PlaintextKeyring)])
    use_backend(new(Chain))
    store = TokenStore()

    store.save("alice", "a-token")
    assert memory.saved == {("responder-console", "alice"): "a-token"}
    assert store.load("alice") == "a-token"
    assert store.load("bob") is None  # the plaintext store further down is not asked


def test_keyring_errors_become_known_failures_without_the_token(use_backend: UseBackend) -> None:
    use_backend(new(Troubled))
    store, token = TokenStore(), fresh_token()

    with pytest.raises(CredentialStoreMissing) as raised:
        store.save("alice", token)
    assert_says_how_to_fix(raised.value, token)
    assert "***" in str(raised.value)  # the library's message is kept, with the token blanked
    assert raised.value.__cause__ is None  # the original, which names the token, is not chained

    with pytest.raises(CredentialStoreLocked) as locked:
        store.load("alice")
    assert "locked" in str(locked.value)
    assert isinstance(locked.value.__cause__, KeyringLocked)


def test_a_backend_named_in_the_environment_that_cannot_load_is_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)  # make keyring detect again
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "no.such.Backend")
    with pytest.raises(CredentialStoreMissing, match="could not be loaded"):
        TokenStore().check()
