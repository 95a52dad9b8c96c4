"""The alert policy is pure (domain and standard library only); the D-Bus client needs no Qt."""

from __future__ import annotations

import subprocess
import sys

from tests.test_architecture import PACKAGE, imports_of


def test_the_policy_imports_only_the_standard_library_and_the_domain() -> None:
    for name in imports_of(PACKAGE / "notify" / "policy.py"):
        top = name.split(".")[0]
        assert top in sys.stdlib_module_names or name.startswith("console.domain"), name


def test_the_policy_the_sounds_and_the_dbus_client_import_with_qt_absent() -> None:
    code = (
        "import sys\n"
        "sys.modules['PySide6'] = None\n"  # any import of Qt now fails
        "import console.notify.policy, console.notify.sounds, console.notify.dbus\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
