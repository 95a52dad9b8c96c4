"""Runbooks as Markdown files: one runbook per `.md` file, YAML front matter, prose and a checklist.

    ---
    id: checkout-api-high-error-rate         # required: a-z, 0-9, - and _; runs refer to it
    title: "checkout-api: high error rate"   # required
    version: 4                               # required: a whole number, raised at each change
    last_reviewed: 2026-01-12                # required: when someone last checked it still works
    applies_to:                              # optional: without it, it is never attached by itself
      service: checkout-api                  # the service's name
      match:                                 # Alertmanager matchers on labels and alert fields;
        - alertname=~"CheckoutHigh.*"        # all must hold (=, !=, =~, !~; a regex matches the
        - env!="staging"                     # whole value; a missing label is "")
    ---

    Prose before the checklist is the runbook's description (Markdown).

    - [ ] Open the checkout error dashboard {#dashboard}
      [Checkout errors](https://grafana.example.com/d/checkout)
    - [ ] Roll back the last deploy (approval: manager) {#rollback}
      Only if the errors started with it.
      `kubectl -n checkout rollout undo deploy/checkout-api`

    Prose after the checklist is its afterword.

The checklist:
- Each `- [ ]` item is a step (`*` and `+` bullets and `[x]` read the same; export writes `- [ ]`).
  Its text is the rest of the line and the lines indented under it by two spaces, or continuing
  its paragraph, as in Markdown.
- At the end of the first line, in either order: `{#id}`, the step's id, which must not change when
  the text does (runs refer to it; without one it is made from the text, and export writes it);
  `(approval: ROLE)`, the role whose approval marks the step done.
- Under the step, a line holding only a link (`[text](url)`, `<url>` or a bare http(s) URL) is the
  step's link, and a line holding only inline code (`` `cmd` ``), a fenced code block or a code
  block indented four more spaces after a blank line is its command: one of each per step. A link
  or code inside a sentence stays text.
- The steps are one flat list: a step after other text, a nested `- [ ]` item or a plain list item
  among the steps is an error.

A file that breaks a rule is refused with RunbookFileError, which lists each problem with its file
and line; `load_dir` reports the problems of every file at once. A README.md is not a runbook.
`export` writes the canonical form above, which reads back as the same Runbook.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from console.domain.incident import Link
from console.domain.runbook import (
    ID_PATTERN,
    ROLE_PATTERN,
    AppliesTo,
    Matcher,
    Runbook,
    Step,
    one_line,
    parse_matcher,
)

REQUIRED_KEYS = ("id", "title", "version", "last_reviewed")
FRONT_KEYS = (*REQUIRED_KEYS, "applies_to")
APPLIES_KEYS = ("service", "match")


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class RunbookFileError(Exception):
    """One or more runbook files break the format; `problems` says where and how."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


# -- reading --


def parse(text: str, file: str = "<string>") -> Runbook:
    """The runbook in `text`; `file` names it in problems. Raises RunbookFileError."""
    return _Reader(text, file).read()[0]


def load(path: str | Path) -> Runbook:
    return _load(Path(path))[0]


def load_dir(path: str | Path) -> list[Runbook]:
    """Every runbook in the `.md` files under `path` (README.md excepted), in file name order.

    Raises RunbookFileError with the problems of all bad files, and ids used by two files.
    """
    root = Path(path)
    if not root.is_dir():
        raise NotADirectoryError(f"not a folder of runbooks: {root}")
    runbooks: list[Runbook] = []
    problems: list[Problem] = []
    owners: dict[str, str] = {}
    for file in sorted(p for p in root.rglob("*.md") if p.is_file() and p.name.lower() != "readme.md"):
        try:
            runbook, id_line = _load(file)
        except RunbookFileError as exc:
            problems.extend(exc.problems)
            continue
        if runbook.id in owners:
            problems.append(
                Problem(str(file), id_line, f"id: {runbook.id!r} is also the id of {owners[runbook.id]}")
            )
            continue
        owners[runbook.id] = str(file)
        runbooks.append(runbook)
    if problems:
        raise RunbookFileError(problems)
    return runbooks


def _load(path: Path) -> tuple[Runbook, int]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RunbookFileError([Problem(str(path), line, "not UTF-8 text")]) from None
    return _Reader(text, str(path)).read()


