"""A private PulseAudio server for tests: a null sink whose monitor is recorded to prove what played.

Registered in tests/conftest.py (`pytest_plugins`), so any test can request the fixture:

- `pulse_audio` (session scoped): `pulseaudio` on a private socket with one null sink, `test_sink`,
  the default and only output. For the whole session this process talks to it: PULSE_SERVER and
  PULSE_COOKIE point at it, and QT_AUDIO_BACKEND=pulseaudio keeps Qt off a desktop's PipeWire.
  `pulse_audio.record()` records the sink's monitor (what anything in the session plays) as 16-bit
  mono samples at 44.1 kHz, with helpers to measure loudness and pitch over a time span.

QtMultimedia looks for its audio server once per process, the first time an audio object is made,
and never again: request `pulse_audio` before any code makes a QSoundEffect or asks QMediaDevices.
The fixture fails, naming that cause, when Qt already settled on no output.

How the server is started, and why (Debian 12, PulseAudio 16.1, as root in CI):
- `--daemonize=no`: it stays our child, so the fixture stops it by its PID; `--use-pid-file=no`, so
  nothing is written outside the private directories; `--exit-idle-time=-1 --disallow-exit`: it
  neither quits when idle nor on a client's request.
- `--system=false`: as root PulseAudio only warns ("not intended to be run as root") and runs as a
  per-user server in the private HOME/XDG_RUNTIME_DIR given here; `--system` would want the
  `pulse` user, /var/run/pulse and group-based access instead.
- `-n` (no default.pa) and two `--load`s: only the modules we name. Without default.pa there is no
  module-suspend-on-idle (it stops the null sink's clock, so a recording's timeline stops matching
  wall time), no module-always-sink, no hardware detection, no X11 or D-Bus modules. The native
  protocol listens on a socket in a 0700 directory with `auth-anonymous=1`, so clients need no
  cookie; PULSE_COOKIE still names a private one, as libpulse clients otherwise create
  ~/.config/pulse/cookie in the real HOME.
- PULSE_CONFIG names a private daemon.conf, so /etc/pulse/daemon.conf settings do not leak in;
  DISPLAY and DBUS_SESSION_BUS_ADDRESS are dropped, so it autolaunches nothing.
- A silent stream (pacat from /dev/zero) plays into the sink all session long: with no stream
  playing, the null sink renders its monitor late and sparsely (0.3 s of samples in 2 s of
  recording, checked), so recordings would lose the silences that prove a sound stopped. The
  first recording still waits up to 2 s for the block the sink started idle; the fixture takes
  that wait once, at start.
- Its log (debug level) goes to a file, printed in full when it does not start: never a skip.

The programs come from the Debian packages `pulseaudio` and `pulseaudio-utils` (packaging/bootstrap
test installs them); when they are missing the tests fail.
"""

from __future__ import annotations

import array
import math
import operator
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO

import pytest

from tests.desktop_session import program

RATE = 44_100
SINK = "test_sink"
MONITOR = f"{SINK}.monitor"
START_TIMEOUT = 15.0
INSTALL_HINT = "install it with `packaging/bootstrap test` (apt packages pulseaudio and pulseaudio-utils)"
WINDOW = 0.05  # seconds: loudness is measured over windows this long
SILENT_RMS = 30.0  # below this a span counts as silent (about -60 dBFS; the null sink's silence is 0)
SOUNDING_RMS = 300.0  # above this a span counts as sounding (a sound at volume 0.2 is near 1500)

DAEMON_CONF = """\
# written by tests/audio_session.py: a private server, nothing taken from /etc/pulse/daemon.conf
daemonize = no
allow-exit = no
exit-idle-time = -1
high-priority = no
realtime-scheduling = no
flat-volumes = no
default-sample-format = s16le
default-sample-rate = 44100
default-sample-channels = 2
"""

