"""The user's sign-in token in the operating system's credential store, through `keyring`.

Secret Service (GNOME Keyring, KWallet) on Linux, Keychain on macOS, Credential Locker on Windows;
never a plain file (DESIGN.md §7). When no secure store answers this module says so with a
`CredentialStoreMissing` that tells the user how to fix it; it never falls back to a weaker store.
Tokens are never logged nor put in exception messages.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import keyring
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null
from keyring.errors import KeyringError, KeyringLocked, PasswordDeleteError

from console.domain.errors import KnownFailure

log = logging.getLogger(__name__)

HOW_TO_FIX = (
    "To fix it on Linux, install and unlock GNOME Keyring or KWallet (for example "
    "`sudo apt install gnome-keyring`, then log in to a desktop session so it is unlocked); "
    "on a machine without a desktop, run the console inside `dbus-run-session` after unlocking "
    "the keyring with `printf PASSWORD | gnome-keyring-daemon --unlock --components=secrets`. "
    "On Windows and macOS the system's own credential store is used."
)
NEVER_PLAIN = "The token is never written to a plain file instead."

# backends that keep secrets readable on disk (keyrings.alt's file.PlaintextKeyring, pyfs.PlaintextKeyring,
# and anything else that says so in its module or class name)
_PLAINTEXT = re.compile(r"plain_?text|clear_?text|unencrypted|insecure", re.IGNORECASE)


class CredentialStoreMissing(KnownFailure):
    """No secure credential store can hold the token; the message says why and how to fix it."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(self._message(reason))

    def _message(self, reason: str) -> str:
        return (
            f"No secure credential store is available: {reason}. "
            f"The sign-in token cannot be saved or read. {HOW_TO_FIX} {NEVER_PLAIN}"
        )


class CredentialStoreLocked(CredentialStoreMissing):
    """The store exists but is locked, and it could not be unlocked (nobody answered the prompt)."""

    def _message(self, reason: str) -> str:
        return (
            f"The credential store is locked: {reason}. Unlock it (log in to your desktop session, "
            f"or unlock GNOME Keyring or KWallet), then try again. {HOW_TO_FIX} {NEVER_PLAIN}"
        )


def _name(backend: KeyringBackend) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def _refusal(backend: KeyringBackend) -> str | None:
    """Why this backend must not hold a token, or None when it is a secure store."""
    if isinstance(backend, fail.Keyring):
        return f"keyring found no usable store and chose {_name(backend)}"
    if isinstance(backend, null.Keyring):
        return f"the keyring backend is {_name(backend)}, which stores nothing"
    if isinstance(backend, chainer.ChainerBackend):
        return f"the keyring backend is {_name(backend)} with no secure store to chain"
    if _PLAINTEXT.search(_name(backend)):
        return f"the keyring backend is {_name(backend)}, which keeps secrets unencrypted in a file"
    return None


def _scrubbed(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


@contextmanager
def _translated(action: str, token: str | None = None) -> Iterator[None]:
    """Turn keyring's errors into KnownFailures whose messages never contain the token."""
    try:
        yield
    except KeyringError as exc:
        detail = _scrubbed(f"{action} failed ({type(exc).__name__}: {exc})", token)
        # keep the original for tracebacks unless it carries the token
        cause = None if token and token in repr(exc.args) else exc
        if isinstance(exc, KeyringLocked):
            raise CredentialStoreLocked(detail) from cause
        raise CredentialStoreMissing(detail) from cause


class TokenStore:
    """Tokens by account name, under one service name, in the OS credential store."""

    def __init__(self, service: str = "responder-console") -> None:
        if not service:
            raise ValueError("the service name must not be empty")
        self.service = service

    def check(self) -> None:
        """Raise CredentialStoreMissing unless a secure credential store is the active backend."""
        self._backend()

    def _backend(self) -> KeyringBackend:
        """The secure store keyring would write to; a chainer is resolved to its first backend."""
        try:
            active = keyring.get_keyring()
        except (KeyringError, RuntimeError, ImportError, AttributeError) as exc:
            # a PYTHON_KEYRING_BACKEND or keyringrc.cfg naming a missing or unusable backend
            raise CredentialStoreMissing(
                f"the configured keyring backend could not be loaded ({type(exc).__name__}: {exc})"
            ) from exc
        if isinstance(active, chainer.ChainerBackend):
            # keyring writes to the chain's first backend and reads from any: use that one only, so a
            # plaintext backend lower in the chain is never read or written
            chained: list[KeyringBackend] = list(active.backends)
            if chained:
                active = chained[0]
        reason = _refusal(active)
        if reason is not None:
            raise CredentialStoreMissing(reason)
        return active

    def save(self, account: str, token: str) -> None:
        _require_account(account)
        if not token:
            raise ValueError("an empty token cannot be saved")
        backend = self._backend()
        with _translated("saving the token", token):
            backend.set_password(self.service, account, token)
        log.debug("saved the token of %s in %s", account, _name(backend))

    def load(self, account: str) -> str | None:
        """The account's token, or None when none is saved."""
        _require_account(account)
        backend = self._backend()
        with _translated("reading the token"):
            token = backend.get_password(self.service, account)
        return token

    def delete(self, account: str) -> None:
        """Forget the account's token; nothing happens when none is saved."""
        _require_account(account)
        backend = self._backend()
        with _translated("deleting the token"):
            try:
                backend.delete_password(self.service, account)
            except PasswordDeleteError:
                # most backends say so when there is nothing to delete; make sure that is what it was
                if backend.get_password(self.service, account) is not None:
                    raise
        log.debug("deleted the token of %s from %s", account, _name(backend))


def _require_account(account: str) -> None:
    if not account:
        raise ValueError("the account name must not be empty")
