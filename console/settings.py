"""Where things live: defaults < config.toml < RESPONDER_* environment < command-line flags."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

APP_NAME = "responder-console"


def config_file() -> Path:
    return Path(os.environ.get("RESPONDER_CONFIG") or platformdirs.user_config_path(APP_NAME) / "config.toml")


def _file_settings() -> dict[str, Any]:
    path = config_file()
    if not path.is_file():
        return {}
    with path.open("rb") as handle:
        return tomllib.load(handle)


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    db_url: str | None  # None: the SQLite file in the data dir
    host: str
    port: int
    workers: int  # server processes for `serve`

    @property
    def server_db_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_dir / 'server.db'}"


def load(
    *,
    data_dir: str | None = None,
    db_url: str | None = None,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
) -> Settings:
    """Settings for this run; each argument is a command-line flag (None when not given)."""
    file = _file_settings().get("server", {})
    env = os.environ

    def pick(flag: Any, env_name: str, key: str, default: Any) -> Any:
        if flag is not None:
            return flag
        if env.get(env_name):
            return env[env_name]
        return file.get(key, default)

    directory = pick(data_dir, "RESPONDER_DATA_DIR", "data_dir", None)
    return Settings(
        data_dir=Path(directory).expanduser() if directory else platformdirs.user_data_path(APP_NAME),
        db_url=pick(db_url, "RESPONDER_DB", "db", None),
        host=str(pick(host, "RESPONDER_HOST", "host", "127.0.0.1")),
        port=int(pick(port, "RESPONDER_PORT", "port", 8765)),
        # One process measured faster than two on SQLite: they queue on the write lock (see README).
        workers=int(pick(workers, "RESPONDER_WORKERS", "workers", 1)),
    )