# variables that would point the server or its clients elsewhere: the user's real sound server,
# session bus or display (PulseAudio would try to autolaunch a bus on the display)
_OUTSIDE = (
    "DBUS_SESSION_BUS_ADDRESS",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "PULSE_SERVER",
    "PULSE_SINK",
    "PULSE_SOURCE",
    "PULSE_COOKIE",
    "PULSE_CONFIG",
    "PULSE_CLIENTCONFIG",
    "PULSE_RUNTIME_PATH",
    "PULSE_STATE_PATH",
    "PIPEWIRE_REMOTE",
)


def _program(name: str) -> str:
    return program(name, INSTALL_HINT)


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


class Recording:
    """What reached the null sink between `start` and `stop`: 16-bit mono samples at RATE.

    Times are seconds from the start of the recording. While recording, `now()` is the time the
    recording has reached: take it just before doing something to know where to look for its sound.
    """

    def __init__(self, monitor: str, env: dict[str, str], path: Path, log_path: Path) -> None:
        self._monitor = monitor
        self._env = env
        self.path = path
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._samples: list[int] | None = None
        self._levels: list[float] | None = None  # RMS of consecutive windows

    def start(self) -> Recording:
        with self.path.open("wb") as out, self._log_path.open("ab") as err:
            self._process = subprocess.Popen(
                [
                    _program("parec"),
                    f"--device={self._monitor}",
                    "--raw",
                    "--format=s16le",
                    f"--rate={RATE}",
                    "--channels=1",
                    "--latency-msec=20",
                    "--client-name=test-recorder",
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=self._env,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while self.now() < 0.05:  # samples flow: the recording has started
            if self._process.poll() is not None or time.monotonic() > deadline:
                self._process.kill()
                self._process.wait()
                pytest.fail(
                    f"parec recorded nothing from {self._monitor} (exit code {self._process.returncode}): "
                    f"{self._log_path.read_text(errors='replace')}",
                    pytrace=False,
                )
            time.sleep(0.01)
        return self

    def now(self) -> float:
        """Seconds recorded so far (while recording: about the present moment, 20 ms behind)."""
        return self.path.stat().st_size / 2 / RATE

    def stop(self) -> list[int]:
        if self._process is not None:
            _stop(self._process, signal.SIGINT)
            self._process = None
        if self._samples is None:
            data = self.path.read_bytes()
            frames = array.array("h", data[: len(data) // 2 * 2])
            if sys.byteorder == "big":
                frames.byteswap()
            self._samples = frames.tolist()
        return self._samples

    def __enter__(self) -> Recording:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    # --- analysis (after stop) ----------------------------------------------------------------

    @property
    def samples(self) -> list[int]:
        if self._samples is None:
            raise RuntimeError("stop the recording first")
        return self._samples

    @property
    def duration(self) -> float:
        return len(self.samples) / RATE

    def span(self, start: float, end: float | None = None) -> list[int]:
        """The samples from `start` to `end` seconds (None: to the end of the recording)."""
        first = max(round(start * RATE), 0)
        last = len(self.samples) if end is None else max(round(end * RATE), first)
        return self.samples[first:last]

    def levels(self, start: float = 0.0, end: float | None = None) -> list[tuple[float, float]]:
        """(time, RMS) of the WINDOW-second windows that lie between `start` and `end`."""
        if self._levels is None:
            size = round(WINDOW * RATE)
            x = self.samples
            self._levels = [_rms(x[i : i + size]) for i in range(0, len(x) - size + 1, size)]
        first = max(math.ceil(start / WINDOW - 1e-9), 0)  # window i spans [i, i + 1) * WINDOW
        stop = len(self._levels) if end is None else min(math.floor(end / WINDOW + 1e-9), len(self._levels))
        return [(round(i * WINDOW, 3), self._levels[i]) for i in range(first, stop)]

    def peak_level(self, start: float = 0.0, end: float | None = None) -> float:
        """The loudest window's RMS."""
        return max((level for _, level in self.levels(start, end)), default=0.0)

    def sounding(self, start: float = 0.0, end: float | None = None) -> list[float]:
        """Start times of the windows that sound (RMS above SOUNDING_RMS)."""
        return [t for t, level in self.levels(start, end) if level > SOUNDING_RMS]

    def silent(self, start: float = 0.0, end: float | None = None) -> bool:
        """Whether every window from `start` to `end` is silent (RMS below SILENT_RMS)."""
        return all(level < SILENT_RMS for _, level in self.levels(start, end))

    def dominant_frequency(self, start: float, end: float | None = None) -> float:
        """The strongest frequency (100 Hz to 4 kHz, to 5 Hz) in the loudest 2048 samples of the span."""
        x = self.span(start, end)
        size = 2048
        if len(x) < size:
            raise ValueError(f"the span is shorter than {size} samples")
        first = max(range(0, len(x) - size + 1, 256), key=lambda i: sum(v * v for v in x[i : i + size : 8]))
        chunk = x[first : first + size]
        coarse = max(range(100, 4000, 40), key=lambda f: _goertzel_power(chunk, f))
        return float(max(range(coarse - 40, coarse + 41, 5), key=lambda f: _goertzel_power(chunk, f)))


def _rms(x: list[int]) -> float:
    return math.sqrt(sum(map(operator.mul, x, x)) / len(x)) if x else 0.0


def _goertzel_power(chunk: list[int], frequency: float) -> float:
    coefficient = 2 * math.cos(2 * math.pi * frequency / RATE)
    previous = before = 0.0
    for x in chunk:
        previous, before = x + coefficient * previous - before, previous
    return previous * previous + before * before - coefficient * previous * before


class PulseAudio:
    """A running private PulseAudio server with the null sink `test_sink`."""

    def __init__(self, server: str, env: dict[str, str], base: Path, log_path: Path) -> None:
        self.server = server  # e.g. unix:/tmp/rc-pulse-xxxx/native
        self.sink = SINK
        self.monitor = MONITOR
        self.env = env  # for subprocesses: PULSE_SERVER, PULSE_COOKIE, QT_AUDIO_BACKEND set
        self.log_path = log_path  # the server's log
        self._base = base
        self._count = 0

    def record(self) -> Recording:
        """Start recording the sink's monitor; use as a context manager (or call `stop`)."""
        self._count += 1
        path = self._base / f"recording-{self._count}.raw"
        return Recording(self.monitor, self.env, path, self._base / "parec.log").start()


def _sink_state(pactl: str, server: str, env: dict[str, str]) -> str | None:
    """The null sink's state (IDLE, RUNNING…), or None while the server does not answer."""
    try:
        done = subprocess.run(
            [pactl, f"--server={server}", "list", "short", "sinks"],
            capture_output=True,
            text=True,
            env=env,
            timeout=5,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None
    for line in done.stdout.splitlines():
        fields = line.split("\t")
        if len(fields) >= 5 and fields[1] == SINK:
            return fields[4].strip()
    return None


@contextmanager
def _started(
    command: list[str], env: dict[str, str], log_path: Path, stdin: IO[bytes] | int = subprocess.DEVNULL
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a daemon for the length of the block, its output into `log_path`; stop it by its PID."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, stdin=stdin, stdout=log, stderr=log, env=env)
    try:
        yield process
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def pulse_audio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseAudio]:
    """A private PulseAudio server with a null sink; this process plays into it for the session."""
    daemon_path = _program("pulseaudio")
    pactl = _program("pactl")
    pacat = _program("pacat")
    base = tmp_path_factory.mktemp("pulse-audio")
    # AF_UNIX paths are limited to ~107 bytes: keep the socket in a short private dir
    runtime_dir = Path(tempfile.mkdtemp(prefix="rc-pulse-"))
    socket_path = runtime_dir / "native"
    server = f"unix:{socket_path}"
    home = base / "home"
    (home / ".config" / "pulse").mkdir(parents=True)
    cookie = home / ".config" / "pulse" / "cookie"
    config = base / "daemon.conf"
    config.write_text(DAEMON_CONF)
    log_path = base / "pulseaudio.log"

    daemon_env = {key: value for key, value in os.environ.items() if key not in _OUTSIDE}
    daemon_env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_RUNTIME_DIR=str(runtime_dir),
        PULSE_RUNTIME_PATH=str(runtime_dir / "pulse"),
        PULSE_STATE_PATH=str(base / "state"),
        PULSE_CONFIG=str(config),
    )
    client_env = {key: value for key, value in os.environ.items() if key not in _OUTSIDE}
    client_env.update(PULSE_SERVER=server, PULSE_COOKIE=str(cookie), QT_AUDIO_BACKEND="pulseaudio")
    command = [
        daemon_path,
        "--daemonize=no",
        "--system=false",
        "--use-pid-file=no",
        "--exit-idle-time=-1",
        "--disallow-exit",
        "--realtime=no",
        "--high-priority=no",
        "-n",
        f"--load=module-native-protocol-unix socket={socket_path} auth-anonymous=1",
        f"--load=module-null-sink sink_name={SINK} rate={RATE} channels=2",
        "--log-level=debug",
        "--log-time=yes",
        f"--log-target=file:{log_path}",
    ]

    def failed(why: str) -> None:
        log = log_path.read_text(errors="replace") if log_path.exists() else "(no log written)"
        pytest.fail(f"PulseAudio {why}\ncommand: {' '.join(command)}\nlog:\n{log}", pytrace=False)

    try:
        with _started(command, daemon_env, base / "pulseaudio.out") as daemon:
            deadline = time.monotonic() + START_TIMEOUT
            while _sink_state(pactl, server, client_env) is None:
                if daemon.poll() is not None:
                    failed(f"exited with code {daemon.returncode} before it answered")
                if time.monotonic() > deadline:
                    failed(f"did not answer on {server} within {START_TIMEOUT:.0f} s")
                time.sleep(0.05)
            silence = [
                pacat,
                "--playback",
                f"--server={server}",
                f"--device={SINK}",
                "--raw",
                "--format=s16le",
                f"--rate={RATE}",
                "--channels=2",
                "--latency-msec=100",
                "--client-name=test-clock",
            ]
            with (
                Path("/dev/zero").open("rb") as zeros,
                _started(silence, client_env, base / "pacat.log", stdin=zeros) as clock,
            ):
                while _sink_state(pactl, server, client_env) != "RUNNING":
                    if clock.poll() is not None:
                        failed(
                            f"the silent stream (pacat) exited with code {clock.returncode}: "
                            f"{(base / 'pacat.log').read_text(errors='replace')}"
                        )
                    if time.monotonic() > deadline:
                        failed(f"did not run the null sink within {START_TIMEOUT:.0f} s")
                    time.sleep(0.05)
                audio = PulseAudio(server, client_env, base, log_path)
                # the null sink renders 2 s blocks until a stream asks for less, and the block under
                # way when the silent stream came still runs: the first recording waits for its end
                audio.record().stop()
                with pytest.MonkeyPatch.context() as patch:
                    for name in _OUTSIDE:
                        if name.startswith(("PULSE_", "PIPEWIRE_")):
                            patch.delenv(name, raising=False)
                    patch.setenv("PULSE_SERVER", server)
                    patch.setenv("PULSE_COOKIE", str(cookie))
                    patch.setenv("QT_AUDIO_BACKEND", "pulseaudio")
                    _check_qt_sees_the_sink()
                    yield audio
    finally:
        shutil.rmtree(runtime_dir, ignore_errors=True)


def _check_qt_sees_the_sink() -> None:
    """Fail when QtMultimedia settled on no audio output before the server was there.

    Only with a Qt application already made (without one Qt makes no audio objects, and asking
    QMediaDevices would only earn warnings); otherwise Qt finds the server when it first looks.
    """
    if "PySide6.QtCore" not in sys.modules:
        return
    from PySide6.QtCore import QCoreApplication

    if QCoreApplication.instance() is None:
        return
    from PySide6.QtMultimedia import QMediaDevices

    if not QMediaDevices.audioOutputs():
        pytest.fail(
            "QtMultimedia sees no audio output although the private PulseAudio runs: something in this "
            "process made an audio object before `pulse_audio` started, and Qt never looks again. "
            "Request the `pulse_audio` fixture earlier (e.g. from the package's conftest).",
            pytrace=False,
        )
