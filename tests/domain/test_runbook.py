"""Runbooks and their runs (sync.md §3): which alerts a runbook applies to, and the tick merge, an
observed-remove set in which a tick survives a concurrent untick and the step is flagged."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.domain.clock import Hlc, HybridClock, to_ms
from console.domain.incident import Alert, AlertStatus, Link
from console.domain.priority import Priority, Severity
from console.domain.runbook import (
    AppliesTo,
    Matcher,
    MatchOp,
    Run,
    Runbook,
    RunOp,
    RunOpKind,
    RunOpRejected,
    Step,
    alert_fields,
    apply,
    attach,
    describe,
    is_stale,
    log,
    make_op,
    matches,
    merge,
    parse_matcher,
    progress,
    run_op_args,
    run_op_from_args,
    runbook_from_annotation,
    runbook_url_of,
    start_run,
    step_state,
    step_states,
    timeline_body,
)

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
_ids = itertools.count()

RUNBOOK = Runbook(
    "checkout-errors",
    "checkout-api: high error rate",
    3,
    (
        Step("dashboard", "Open the dashboard", link=Link("https://grafana.example.com/d/c", "Errors")),
        Step("deploys", "Check recent deploys", command="kubectl rollout history deploy/checkout-api"),
        Step("failover", "Fail over to the secondary provider", approval="manager"),
    ),
    AppliesTo("checkout-api", (Matcher("alertname", MatchOp.REGEX, "CheckoutHigh.*"),)),
    last_reviewed=date(2026, 1, 12),
)


def fresh() -> Run:
    return start_run(RUNBOOK, run_id="run1", incident_id="i1")


def stamp(ms: int = 0, node: str = "a") -> Hlc:
    return Hlc(to_ms(T0) + ms, 0, node)


def act(run: Run, kind: RunOpKind, step_id: str, actor: str = "ann", ms: int = 0, **more: Any) -> RunOp:
    """An op made on a console holding `run`, so it observes what that replica has."""
    return make_op(run, kind, step_id, op_id=f"op{next(_ids)}", actor=actor, hlc=stamp(ms, actor), **more)


def fold(run: Run, ops: list[RunOp]) -> Run:
    for op in ops:
        run = apply(run, op)
    return run


# -- the merge, by example --


def test_a_tick_and_a_concurrent_untick_leave_the_step_done_and_flagged() -> None:
    ticked = apply(fresh(), act(fresh(), RunOpKind.TICK, "deploys", "ann"))
    untick = act(ticked, RunOpKind.UNTICK, "deploys", "bob", ms=10)  # bob saw ann's tick
    again = act(ticked, RunOpKind.TICK, "deploys", "cat", ms=5)  # cat ticks too, not seeing bob's untick
    for order in ([untick, again], [again, untick]):
        state = step_state(fold(ticked, order), "deploys")
        assert state.done
        assert state.conflict
        assert [claim.actor for claim in state.claims] == ["cat"]  # ann's tick was undone
        assert [op.actor for op in state.conflicts] == ["bob"]


def test_an_untick_that_saw_the_tick_undoes_it() -> None:
    ticked = apply(fresh(), act(fresh(), RunOpKind.TICK, "deploys"))
    unticked = apply(ticked, act(ticked, RunOpKind.UNTICK, "deploys", "bob", ms=10))
    state = step_state(unticked, "deploys")
    assert not state.done
    assert not state.conflict


def test_an_untick_undoes_only_the_ticks_it_saw() -> None:
    ticked = apply(fresh(), act(fresh(), RunOpKind.TICK, "deploys", "ann"))
    unseen = act(fresh(), RunOpKind.TICK, "deploys", "cat", ms=3)  # made on a console that saw nothing
    untick = act(ticked, RunOpKind.UNTICK, "deploys", "bob", ms=10)
    state = step_state(fold(ticked, [untick, unseen]), "deploys")
    assert state.done
    assert [claim.actor for claim in state.claims] == ["cat"]
    assert state.conflict  # cat's tick and bob's untick did not see each other


def test_a_tick_after_seeing_the_untick_is_no_conflict() -> None:
    ticked = apply(fresh(), act(fresh(), RunOpKind.TICK, "deploys"))
    unticked = apply(ticked, act(ticked, RunOpKind.UNTICK, "deploys", "bob", ms=10))
    redone = apply(unticked, act(unticked, RunOpKind.TICK, "deploys", "cat", ms=20))
    state = step_state(redone, "deploys")
    assert state.done
    assert not state.conflict


def test_a_claim_that_saw_both_sides_settles_the_conflict() -> None:
    ticked = apply(fresh(), act(fresh(), RunOpKind.TICK, "deploys", "ann"))
    conflicted = fold(
        ticked,
        [
            act(ticked, RunOpKind.UNTICK, "deploys", "bob", 10),
            act(ticked, RunOpKind.TICK, "deploys", "cat", 5),
        ],
    )
    assert step_state(conflicted, "deploys").conflict
    confirmed = apply(conflicted, act(conflicted, RunOpKind.TICK, "deploys", "dan", 30))
    state = step_state(confirmed, "deploys")
    assert state.done
    assert not state.conflict
    assert [claim.actor for claim in state.claims] == ["cat", "dan"]  # done twice shows


def test_the_same_op_delivered_twice_is_applied_once() -> None:
    tick = act(fresh(), RunOpKind.TICK, "deploys")
    once = apply(fresh(), tick)
    assert apply(once, tick) == once
    assert len(log(apply(once, tick))) == 1


def test_a_reused_op_id_with_other_content_is_rejected() -> None:
    tick = act(fresh(), RunOpKind.TICK, "deploys")
    other = RunOp(tick.op_id, "run1", RunOpKind.TICK, "dashboard", "ann", tick.hlc)
    with pytest.raises(RunOpRejected, match="op_id"):
        apply(apply(fresh(), tick), other)


def test_notes_are_kept_per_step_in_clock_order() -> None:
    run = fresh()
    later = act(run, RunOpKind.NOTE, "deploys", "bob", 50, text="rolled back to v41")
    earlier = act(run, RunOpKind.NOTE, "deploys", "ann", 10, text="v42 went out at 08:55")
    run = fold(run, [later, earlier])
    assert [note.text for note in step_state(run, "deploys").notes] == [
        "v42 went out at 08:55",
        "rolled back to v41",
    ]
    assert not step_state(run, "deploys").done
    assert step_state(run, "dashboard").notes == ()


# -- approval --


def test_a_step_that_needs_approval_is_not_done_by_a_tick() -> None:
    with pytest.raises(RunOpRejected, match="needs approval by a manager"):
        act(fresh(), RunOpKind.TICK, "failover")
    tick = RunOp("op-x", "run1", RunOpKind.TICK, "failover", "ann", stamp())
    with pytest.raises(RunOpRejected):  # the server refuses it too, whatever it has seen
        apply(fresh(), tick)
    assert step_state(fresh(), "failover").awaiting_approval


def test_only_the_named_role_can_approve() -> None:
    with pytest.raises(RunOpRejected, match="Only a manager can approve"):
        act(fresh(), RunOpKind.APPROVE, "failover", "ann", role="responder")
    approved = apply(fresh(), act(fresh(), RunOpKind.APPROVE, "failover", "meg", role="manager"))
    state = step_state(approved, "failover")
    assert state.done
    assert not state.awaiting_approval
    assert (
        describe(approved, state.claims[0]) == "meg approved “Fail over to the secondary provider” as manager"
    )


def test_an_override_needs_a_reason_which_goes_on_the_timeline() -> None:
    with pytest.raises(RunOpRejected, match="needs a reason"):
        act(fresh(), RunOpKind.OVERRIDE, "failover", text="   ")
    override = act(fresh(), RunOpKind.OVERRIDE, "failover", text="no manager reachable; checkout is down")
    run = apply(fresh(), override)
    assert step_state(run, "failover").done
    body = timeline_body(run, override)
    assert body["action"] == "override"
    assert body["reason"] == "no manager reachable; checkout is down"
    assert (body["runbook_id"], body["runbook_version"], body["step_id"]) == (
        "checkout-errors",
        3,
        "failover",
    )


def test_approval_and_override_are_refused_on_steps_that_need_none() -> None:
    with pytest.raises(RunOpRejected, match="needs no approval"):
        act(fresh(), RunOpKind.APPROVE, "deploys", role="manager")
    with pytest.raises(RunOpRejected, match="needs no approval"):
        act(fresh(), RunOpKind.OVERRIDE, "deploys", text="hurry")


def test_an_untick_of_an_approval_undoes_it() -> None:
    approved = apply(fresh(), act(fresh(), RunOpKind.APPROVE, "failover", "meg", role="manager"))
    undone = apply(approved, act(approved, RunOpKind.UNTICK, "failover", "meg", 10))
    assert step_state(undone, "failover").awaiting_approval


@pytest.mark.parametrize(
    ("op", "reason"),
    [
        (RunOp("o1", "run2", RunOpKind.TICK, "deploys", "ann", Hlc(0)), "run_id"),
        (RunOp("o1", "run1", RunOpKind.TICK, "nope", "ann", Hlc(0)), "step_id"),
        (RunOp("o1", "run1", RunOpKind.TICK, "deploys", " ", Hlc(0)), "actor"),
        (RunOp("o1", "run1", RunOpKind.UNTICK, "deploys", "ann", Hlc(0)), "observed"),
        (RunOp("o1", "run1", RunOpKind.TICK, "deploys", "ann", Hlc(0), frozenset({"o1"})), "observed"),
        (RunOp("o1", "run1", RunOpKind.NOTE, "deploys", "ann", Hlc(0), text=""), "text"),
    ],
)
def test_ops_that_can_never_apply_are_rejected_naming_the_field(op: RunOp, reason: str) -> None:
    with pytest.raises(RunOpRejected, match=f"^{reason}:"):
        apply(fresh(), op)


def test_an_untick_of_a_step_that_is_not_done_is_not_made() -> None:
    with pytest.raises(RunOpRejected, match="not done"):
        act(fresh(), RunOpKind.UNTICK, "deploys")


# -- what the incident row and the log show --


def test_progress_counts_done_steps_and_conflicts() -> None:
    run = fresh()
    assert str(progress(run)) == "0/3"
    run = apply(run, act(run, RunOpKind.TICK, "dashboard"))
    ticked = apply(run, act(run, RunOpKind.TICK, "deploys"))
    run = fold(
        ticked,
        [
            act(ticked, RunOpKind.UNTICK, "deploys", "bob", 9),
            act(ticked, RunOpKind.TICK, "deploys", "cat", 9),
        ],
    )
    shown = progress(run)
    assert (str(shown), shown.conflicts) == ("2/3", 1)


def test_the_log_says_who_did_what_and_when_in_clock_order() -> None:
    run = fresh()
    tick = act(run, RunOpKind.TICK, "dashboard", "bob", 2_000)
    note = act(run, RunOpKind.NOTE, "dashboard", "ann", 1_000, text="errors since 08:55")
    run = fold(run, [tick, note])
    assert [(op.actor, op.kind, op.at) for op in log(run)] == [
        ("ann", RunOpKind.NOTE, stamp(1_000).time),
        ("bob", RunOpKind.TICK, stamp(2_000).time),
    ]
    assert [describe(run, op) for op in log(run)] == [
        "ann noted on “Open the dashboard”: errors since 08:55",
        "bob ticked “Open the dashboard”",
    ]


def test_ops_cross_the_wire_and_come_back_the_same() -> None:
    ticked = apply(fresh(), act(fresh(), RunOpKind.TICK, "deploys"))
    for op in (
        act(ticked, RunOpKind.UNTICK, "deploys", "bob", 3),
        act(ticked, RunOpKind.OVERRIDE, "failover", "bob", 4, text="down"),
        act(ticked, RunOpKind.APPROVE, "failover", "meg", 5, role="manager"),
        act(ticked, RunOpKind.NOTE, "deploys", "bob", 6, text="v41"),
    ):
        back = run_op_from_args(
            op_id=op.op_id,
            run_id=op.run_id,
            kind=op.kind.value,
            args=run_op_args(op),
            actor=op.actor,
            hlc=op.hlc,
        )
        assert back == op


@pytest.mark.parametrize(
    ("kind", "args", "field"),
    [
        ("explode", {"step_id": "a"}, "type"),
        ("tick", {}, "step_id"),
        ("untick", {"step_id": "a", "observed": "op1"}, "observed"),
        ("note", {"step_id": "a", "text": 3}, "text"),
    ],
)
def test_wire_args_are_checked_naming_the_field(kind: str, args: dict[str, Any], field: str) -> None:
    with pytest.raises(RunOpRejected, match=f"^{field}:"):
        run_op_from_args(op_id="o", run_id="r", kind=kind, args=args, actor="ann", hlc=Hlc(0))


# -- the merge, as properties: consoles working offline, syncing in any order --

STEPS = [step.id for step in RUNBOOK.steps]
USERS = ["ann", "bob", "cat"]

# Weighted towards one step and towards ticks and unticks, so that consoles often disagree.
STEP_CHOICES = ["deploys", "deploys", "deploys", "failover", "failover", "dashboard"]
KIND_CHOICES = [RunOpKind.TICK, RunOpKind.TICK, RunOpKind.UNTICK, RunOpKind.UNTICK, RunOpKind.UNTICK]
KIND_CHOICES += [RunOpKind.APPROVE, RunOpKind.OVERRIDE, RunOpKind.NOTE]
actions = st.lists(
    st.one_of(
        st.tuples(
            st.just("act"), st.integers(0, 2), st.sampled_from(STEP_CHOICES), st.sampled_from(KIND_CHOICES)
        ),
        st.tuples(st.just("sync"), st.integers(0, 2), st.integers(0, 2)),
    ),
    min_size=4,
    max_size=30,
)


def simulate(script: list[tuple[Any, ...]]) -> tuple[list[Run], list[RunOp]]:
    """Three consoles acting on their own replicas and syncing pairwise as the script says; the
    replicas and every op made."""
    replicas = [fresh() for _ in USERS]
    clocks = [HybridClock(user, lambda: to_ms(T0)) for user in USERS]
    made: list[RunOp] = []
    for action in script:
        if action[0] == "sync":
            _, source, target = action
            replicas[target] = merge(replicas[target], replicas[source])
            continue
        _, who, step_id, kind = action
        role = "manager" if kind is RunOpKind.APPROVE else ""
        text = "why not" if kind in (RunOpKind.NOTE, RunOpKind.OVERRIDE) else ""
        try:
            op = make_op(
                replicas[who], kind, step_id, op_id=f"op{len(made)}", actor=USERS[who],
                hlc=clocks[who].tick(), role=role, text=text,
            )  # fmt: skip
        except RunOpRejected:
            continue  # the console would not offer it (a tick of an approval step, an untick of nothing)
        replicas[who] = apply(replicas[who], op)
        made.append(op)
    return replicas, made


@settings(max_examples=200, deadline=None)
@given(actions, st.randoms(use_true_random=False))
def test_every_delivery_order_with_repeats_gives_the_same_run(
    script: list[tuple[Any, ...]], rng: Any
) -> None:
    _, made = simulate(script)
    reference = fold(fresh(), made)
    delivered = [*made, *rng.sample(made, k=len(made) // 2)]  # some delivered twice
    rng.shuffle(delivered)
    shuffled = fold(fresh(), delivered)
    assert shuffled == reference
    assert step_states(shuffled) == step_states(reference)
    assert progress(shuffled) == progress(reference)


@settings(max_examples=200, deadline=None)
@given(actions)
def test_replicas_that_saw_the_same_ops_agree(script: list[tuple[Any, ...]]) -> None:
    replicas, made = simulate(script)
    for index in range(len(replicas)):  # everyone syncs with everyone at the end
        for other in replicas:
            replicas[index] = merge(replicas[index], other)
    assert all(replica == replicas[0] for replica in replicas)
    assert replicas[0] == fold(fresh(), made)


@settings(max_examples=200, deadline=None)
@given(actions)
def test_a_tick_no_untick_saw_keeps_its_step_done(script: list[tuple[Any, ...]]) -> None:
    """Add-wins: whatever happened concurrently, a claim that no untick observed stands, and the
    step is flagged when an untick did not see it, unless someone later saw both."""
    _, made = simulate(script)
    run = fold(fresh(), made)
    for state in step_states(run):
        ops = [op for op in made if op.step_id == state.step.id]
        unticks = [op for op in ops if op.kind is RunOpKind.UNTICK]
        claims = [op for op in ops if op.kind in (RunOpKind.TICK, RunOpKind.APPROVE, RunOpKind.OVERRIDE)]
        standing = [c for c in claims if not any(c.op_id in u.observed for u in unticks)]
        assert state.done == bool(standing)
        assert set(state.claims) == set(standing)
        for claim in standing:
            for untick in unticks:
                blind = claim.op_id not in untick.observed and untick.op_id not in claim.observed
                seen_both = any({claim.op_id, untick.op_id} <= op.observed for op in ops)
                if blind and not seen_both:
                    assert untick in state.conflicts


@settings(max_examples=200, deadline=None)
@given(actions, st.sampled_from(["deploys", "failover"]), st.randoms(use_true_random=False))
def test_a_tick_and_an_untick_made_apart_end_done_and_flagged_in_any_order(
    script: list[tuple[Any, ...]], step_id: str, rng: Any
) -> None:
    _, made = simulate(script)
    claim = (
        {"kind": RunOpKind.TICK} if step_id == "deploys" else {"kind": RunOpKind.APPROVE, "role": "manager"}
    )
    base = fold(fresh(), made)  # two consoles that have both seen all of it
    if not step_state(base, step_id).done:
        base = apply(base, make_op(base, step_id=step_id, op_id="first", actor="ann", hlc=stamp(), **claim))
    untick = make_op(base, RunOpKind.UNTICK, step_id, op_id="undo", actor="bob", hlc=stamp(5, "bob"))
    tick = make_op(base, step_id=step_id, op_id="redo", actor="cat", hlc=stamp(5, "cat"), **claim)
    delivered = [*base.ops.values(), untick, tick]
    delivered += rng.sample(delivered, k=len(delivered) // 2)
    rng.shuffle(delivered)
    state = step_state(fold(fresh(), delivered), step_id)
    assert state.done
    assert tick in state.claims
    assert state.conflicts == (untick,)
    assert len(state.claims) == 1  # whatever the untick saw is undone


def test_an_untick_made_after_seeing_everything_leaves_the_step_undone() -> None:
    run = fresh()
    for user in USERS:
        run = apply(run, act(run, RunOpKind.TICK, "deploys", user))
    assert len(step_state(run, "deploys").claims) == 3
    run = apply(run, act(run, RunOpKind.UNTICK, "deploys", "dan", 99))
    assert not step_state(run, "deploys").done
    assert not step_state(run, "deploys").conflict


# -- which runbooks apply --


def alert(**labels: str) -> Alert:
    return Alert(
        "a1", "i1", 7, 1, "fp1", "g", AlertStatus.TRIGGERED, "Checkout 5xx above 2%", "checkout-7f9",
        Severity.CRITICAL, Priority.HIGH, T0, T0, labels=labels,
        details={"annotations": {"runbook_url": "https://wiki.example.com/checkout"}},
        links=(Link("https://wiki.example.com/checkout", "Runbook"),),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("service", "labels", "expected"),
    [
        ("checkout-api", {"alertname": "CheckoutHighErrorRate"}, True),
        ("checkout-api", {"alertname": "xCheckoutHighErrorRate"}, False),  # a regex matches the whole value
        ("search-api", {"alertname": "CheckoutHighErrorRate"}, False),
        (None, {"alertname": "CheckoutHighErrorRate"}, False),
        ("checkout-api", {}, False),
    ],
)
def test_matches_needs_the_service_and_every_matcher(
    service: str | None, labels: dict[str, str], expected: bool
) -> None:
    assert matches(RUNBOOK, service, labels) is expected


@pytest.mark.parametrize(
    ("matcher", "fields", "expected"),
    [
        ('env="prod"', {"env": "prod"}, True),
        ('env="prod"', {}, False),
        ('env=""', {}, True),  # a missing label is the empty string (Alertmanager)
        ('env!="staging"', {}, True),
        ("env!=staging", {"env": "staging"}, False),
        ('instance=~"db-[0-9]+"', {"instance": "db-12"}, True),
        ('instance=~"db-[0-9]+"', {"instance": "db-12:9100"}, False),
        ('mountpoint!~"/(boot|snap/.*)"', {"mountpoint": "/snap/core/1"}, False),
        ('mountpoint!~"/(boot|snap/.*)"', {"mountpoint": "/var"}, True),
        ('summary=~".*5xx.*"', {"summary": "Checkout 5xx above 2%"}, True),
    ],
)
def test_matchers_follow_alertmanager(matcher: str, fields: dict[str, str], expected: bool) -> None:
    assert parse_matcher(matcher).test(fields) is expected


def test_a_runbook_without_service_or_matchers_is_only_started_by_hand() -> None:
    by_hand = Runbook("by-hand", "By hand", 1, (Step("a", "Do it"),))
    assert not matches(by_hand, "checkout-api", {"alertname": "x"})


def test_matchers_see_alert_fields_and_labels_which_win() -> None:
    fields = alert_fields(alert(severity="page", env="prod"))
    assert fields["severity"] == "page"  # the label, not the field's "critical"
    assert fields["summary"] == "Checkout 5xx above 2%"
    assert fields["source"] == "checkout-7f9"
    assert parse_matcher('source=~"checkout-.*"').test(fields)


@given(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True),
    st.sampled_from(list(MatchOp)),
    st.text(max_size=12),
)
def test_a_matcher_reads_back_from_its_text(name: str, op: MatchOp, value: str) -> None:
    if op in (MatchOp.REGEX, MatchOp.NOT_REGEX):
        value = f"(?:{re.escape(value)})+"  # any valid expression
    matcher = Matcher(name, op, value)
    assert parse_matcher(str(matcher)) == matcher


@pytest.mark.parametrize("text", ["alertname", '="x"', 'a=~"("', 'a="unclosed', 'a=b"c', "9a=b"])
def test_bad_matchers_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r".+"):
        parse_matcher(text)


def test_a_runbook_url_annotation_becomes_a_link_step() -> None:
    url = runbook_url_of(alert())
    assert url == "https://wiki.example.com/checkout"
    made = runbook_from_annotation(url)
    assert made == runbook_from_annotation(url)  # the same URL, the same runbook
    assert made.id != runbook_from_annotation(url + "/2").id
    assert made.title == "Runbook at wiki.example.com/checkout"
    assert [(step.link, step.approval) for step in made.steps] == [(Link(url, "Runbook"), None)]
    assert not is_stale(made, date(2030, 1, 1), 90)  # reviewed where it lives


@pytest.mark.parametrize(
    ("url", "title"),
    [
        ("https://wiki.example.com/a b/ /", "Runbook at wiki.example.com/a b/"),
        ("https:// /", "Runbook"),
        (f"https://wiki.example.com/{'x' * 61} {'y' * 30}", f"Runbook at wiki.example.com/{'x' * 61}…"),
    ],
)
def test_a_runbook_url_with_spaces_still_makes_a_runbook(url: str, title: str) -> None:
    """Alertmanager passes annotations through as written: a space must not make the engine pass
    that attaches runbooks fail on every round."""
    assert runbook_from_annotation(url).title == title


def test_attach_adds_the_annotation_unless_a_matching_runbook_links_it() -> None:
    fields = {"alertname": "CheckoutHighErrorRate"}
    attached = attach([RUNBOOK], service="checkout-api", fields=fields, runbook_url="https://wiki/x")
    assert len(attached) == 2
    assert attached[0] == RUNBOOK
    assert attached[1].steps[0].link == Link("https://wiki/x", "Runbook")
    linked = attach(
        [RUNBOOK], service="checkout-api", fields=fields, runbook_url="https://grafana.example.com/d/c"
    )
    assert linked == [RUNBOOK]
    assert attach([RUNBOOK], service="search-api", fields=fields, runbook_url=None) == []


@pytest.mark.parametrize(("today", "stale"), [(date(2026, 4, 12), False), (date(2026, 4, 13), True)])
def test_a_runbook_is_stale_after_max_age_days_without_review(today: date, stale: bool) -> None:
    assert is_stale(RUNBOOK, today, 90) is stale  # reviewed 2026-01-12


@pytest.mark.parametrize(
    "make",
    [
        lambda: Step("Bad Id", "x"),
        lambda: Step("a", " padded "),
        lambda: Step("a", "x", approval="two words"),
        lambda: Runbook("r", "t", 0, (Step("a", "x"),)),
        lambda: Runbook("r", "t", 1, ()),
        lambda: Runbook("r", "t", 1, (Step("a", "x"), Step("a", "y"))),
        lambda: Matcher("a", MatchOp.REGEX, "("),
    ],
)
def test_values_that_break_the_model_are_refused(make: Any) -> None:
    with pytest.raises(ValueError, match=r".+"):
        make()
