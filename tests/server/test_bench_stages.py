"""bench_intake's profile breakdown names functions and files of the server: were one renamed, the
breakdown would quietly count its time as "other" (it once counted 90 % so, after the writer moved
to the event loop's thread)."""

from __future__ import annotations

import re
from pathlib import Path

import uvicorn

from tests.perf.bench_intake import STAGES

CONSOLE = Path(__file__).resolve().parents[2] / "console"


def test_every_stage_names_a_function_or_file_that_still_exists() -> None:
    ours = list(CONSOLE.rglob("*.py"))  # read here, not when the suite is collected
    files = [*ours, *Path(uvicorn.__file__).parent.rglob("*.py")]
    source = "\n".join(path.read_text() for path in ours)
    for label, _thread, text in STAGES:
        if not text:  # the whole thread
            continue
        if " (" not in text:  # a file: part of its path
            assert any(text in path.as_posix() for path in files), f"{label}: no file like {text}"
            continue
        name, where = text.split(" (", 1)
        assert re.search(rf"\bdef {re.escape(name.split('.')[-1])}\(", source), f"{label}: no {name}"
        if where:
            assert (CONSOLE.parent / where).exists(), f"{label}: no file {where}"
