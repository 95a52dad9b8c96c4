"""DESIGN.md §3 as tests: who may import whom."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "console"

# package → module prefixes it must never import (DESIGN.md §3)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "store": ("PySide6", "qasync", "console.server", "console.ui"),
    "server": ("PySide6", "qasync", "console.ui", "console.store", "console.notify", "console.app"),
    "sync": ("PySide6.QtWidgets", "console.server", "console.ui"),
    "notify": ("PySide6.QtWidgets", "console.store", "console.server"),
    "ui": ("console.server", "console.store", "sqlalchemy", "httpx"),
}


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules_in(package: str) -> list[Path]:
    return sorted((PACKAGE / package).rglob("*.py"))


def test_the_domain_imports_only_the_standard_library_and_itself() -> None:
    assert modules_in("domain")
    for path in modules_in("domain"):
        for name in imports_of(path):
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or name.startswith("console.domain"), f"{path}: {name}"


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_packages_keep_out_of_what_they_must_not_import(package: str) -> None:
    for path in modules_in(package):
        if package == "notify" and path.name == "tray.py":
            continue  # the tray adapter is the one notify module that needs QtWidgets
        for name in imports_of(path):
            assert not name.startswith(FORBIDDEN[package]), f"{path}: imports {name}"


def test_the_server_and_the_domain_import_with_qt_absent() -> None:
    code = (
        "import sys\n"
        "sys.modules['PySide6'] = None\n"  # any import of Qt now fails
        "import console.domain.intake, console.server.app, console.server.runner, console.cli\n"
        "import console.store.replica, console.sync.engine, console.commands\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_the_server_takes_only_the_wire_format_from_sync() -> None:
    for path in modules_in("server"):
        for name in imports_of(path):
            if name.startswith("console.sync"):
                assert name == "console.sync.protocol", f"{path}: imports {name}"


def test_the_replica_and_the_protocol_agree_on_the_schema_version() -> None:
    # Two constants because the server may import the protocol but never the console's store.
    from console.store.replica import SCHEMA_VERSION as replica_version
    from console.sync.protocol import SCHEMA_VERSION as wire_version

    assert replica_version == wire_version