_BULLET = re.compile(r"(?P<indent> {0,3})[-*+](?:[ \t]+|$)")
_CHECKBOX = re.compile(r"(?P<indent> {0,3})[-*+][ \t]+\[[ xX]\](?:[ \t]+(?P<rest>.*))?")
_THEMATIC_BREAK = re.compile(r" {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*")
_FENCE_OPEN = re.compile(r"(?P<indent> {0,3})(?P<fence>`{3,}(?!.*`)|~{3,}).*")
_FENCE_CLOSE = re.compile(r" {0,3}(?P<fence>`{3,}|~{3,})[ \t]*")
_ID_MARK = re.compile(r"(?P<before>.*?)[ \t]*\{#(?P<id>[^{}]*)\}[ \t]*")
_APPROVAL_MARK = re.compile(r"(?P<before>.*?)[ \t]*\(approval[ \t]*:(?P<role>[^()]*)\)[ \t]*", re.IGNORECASE)
_LINK_LINE = re.compile(
    r"\[(?P<text>(?:[^\\\[\]\n]|\\.)*)\]\((?:<(?P<angled>[^<>\n]*)>|(?P<plain>[^\s()<>]*))\)"
)
_AUTOLINK_LINE = re.compile(r"<(?P<href>[A-Za-z][A-Za-z0-9+.-]{1,31}:[^<>\s]*)>")
_BARE_URL_LINE = re.compile(r"https?://[^\s<>]+")
_CODE_SPAN_LINE = re.compile(r"`(?P<code>[^`]+)`")


def _indent(line: str) -> int:
    """Columns of leading white space, a tab reaching the next multiple of four (CommonMark)."""
    width = 0
    for char in line:
        if char == " ":
            width += 1
        elif char == "\t":
            width += 4 - width % 4
        else:
            break
    return width


def _dedent(line: str, columns: int) -> str:
    """`line` less `columns` columns of leading white space; a tab that straddles is split."""
    width = 0
    for index, char in enumerate(line):
        if width >= columns or char not in " \t":
            return " " * (width - columns) + line[index:]
        width += 1 if char == " " else 4 - width % 4
    return " " * max(width - columns, 0)


def _blank(line: str) -> bool:
    return not line.strip(" \t")


def _block(lines: list[str]) -> str:
    """Prose as kept: verbatim, less leading and trailing blank lines."""
    start, end = 0, len(lines)
    while start < end and _blank(lines[start]):
        start += 1
    while end > start and _blank(lines[end - 1]):
        end -= 1
    return "\n".join(lines[start:end])


def _closes(fence: str, line: str) -> bool:
    found = _FENCE_CLOSE.fullmatch(line)
    return found is not None and found["fence"][0] == fence[0] and len(found["fence"]) >= len(fence)


def _interrupts(line: str) -> bool:
    """Whether `line` starts a block of its own rather than continue a paragraph (CommonMark)."""
    stripped = line.lstrip(" \t")
    return bool(
        _BULLET.match(line)
        or _THEMATIC_BREAK.fullmatch(line)
        or _FENCE_OPEN.fullmatch(line)
        or re.match(r"#{1,6}(?:[ \t]|$)", stripped)
        or stripped.startswith(">")
        or re.match(r"1[.)](?:[ \t]|$)", stripped)
    )


