"""Runbook files: Markdown with YAML front matter in, the same Runbook out; bad files are refused
naming the file and the line."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.domain.incident import Link
from console.domain.runbook import AppliesTo, Matcher, MatchOp, Runbook, Step, matches, one_line
from console.runbook_files import Problem, RunbookFileError, export, export_dir, load, load_dir, parse

EXAMPLES = Path(__file__).resolve().parent.parent / "resources" / "runbooks"

FRONT = """\
---
id: db-failover
title: Database failover
version: 2
last_reviewed: 2026-03-01
---
"""


def doc(body: str, front: str = FRONT) -> str:
    return front + textwrap.dedent(body)


def test_the_example_runbooks_load_and_are_written_in_the_canonical_form() -> None:
    runbooks = load_dir(EXAMPLES)  # the README beside them is not a runbook
    assert {runbook.id for runbook in runbooks} == {
        "checkout-api-high-error-rate",
        "disk-full",
        "tls-certificate-expiry",
    }
    for runbook in runbooks:
        assert export(runbook) == (EXAMPLES / f"{runbook.id}.md").read_text()


def test_the_example_runbooks_attach_to_their_alerts() -> None:
    by_id = {runbook.id: runbook for runbook in load_dir(EXAMPLES)}
    checkout = by_id["checkout-api-high-error-rate"]
    assert matches(checkout, "checkout-api", {"alertname": "CheckoutHigh5xxRate", "env": "prod"})
    assert not matches(checkout, "checkout-api", {"alertname": "CheckoutHigh5xxRate", "env": "staging"})
    disk = by_id["disk-full"]
    assert matches(disk, "db", {"alertname": "NodeFilesystemAlmostOutOfSpace", "mountpoint": "/var"})
    assert not matches(disk, "db", {"alertname": "NodeFilesystemAlmostOutOfSpace", "mountpoint": "/boot"})
    failover = checkout.step("psp-failover")
    assert failover is not None
    assert failover.approval == "manager"


def test_the_example_in_the_readme_is_a_runbook() -> None:
    readme = (EXAMPLES / "README.md").read_text()
    example = readme.split("```markdown\n", 1)[1].split("\n```\n", 1)[0]
    runbook = parse(example, "README.md")
    assert [(step.id, step.approval) for step in runbook.steps] == [("du", None), ("grow-volume", "manager")]
    assert runbook.steps[0].command == "sudo du -xh --max-depth=2 / | sort -h | tail -20"
    assert parse(export(runbook)) == runbook


def test_a_file_reads_as_its_parts() -> None:
    runbook = parse(
        doc(
            """
            Read this first.

            - [ ] Check replication lag {#lag}
              [Replication dashboard](https://grafana.example.com/d/repl)
              `psql -c 'select now() - pg_last_xact_replay_timestamp()'`
            - [ ] Promote the replica (approval: manager) {#promote}
              Only when the primary is gone for good.

                  pg_ctl promote -D /var/lib/postgresql/data
                  echo done

              Then point the service at it.

            ## Afterwards

            Write the postmortem.
            """,
            front=FRONT.replace("2026-03-01\n", "2026-03-01\napplies_to:\n  service: db\n"),
        )
    )
    assert runbook == Runbook(
        "db-failover",
        "Database failover",
        2,
        (
            Step(
                "lag",
                "Check replication lag",
                link=Link("https://grafana.example.com/d/repl", "Replication dashboard"),
                command="psql -c 'select now() - pg_last_xact_replay_timestamp()'",
            ),
            Step(
                "promote",
                "Promote the replica\nOnly when the primary is gone for good."
                "\n\nThen point the service at it.",
                command="pg_ctl promote -D /var/lib/postgresql/data\necho done",
                approval="manager",
            ),
        ),
        AppliesTo("db"),
        date(2026, 3, 1),
        "Read this first.",
        "## Afterwards\n\nWrite the postmortem.",
    )


def test_the_forms_people_write_read_the_same() -> None:
    loose = parse(
        "\ufeff"
        + doc(
            """
            * [x] Check the  [primary](https://db.example.com) (approval: dba) {#check}
            continues lazily
              <https://wiki.example.com/db>
            + [ ] Restart it
              ~~~sh
              systemctl restart postgresql
              ~~~
            """
        ).replace("\n", "\r\n")
    )
    first, second = loose.steps
    assert first == Step(
        "check",
        "Check the  [primary](https://db.example.com)\ncontinues lazily",  # a link in a sentence stays text
        link=Link("https://wiki.example.com/db"),
        approval="dba",
    )
    assert second == Step("restart-it", "Restart it", command="systemctl restart postgresql")
    assert parse(export(loose)) == loose


def test_a_checkbox_inside_a_code_block_of_the_description_is_not_a_step() -> None:
    runbook = parse(doc("```\n- [ ] not a step\n```\n\n- [ ] A step {#a}\n"))
    assert runbook.description == "```\n- [ ] not a step\n```"
    assert [step.id for step in runbook.steps] == ["a"]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("# no front matter\n- [ ] x\n", 1, "starts with front matter"),
        ("---\nid: x\n", 1, "not closed"),
        (FRONT.replace("version: 2", "version: two"), 4, "version: must be a whole number"),
        (FRONT.replace("version: 2", "version: 0"), 4, "version"),
        (FRONT.replace("id: db-failover", "id: DB Failover"), 2, "id: use a-z"),
        (FRONT.replace("last_reviewed: 2026-03-01", "last_reviewed: last week"), 5, "last_reviewed"),
        (FRONT.replace("last_reviewed: 2026-03-01", "last_reviewed: 2026-02-30"), 5, "last_reviewed"),
        (FRONT.replace("title: Database failover\n", ""), 1, "title is missing"),
        (FRONT.replace("title: Database failover", "title: db: failover"), 3, "front matter:"),
        (FRONT.replace("version: 2", "version: 2\nowner: dba"), 5, "unknown key 'owner'"),
        (FRONT.replace("version: 2", "version: 2\nversion: 3"), 5, "version is given twice (also at line 4)"),
        (FRONT.replace("version: 2", "applies_to:\n  match: severity=critical"), 5, "match: a list"),
        (
            FRONT.replace("version: 2", 'version: 2\napplies_to:\n  match:\n    - a=~"("'),
            7,
            "regular expression",
        ),
        (
            FRONT.replace("version: 2", "version: 2\napplies_to:\n  match:\n    - severity"),
            7,
            "not a matcher",
        ),
        (FRONT.replace("version: 2", "version: 2\napplies_to:\n  servce: db"), 6, "unknown key 'servce'"),
        (FRONT + "\nJust prose.\n", 6, "no steps"),
        (FRONT + "\n- [ ] {#a}\n", 8, "without text"),
        (FRONT + "\n- [ ] A {#Not An Id}\n", 8, "step id"),
        (FRONT + "\n- [ ] A (approval: two roles) {#a}\n", 8, "approval"),
        (FRONT + "\n- [ ] A {#a}\n- [ ] B {#a}\n", 9, "step id 'a' is also that of the step at line 8"),
        (FRONT + "\n- [ ] Same\n- [ ] Same\n", 9, "give one an id"),
        (FRONT + "\n- [ ] !!! {#a}\n- [ ] ???\n", 9, "give this step an id"),
        (FRONT + "\n- [ ] A {#a}\n  - [ ] nested\n", 9, "nested checklist item"),
        (FRONT + "\n- [ ] A {#a}\n- plain\n", 9, "list item without [ ]"),
        (FRONT + "\n- [ ] A {#a}\n\nProse.\n\n- [ ] B {#b}\n", 12, "keep the steps in one list"),
        (FRONT + "\n- [ ] A {#a}\n  https://a.example\n  https://b.example\n", 10, "a second link"),
        (
            FRONT + "\n- [ ] A {#a}\n  `ls`\n  `pwd`\n",
            10,
            "a second command: a step has one (the first is at line 9)",
        ),
        (FRONT + "\n- [ ] A {#a}\n  ```\n  ls\n", 9, "not closed"),
        (FRONT + "\n- [ ] A {#a}\n  [x]()\n", 9, "no address"),
    ],
)
def test_a_bad_file_is_refused_naming_the_file_and_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(RunbookFileError) as refused:
        parse(text, "runbooks/db.md")
    assert any(
        problem.file == "runbooks/db.md" and problem.line == line and message in problem.message
        for problem in refused.value.problems
    ), refused.value.problems
    assert f"runbooks/db.md:{line}: " in str(refused.value)


def test_load_dir_reports_every_bad_file_and_ids_used_twice(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(FRONT + "\n- [ ] A {#a}\n")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "b.md").write_text(FRONT + "\n- [ ] B {#b}\n")  # the same id as a.md
    (tmp_path / "c.md").write_text(FRONT.replace("version: 2", "version: -1") + "\n- [ ] {#c}\n")
    (tmp_path / "d.md").write_bytes(FRONT.encode() + b"\n- [ ] caf\xe9\n")
    (tmp_path / "README.md").write_text("# Our runbooks\n")
    (tmp_path / "notes.txt").write_text("not markdown")
    with pytest.raises(RunbookFileError) as refused:
        load_dir(tmp_path)
    assert set(refused.value.problems) == {
        Problem(str(tmp_path / "c.md"), 4, "version: must be a whole number, 1 or more"),
        Problem(str(tmp_path / "c.md"), 8, "a step without text: write what to do after the [ ]"),
        Problem(str(tmp_path / "d.md"), 8, "not UTF-8 text"),
        Problem(
            str(tmp_path / "nested" / "b.md"), 2, f"id: 'db-failover' is also the id of {tmp_path / 'a.md'}"
        ),
    }


def test_export_dir_writes_one_file_per_runbook_that_load_dir_reads_back(tmp_path: Path) -> None:
    runbooks = load_dir(EXAMPLES)
    written = export_dir(runbooks, tmp_path / "out")
    assert sorted(path.name for path in written) == sorted(f"{runbook.id}.md" for runbook in runbooks)
    assert sorted(load_dir(tmp_path / "out"), key=lambda r: r.id) == sorted(runbooks, key=lambda r: r.id)
    assert load(written[0]) in runbooks
    assert not [path for path in (tmp_path / "out").iterdir() if path.suffix != ".md"]  # no temporary left


def test_a_runbook_that_would_read_back_otherwise_is_not_exported() -> None:
    linkish = Runbook(
        "r", "R", 1, (Step("a", "Do it\n[docs](https://x.example)"),), last_reviewed=date(2026, 1, 1)
    )
    with pytest.raises(ValueError, match="the text of step a would change"):
        export(linkish)
    never_reviewed = Runbook("r", "R", 1, (Step("a", "Do it"),))
    with pytest.raises(ValueError, match="last_reviewed"):
        export(never_reviewed)


# -- round trip, as a property --

WORD = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEZ0123456789éßü✓日本"), min_size=1, max_size=8)
PUNCTUATED = st.sampled_from(
    ["**bold**", "`code`", "(see below)", "a:b", "#3", "50%", "'quoted'", '"q"', "x_y"]
)
# a line starts with a word: a line of only code or only a link would be read as the step's command or link
SENTENCE = st.builds(
    lambda first, rest: " ".join([first, *rest]), WORD, st.lists(WORD | PUNCTUATED, max_size=5)
)
PARAGRAPH = st.lists(SENTENCE, min_size=1, max_size=3).map("\n".join)
MARKDOWN = st.lists(PARAGRAPH, min_size=1, max_size=2).map("\n\n".join)
PROSE = st.one_of(
    st.just(""), MARKDOWN, st.builds(lambda title, body: f"## {title}\n\n{body}", SENTENCE, MARKDOWN)
)
IDS = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,15}", fullmatch=True)
COMMAND_LINE = st.text(st.sampled_from("abcxyz -_./|$\"'`~*\\{}()<>&;="), min_size=1, max_size=20)
COMMAND = st.one_of(
    COMMAND_LINE.filter(lambda cmd: cmd.strip() != ""),
    st.lists(COMMAND_LINE, min_size=1, max_size=4).map("\n".join).filter(lambda cmd: cmd.strip() != ""),
)
URL = st.builds(
    lambda host, path: f"https://{host}.example.com/{path}",
    st.from_regex(r"[a-z]{1,8}", fullmatch=True),
    st.text(st.sampled_from("abc/-_?=&#%().~ "), max_size=12).map(str.strip),
)
LINK = st.builds(Link, URL, st.one_of(st.just(""), SENTENCE, st.just("see [this] \\ or that")))
ROLE = st.from_regex(r"[a-z][a-z0-9_.-]{0,10}", fullmatch=True)


@st.composite
def runbooks(draw: st.DrawFn) -> Runbook:
    ids = draw(st.lists(IDS, min_size=1, max_size=5, unique=True))
    steps = tuple(
        Step(
            step_id,
            draw(MARKDOWN),
            draw(st.none() | LINK),
            draw(st.none() | COMMAND),
            draw(st.none() | ROLE),
        )
        for step_id in ids
    )
    name = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
    matcher = st.builds(
        Matcher, name, st.sampled_from([MatchOp.EQUAL, MatchOp.NOT_EQUAL]), st.text(max_size=10)
    )
    regex = st.builds(
        Matcher, st.sampled_from(["alertname", "job"]), st.sampled_from([MatchOp.REGEX, MatchOp.NOT_REGEX]),
        st.sampled_from(["Disk.*", "(a|b)+", "x\\d{2}", ""]),
    )  # fmt: skip
    service = st.none() | st.text(min_size=1, max_size=12).map(str.strip).filter(one_line)
    return Runbook(
        draw(IDS),
        draw(st.text(min_size=1, max_size=30).map(str.strip).filter(one_line)),
        draw(st.integers(1, 10_000)),
        steps,
        AppliesTo(draw(service), tuple(draw(st.lists(matcher | regex, max_size=3)))),
        draw(st.dates()),
        draw(PROSE),
        draw(PROSE),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runbooks())
def test_a_runbook_exported_and_read_back_is_the_same(runbook: Runbook) -> None:
    text = export(runbook)
    assert parse(text) == runbook
    assert export(parse(text)) == text


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from(" \t\n-*+[]x(){}#:`~>aA1<https:/."), max_size=200))
def test_any_body_reads_as_a_runbook_or_as_problems_with_lines(body: str) -> None:
    text = FRONT + body
    problems: tuple[Problem, ...] = ()
    try:
        runbook: Runbook | None = parse(text, "fuzz.md")
    except RunbookFileError as refused:
        runbook, problems = None, refused.problems
    if runbook is None:
        assert problems
        assert all(1 <= problem.line <= text.count("\n") + 1 for problem in problems)
    else:
        assert runbook.steps
