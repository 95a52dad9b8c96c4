"""One real server per test module: EmbeddedServer (real uvicorn on 127.0.0.1) on a SQLite file."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.server.stack import Served, embedded


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Services `shop`, `payments`; `cart` depends on `checkout`, which depends on `db`; a viewer token."""
    services: dict[str, str | None] = {
        "shop": None,
        "payments": None,
        "db": None,
        "checkout": "db",
        "cart": "checkout",
    }
    with embedded(tmp_path_factory.mktemp("server"), services) as server:
        yield server