def _slug(text: str) -> str:
    """A step id made from its text: what a file without `{#id}` gets."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link counts by its text
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")[:60].rstrip("-")


@dataclass(slots=True)
class _Draft:
    """A step as read so far."""

    line: int
    id: str | None
    approval: str | None
    text: list[str]
    link: Link | None = None
    link_line: int = 0
    command: str | None = None
    command_line: int = 0


@dataclass(slots=True)
class _Reader:
    text: str
    file: str
    problems: list[Problem] = field(default_factory=list)

    def problem(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.file, line, message))

    def read(self) -> tuple[Runbook, int]:
        """The runbook and the line of its id."""
        lines = self.text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if not lines or lines[0].rstrip() != "---":
            self.problem(1, "a runbook file starts with front matter: a --- line, id, title, version…")
            raise RunbookFileError(self.problems)
        end = next((i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")), None)
        if end is None:
            self.problem(1, "the front matter is not closed: end it with a --- line")
            raise RunbookFileError(self.problems)
        front = self._front("\n".join(lines[1:end]))
        description, steps, afterword = self._body(lines[end + 1 :], end + 2)
        if not steps and not self.problems:
            self.problem(end + 1, "no steps: a runbook lists its steps as `- [ ] …` items")
        if self.problems:
            raise RunbookFileError(self.problems)
        try:
            runbook = Runbook(
                id=front["id"],
                title=front["title"],
                version=front["version"],
                steps=tuple(steps),
                applies_to=front["applies_to"],
                last_reviewed=front["last_reviewed"],
                description=description,
                afterword=afterword,
            )
        except ValueError as exc:  # a rule the checks above missed: still the file's fault
            raise RunbookFileError([Problem(self.file, 1, str(exc))]) from None
        return runbook, front["id_line"]

    # -- front matter --

    def _front(self, text: str) -> dict[str, Any]:
        """The front matter's fields, checked; problems are recorded, with the file's lines."""
        out: dict[str, Any] = {"applies_to": AppliesTo(), "id_line": 1}
        loader = yaml.SafeLoader(text)
        try:
            try:
                node = loader.get_single_node()
            except yaml.MarkedYAMLError as exc:
                line = exc.problem_mark.line + 2 if exc.problem_mark is not None else 1
                self.problem(line, f"front matter: {exc.problem or exc}")
                return out
            if node is None:
                self.problem(1, f"front matter: empty ({', '.join(REQUIRED_KEYS)} are required)")
                return out
            if not isinstance(node, yaml.MappingNode):
                self.problem(2, f"front matter: must be `key: value` lines ({', '.join(REQUIRED_KEYS)}…)")
                return out
            found = self._keys(node, FRONT_KEYS, "")
            for key in REQUIRED_KEYS:
                if key not in found:
                    self.problem(1, f"front matter: {key} is missing")
            for key, value_node in found.items():
                line = value_node.start_mark.line + 2
                try:
                    value = loader.construct_object(value_node, deep=True)
                except (yaml.YAMLError, ValueError) as exc:
                    self.problem(line, f"{key}: {exc}")
                    continue
                if key == "applies_to":
                    out[key] = self._applies_to(loader, value_node)
                else:
                    checked = self._field(key, value, line)
                    if checked is not None:
                        out[key] = checked
                if key == "id":
                    out["id_line"] = line
            return out
        finally:
            loader.dispose()

    def _keys(self, node: yaml.MappingNode, known: tuple[str, ...], where: str) -> dict[str, yaml.Node]:
        found: dict[str, yaml.Node] = {}
        lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 2
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str) or key not in known:
                self.problem(line, f"{where}unknown key {key!r} (known: {', '.join(known)})")
            elif key in found:
                self.problem(line, f"{where}{key} is given twice (also at line {lines[key]})")
            else:
                found[key], lines[key] = value_node, line
        return found

    def _field(self, key: str, value: Any, line: int) -> Any:
        match key:
            case "id" if isinstance(value, str) and ID_PATTERN.fullmatch(value):
                return value
            case "id":
                self.problem(line, "id: use a-z, 0-9, - and _, up to 100 characters (e.g. disk-full)")
            case "title" if isinstance(value, str) and one_line(value.strip()):
                return value.strip()
            case "title":
                self.problem(line, "title: must be one line of text")
            case "version" if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
                return value
            case "version":
                self.problem(line, "version: must be a whole number, 1 or more")
            case "last_reviewed":
                if isinstance(value, date) and not isinstance(value, datetime):
                    return value
                if isinstance(value, str):
                    try:
                        return date.fromisoformat(value.strip())
                    except ValueError:
                        pass
                self.problem(line, "last_reviewed: must be a date, as 2026-01-31")
        return None

    def _applies_to(self, loader: yaml.SafeLoader, node: yaml.Node) -> AppliesTo:
        line = node.start_mark.line + 2
        if not isinstance(node, yaml.MappingNode):
            self.problem(line, "applies_to: must hold service: and/or match: lines")
            return AppliesTo()
        found = self._keys(node, APPLIES_KEYS, "applies_to: ")
        service: str | None = None
        matchers: list[Matcher] = []
        if "service" in found:
            value_node = found["service"]
            value = loader.construct_object(value_node, deep=True)
            if isinstance(value, str) and one_line(value.strip()):
                service = value.strip()
            else:
                self.problem(value_node.start_mark.line + 2, "service: must be a service's name")
        if "match" in found:
            value_node = found["match"]
            if not isinstance(value_node, yaml.SequenceNode):
                self.problem(
                    value_node.start_mark.line + 2,
                    'match: a list, one matcher a line: - alertname="DiskFull"',
                )
                return AppliesTo(service)
            for item in value_node.value:
                item_line = item.start_mark.line + 2
                text = loader.construct_object(item, deep=True) if isinstance(item, yaml.ScalarNode) else None
                if not isinstance(text, str):
                    self.problem(item_line, 'match: each matcher is text, as alertname="DiskFull"')
                    continue
                try:
                    matchers.append(parse_matcher(text))
                except ValueError as exc:
                    self.problem(item_line, f"match: {exc}")
        return AppliesTo(service, tuple(matchers))

    # -- the Markdown --

    def _body(self, lines: list[str], first: int) -> tuple[str, list[Step], str]:
        """Description, steps and afterword of the lines after the front matter (`first` is the
        file's line number of lines[0])."""
        before: list[str] = []
        after: list[str] = []
        drafts: list[_Draft] = []
        state = "before"  # → "steps" at the first step, → "after" at the first text after them
        fence: str | None = None  # the open code fence in prose, whose lines are never steps
        index = 0
        while index < len(lines):
            line, number = lines[index], first + index
            prose = before if state == "before" else after
            if fence is not None:
                prose.append(line)
                if _closes(fence, line):
                    fence = None
                index += 1
                continue
            if _CHECKBOX.fullmatch(line):
                if state == "after":
                    self.problem(
                        number, "a step after the text that follows the checklist: keep the steps in one list"
                    )
                else:
                    state = "steps"
                index = self._step(lines, index, first, drafts)
                continue
            if state == "steps":
                if _blank(line):
                    index += 1
                    continue
                if _BULLET.match(line) and not _THEMATIC_BREAK.fullmatch(line):
                    self.problem(
                        number,
                        "a list item without [ ] among the steps: make it a step (- [ ] …) "
                        "or indent it under the step above",
                    )
                    index += 1
                    continue
                state, prose = "after", after
            prose.append(line)
            opened = _FENCE_OPEN.fullmatch(line)
            fence = opened["fence"] if opened else None
            index += 1
        return _block(before), self._steps(drafts), _block(after)

    def _step(self, lines: list[str], index: int, first: int, drafts: list[_Draft]) -> int:
        """Read the step at lines[index] into `drafts`; the index of the first line after it."""
        item = _CHECKBOX.fullmatch(lines[index])
        assert item is not None
        number = first + index
        column = len(item["indent"]) + 2  # continuation lines are indented under the bullet
        draft = self._first_line(item["rest"] or "", number)
        drafts.append(draft)
        mode = "text"  # or "fence", "code" (an indented code block)
        fence, fence_indent, fence_line, code = "", 0, 0, list[str]()
        previous_blank, paragraph = False, True  # paragraph: a lazy continuation line may follow
        index += 1
        while index < len(lines):
            raw, number = lines[index], first + index
            inside = _indent(raw) >= column or _blank(raw)
            if mode == "fence":
                if not inside:
                    break
                line = _dedent(raw, column)
                if _closes(fence, line):
                    self._command(draft, "\n".join(code), fence_line)
                    mode, paragraph = "text", False
                else:
                    code.append(
                        _dedent(line, fence_indent) if _indent(line) >= fence_indent else line.lstrip()
                    )
                index += 1
                continue
            if _blank(raw):
                ahead = index
                while ahead < len(lines) and _blank(lines[ahead]):
                    ahead += 1
                if ahead == len(lines) or _indent(lines[ahead]) < column:
                    break  # the step ends here; the blank lines are between steps
                (code if mode == "code" else draft.text).append("")
                previous_blank, paragraph = True, False
                index += 1
                continue
            if _indent(raw) >= column:
                line = _dedent(raw, column)
            elif paragraph and not _interrupts(raw) and mode == "text":
                line = raw.lstrip(" \t")  # a lazy continuation of the paragraph, as in Markdown
            else:
                break
            index += 1
            if mode == "code":
                if _indent(line) >= 4:
                    code.append(_dedent(line, 4))
                    continue
                self._command(draft, _block(code), fence_line)
                mode = "text"
            if previous_blank and _indent(line) >= 4:
                mode, code, fence_line = "code", [_dedent(line, 4)], number
                previous_blank = paragraph = False
                continue
            previous_blank, paragraph = False, True
            opened = _FENCE_OPEN.fullmatch(line)
            if opened:
                mode, fence, fence_indent, fence_line, code = (
                    "fence",
                    opened["fence"],
                    len(opened["indent"]),
                    number,
                    [],
                )
                paragraph = False
            elif _CHECKBOX.fullmatch(line):
                self.problem(number, "a nested checklist item: make it a step of its own, or drop its [ ]")
            elif link := _link(line.strip()):
                if draft.link is not None:
                    self.problem(
                        number, f"a second link: a step has one (the first is at line {draft.link_line})"
                    )
                elif not link.href:
                    self.problem(number, "the link has no address")
                else:
                    draft.link, draft.link_line = link, number
            elif found := _CODE_SPAN_LINE.fullmatch(line.strip()):
                self._command(draft, found["code"].strip(), number)
            else:
                draft.text.append(line)
        if mode == "fence":
            self.problem(fence_line, f"the code block is not closed: end it with {fence}")
        elif mode == "code":
            self._command(draft, _block(code), fence_line)
        return index

    def _first_line(self, rest: str, number: int) -> _Draft:
        step_id: str | None = None
        approval: str | None = None
        for _ in range(2):  # the two marks, in either order
            if step_id is None and (found := _ID_MARK.fullmatch(rest)):
                step_id, rest = found["id"].strip(), found["before"]
                if not ID_PATTERN.fullmatch(step_id):
                    self.problem(number, f"step id {{#{step_id}}}: use a-z, 0-9, - and _")
            elif approval is None and (found := _APPROVAL_MARK.fullmatch(rest)):
                approval, rest = found["role"].strip(), found["before"]
                if not ROLE_PATTERN.fullmatch(approval):
                    self.problem(number, f"(approval: {approval}): name one role, as (approval: manager)")
        text = rest.strip()
        if not text:
            self.problem(number, "a step without text: write what to do after the [ ]")
        return _Draft(number, step_id, approval, [text])

    def _command(self, draft: _Draft, command: str, number: int) -> None:
        if draft.command is not None:
            self.problem(
                number, f"a second command: a step has one (the first is at line {draft.command_line})"
            )
        elif not command.strip():
            self.problem(number, "an empty command")
        else:
            draft.command, draft.command_line = command, number

    def _steps(self, drafts: list[_Draft]) -> list[Step]:
        steps: list[Step] = []
        lines: dict[str, int] = {}
        for draft in drafts:
            text = _step_text(draft.text)
            step_id = draft.id if draft.id is not None else _slug(text.split("\n", 1)[0])
            if draft.id is None and not step_id:
                self.problem(draft.line, "give this step an id at the end of its line, as {#check-disk}")
                continue
            if step_id in lines:
                self.problem(
                    draft.line,
                    f"step id {step_id!r} is also that of the step at line {lines[step_id]}; "
                    "give one an id of its own, as {#another-id}",
                )
                continue
            lines[step_id] = draft.line
            if not text or not ID_PATTERN.fullmatch(step_id):
                continue  # already reported
            try:
                steps.append(Step(step_id, text, draft.link, draft.command, draft.approval or None))
            except ValueError as exc:
                self.problem(draft.line, str(exc))
        return steps


def _step_text(lines: list[str]) -> str:
    """A step's text lines as Markdown: blank lines collapsed, none at either end."""
    kept: list[str] = []
    for line in lines:
        if _blank(line):
            if kept and kept[-1]:
                kept.append("")
        else:
            kept.append(line)
    while kept and not kept[-1]:
        kept.pop()
    return "\n".join(kept)


def _link(line: str) -> Link | None:
    if found := _LINK_LINE.fullmatch(line):
        href = found["angled"] if found["angled"] is not None else found["plain"]
        return Link(href, re.sub(r"\\([\\\[\]])", r"\1", found["text"]))
    if found := _AUTOLINK_LINE.fullmatch(line):
        return Link(found["href"])
    if _BARE_URL_LINE.fullmatch(line):
        return Link(line)
    return None


# -- writing --


class _Dumper(yaml.SafeDumper):
    """Lists indented under their key, as people write them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def export(runbook: Runbook) -> str:
    """`runbook` as the text of its Markdown file, which `parse` reads back as the same Runbook.

    Raises ValueError when a runbook cannot be written so (a line of step text holding only a link
    would read back as the step's link, a runbook without last_reviewed…), naming what.
    """
    text = _write(runbook)
    try:
        back = parse(text, f"<{runbook.id}>")
    except RunbookFileError as exc:
        raise ValueError(
            f"runbook {runbook.id} cannot be written as a file: {exc.problems[0].message}"
        ) from None
    if back != runbook:
        raise ValueError(
            f"runbook {runbook.id} cannot be written as a file that reads back the same: "
            f"{_difference(runbook, back)} would change"
        )
    return text


def export_dir(runbooks: Iterable[Runbook], path: str | Path) -> list[Path]:
    """Write each runbook to `path`/ID.md (the folder is made if need be); the paths written.

    Every runbook is exported before any file is written, and each file is replaced whole.
    """
    root = Path(path)
    texts: dict[str, str] = {}
    for runbook in runbooks:
        if runbook.id in texts:
            raise ValueError(f"two runbooks with the id {runbook.id!r}")
        texts[runbook.id] = export(runbook)
    root.mkdir(parents=True, exist_ok=True)
    written = []
    for runbook_id, text in texts.items():
        target = root / f"{runbook_id}.md"
        fd, temporary = tempfile.mkstemp(dir=root, prefix=f".{runbook_id}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
                out.write(text)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        written.append(target)
    return written


def _write(runbook: Runbook) -> str:
    front: dict[str, Any] = {
        "id": runbook.id,
        "title": runbook.title,
        "version": runbook.version,
        "last_reviewed": runbook.last_reviewed,
    }
    applies = runbook.applies_to
    if applies.service is not None or applies.matchers:
        front["applies_to"] = {}
        if applies.service is not None:
            front["applies_to"]["service"] = applies.service
        if applies.matchers:
            front["applies_to"]["match"] = [str(matcher) for matcher in applies.matchers]
    header = yaml.dump(
        front, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1 << 30
    )
    out = ["---", header.rstrip("\n"), "---", ""]
    if runbook.description:
        out += [runbook.description, ""]
    items = [_write_step(step) for step in runbook.steps]
    spaced = any(len(item) > 1 for item in items)  # long steps read better apart
    for number, item in enumerate(items):
        if spaced and number:
            out.append("")
        out += item
    if runbook.afterword:
        out += ["", runbook.afterword]
    return "\n".join(out) + "\n"


def _write_step(step: Step) -> list[str]:
    first, *more = step.text.split("\n")
    head = f"- [ ] {first}"
    if step.approval is not None:
        head += f" (approval: {step.approval})"
    lines = [f"{head} {{#{step.id}}}", *more]
    if step.link is not None:
        lines.append(_write_link(step.link))
    if step.command is not None:
        command = step.command
        if "\n" in command or "`" in command or command != command.strip():
            runs = [len(run) for run in re.findall(r"`+", command)]
            fence = "`" * max(3, *(run + 1 for run in runs)) if runs else "```"
            lines += [fence, *command.split("\n"), fence]
        else:
            lines.append(f"`{command}`")
    return [lines[0], *(f"  {line}" if line else "" for line in lines[1:])]


def _write_link(link: Link) -> str:
    href = link.href
    destination = href if re.fullmatch(r"[^\s()<>]+", href) else f"<{href}>"
    if not link.text and _AUTOLINK_LINE.fullmatch(f"<{href}>"):
        return f"<{href}>"
    text = re.sub(r"([\\\[\]])", r"\\\1", link.text)
    return f"[{text}]({destination})"


def _difference(runbook: Runbook, back: Runbook) -> str:
    for each in fields(Runbook):
        if getattr(runbook, each.name) != getattr(back, each.name):
            if each.name != "steps" or len(runbook.steps) != len(back.steps):
                return each.name
            step, other = next((a, b) for a, b in zip(runbook.steps, back.steps, strict=True) if a != b)
            name = next(f.name for f in fields(Step) if getattr(step, f.name) != getattr(other, f.name))
            return f"the {name} of step {step.id}"
    return "something"  # pragma: no cover - called only when the two differ
