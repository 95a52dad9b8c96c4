"""Suite-wide settings: every test gets its own data dir, so nothing touches the user's real one."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["tests.desktop_session", "tests.audio_session", "tests.stack"]


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    data_dir = tmp_path_factory.mktemp("data")
    monkeypatch.setenv("RESPONDER_DATA_DIR", str(data_dir))
    monkeypatch.setenv("RESPONDER_CONFIG", str(data_dir / "absent-config.toml"))
    return data_dir
