"""A private desktop session for tests: a D-Bus session bus and an unlocked GNOME Keyring on it.

Registered in tests/conftest.py (`pytest_plugins`), so any test can request the fixtures:

- `session_bus`: a private `dbus-daemon` (hermetic config, nothing is bus-activated behind the
  tests' back) with a throwaway HOME, XDG_* dirs and XDG_RUNTIME_DIR.
- `secret_service`: `gnome-keyring-daemon --foreground --unlock --components=secrets` on that
  bus, unlocked with a random password on stdin, and keyring's Secret Service backend made the
  in-process backend. It returns the environment variables (DBUS_SESSION_BUS_ADDRESS,
  GNOME_KEYRING_CONTROL) to give subprocesses; they are also in os.environ until the session ends.

Both are session scoped, start what they need and kill it at the end. The daemons come from the
Debian packages `dbus-daemon` and `gnome-keyring` (packaging/bootstrap test installs them); when they
are missing the tests fail, they never skip. The user's real bus and keyring are never touched.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path

import keyring
import keyring.backends.SecretService
import pytest
import secretstorage

START_TIMEOUT = 15.0
INSTALL_HINT = "install it with `packaging/bootstrap test` (apt packages dbus-daemon and gnome-keyring)"

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>{address}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""

# variables that would point the daemons at the user's real session, display or keyring
_OUTSIDE = (
    "DBUS_SESSION_BUS_ADDRESS",
    "GNOME_KEYRING_CONTROL",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "SSH_AUTH_SOCK",
)


def program(name: str, hint: str = INSTALL_HINT) -> str:
    """The path of a program the tests need; a clear failure (never a skip) when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not installed; {hint}", pytrace=False)
    return path


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


class SessionBus:
    """A running private session bus and the throwaway directories of its session."""

    def __init__(self, address: str, daemon_env: dict[str, str], runtime_dir: Path, log_dir: Path) -> None:
        self.address = address
        self.daemon_env = daemon_env  # the environment to start session daemons with
        self.runtime_dir = runtime_dir
        self.log_dir = log_dir


@contextmanager
def private_session_bus(base: Path) -> Iterator[SessionBus]:
    """A private D-Bus session bus (its files under `base`); DBUS_SESSION_BUS_ADDRESS points at it
    in this process until the end. For the fixture, and for benchmarks outside pytest."""
    dbus_daemon = program("dbus-daemon")
    home = base / "home"
    home.mkdir()
    # AF_UNIX paths are limited to ~107 bytes: keep the sockets in a short private dir
    runtime_dir = Path(tempfile.mkdtemp(prefix="rc-run-"))
    address = f"unix:path={runtime_dir / 'bus'}"
    config = base / "session-bus.conf"
    config.write_text(BUS_CONFIG.format(address=address))
    env = {key: value for key, value in os.environ.items() if key not in _OUTSIDE}
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_RUNTIME_DIR=str(runtime_dir),
    )
    with (base / "dbus-daemon.log").open("wb") as log:
        daemon = subprocess.Popen(
            [dbus_daemon, f"--config-file={config}", "--nofork", "--nopidfile", "--print-address=1"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
        )
    previous = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    try:
        assert daemon.stdout is not None
        printed = daemon.stdout.readline().decode().strip()  # printed once it listens
        daemon.stdout.close()
        if not printed:
            daemon.wait(timeout=5)
            pytest.fail(
                f"dbus-daemon exited ({daemon.returncode}): {(base / 'dbus-daemon.log').read_text()}",
                pytrace=False,
            )
        env["DBUS_SESSION_BUS_ADDRESS"] = printed
        os.environ["DBUS_SESSION_BUS_ADDRESS"] = printed
        yield SessionBus(printed, env, runtime_dir, base)
    finally:
        if previous is None:
            os.environ.pop("DBUS_SESSION_BUS_ADDRESS", None)
        else:
            os.environ["DBUS_SESSION_BUS_ADDRESS"] = previous
        _stop(daemon)
        shutil.rmtree(runtime_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def session_bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SessionBus]:
    """A private D-Bus session bus; DBUS_SESSION_BUS_ADDRESS points at it for the whole session."""
    with private_session_bus(tmp_path_factory.mktemp("desktop-session")) as bus:
        yield bus


def _default_collection_unlocked() -> bool:
    """True once the Secret Service on the current session bus has an unlocked default collection."""
    try:
        with closing(secretstorage.dbus_init()) as connection:
            if not secretstorage.check_service_availability(connection):
                return False
            # the alias path, not get_default_collection(): that would create one (and prompt) if absent
            collection = secretstorage.Collection(connection, "/org/freedesktop/secrets/aliases/default")
            return not collection.is_locked()
    except secretstorage.exceptions.SecretStorageException:
        return False


def _printed_variables(text: str) -> dict[str, str]:
    """NAME=value lines, as gnome-keyring-daemon prints them for `eval`."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name.isidentifier():
            found[name] = value
    return found


@pytest.fixture(scope="session")
def secret_service(session_bus: SessionBus) -> Iterator[dict[str, str]]:
    """An unlocked GNOME Keyring on the private bus, used by keyring in this process.

    Returns the variables subprocesses need to reach it (DBUS_SESSION_BUS_ADDRESS,
    GNOME_KEYRING_CONTROL); run them with `env={**os.environ, **secret_service}`.
    """
    daemon_path = program("gnome-keyring-daemon")
    control = session_bus.runtime_dir / "keyring"
    stdout_path = session_bus.log_dir / "gnome-keyring.out"
    log_path = session_bus.log_dir / "gnome-keyring.log"
    with stdout_path.open("wb") as out, log_path.open("wb") as log:
        daemon = subprocess.Popen(
            [
                daemon_path,
                "--foreground",
                "--unlock",
                "--components=secrets",
                f"--control-directory={control}",
            ],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=log,
            env=session_bus.daemon_env,
        )
    previous_backend = keyring.get_keyring()
    try:
        assert daemon.stdin is not None
        # the login keyring's password; an empty one would make it ask through a GUI prompt
        daemon.stdin.write(secrets.token_hex(16).encode())
        daemon.stdin.close()
        deadline = time.monotonic() + START_TIMEOUT
        while not _default_collection_unlocked():
            if daemon.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"gnome-keyring-daemon did not provide an unlocked Secret Service "
                    f"(exit code {daemon.poll()}): {log_path.read_text()}",
                    pytrace=False,
                )
            time.sleep(0.05)
        exported = {"DBUS_SESSION_BUS_ADDRESS": session_bus.address, "GNOME_KEYRING_CONTROL": str(control)}
        exported.update(_printed_variables(stdout_path.read_text()))
        backend_class = keyring.backends.SecretService.Keyring
        if not backend_class.viable:
            pytest.fail("keyring does not find the Secret Service on the private bus", pytrace=False)
        with pytest.MonkeyPatch.context() as patch:
            for name, value in exported.items():
                patch.setenv(name, value)
            # a backend forced from outside (PYTHON_KEYRING_BACKEND) would win over the Secret Service
            # in subprocesses
            patch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
            keyring.set_keyring(backend_class())  # type: ignore[no-untyped-call]
            try:
                yield exported
            finally:
                keyring.set_keyring(previous_backend)
    finally:
        with suppress(OSError):
            if daemon.stdin is not None:
                daemon.stdin.close()
        _stop(daemon)
