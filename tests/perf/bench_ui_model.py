"""Incident table benchmark: IncidentTableModel and IncidentFilter over synthetic incidents, on Qt's
offscreen platform. It measures and prints; it asserts no timing.

    /work/venv/bin/python -m tests.perf.bench_ui_model                       # 100,000 incidents, a view
    /work/venv/bin/python -m tests.perf.bench_ui_model --no-view             # the models alone
    /work/venv/bin/python -m tests.perf.bench_ui_model --incidents 20000 --runs 1

Each figure is split in two: the models' part (the action, then the filter's re-mapping, forced
with rowCount() when no view asks) and then the view's part (the Qt events left: a shown
QTableView's handling of the signals and its repaint, about 30 ms of text rendering here).
  1. load: set_incidents() of N IncidentViews (about 12% open, 40% high, 60 services, 40 people),
     with the filter's first mapping.
  2. filters: each setter of IncidentFilter in turn (status, priority, a service, mine, text
     searches, an id prefix, a number), typing a search one key at a time, several at once, clear.
     Target <= 100 ms each at 100,000. The floor is Qt calling filterAcceptsRow() in Python once
     per row, about 0.8-1 us a call: "undone" (no filter, every row accepted) shows it.
  3. updates into the loaded model, with a row selected and the "open" filter on: update() with
     the full list where 200 incidents changed or are new, upsert() with just those 200, update()
     with nothing changed, and upsert() with nothing selected.
  4. sorting by columns and back to the default order; refresh_ages().
Resident memory (VmRSS) is printed before the incidents are made, after, and after the load.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QApplication, QTableView

from console.domain.ids import uuid7
from console.domain.incident import Incident
from console.domain.priority import Priority
from console.domain.status import Rank, Status
from console.domain.views import IncidentView
from console.ui.incident_model import (
    Column,
    IncidentCriteria,
    IncidentFilter,
    IncidentTableModel,
    statuses_from,
)

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
WORDS = ("disk", "full", "latency", "high", "errors", "5xx", "timeout", "queue", "backlog", "cert",
         "expired", "memory", "pressure", "replica", "lag", "down", "unreachable", "slow", "checkout",
         "payments", "login", "dns", "cpu", "throttled", "pod", "crashloop", "kafka", "consumer")  # fmt: skip
PEOPLE = [f"person{n:02d}" for n in range(40)]
SERVICES = [f"service-{n:02d}" for n in range(60)]


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def make_views(count: int, seed: int = 7) -> list[IncidentView]:
    rng = random.Random(seed)
    views = []
    for number in range(1, count + 1):
        draw = rng.random()
        rank = (Rank.TRIGGERED if draw < 0.05 else Rank.ACKNOWLEDGED if draw < 0.12
                else Rank.RESOLVED if draw < 0.8 else Rank.CLOSED)  # fmt: skip
        created = NOW - timedelta(seconds=rng.randrange(90 * 86400))
        incident = Incident(
            id=uuid7(),
            number=number,
            service_id=rng.randrange(len(SERVICES)),
            title=" ".join(rng.sample(WORDS, 4)) + f" on node{rng.randrange(500)}",
            priority=Priority.HIGH if rng.random() < 0.4 else Priority.LOW,
            category="general",
            status=Status(0, rank),
            created_at=created,
            updated_at=created,
            alert_count=1,
            open_alerts=1 if rank < Rank.RESOLVED else 0,
            acknowledged_at=created + timedelta(minutes=3) if rank >= Rank.ACKNOWLEDGED else None,
            resolved_at=created + timedelta(hours=1) if rank >= Rank.RESOLVED else None,
            assignee=rng.choice(PEOPLE) if rank >= Rank.ACKNOWLEDGED else None,
        )
        views.append(IncidentView(incident, SERVICES[incident.service_id], 0))
    return views


def storm(
    views: list[IncidentView], changes: int, seed: int = 11
) -> tuple[list[IncidentView], list[IncidentView]]:
    """The list after an alert storm: changes/2 incidents changed (acknowledged, resolved, taken),
    changes/2 new ones; returns (every view, the changed and new ones)."""
    rng = random.Random(seed)
    out = list(views)
    delta = []
    for position in rng.sample(range(len(out)), changes // 2):
        incident = out[position].incident
        if incident.status.rank == Rank.TRIGGERED:
            status = Status(0, Rank.ACKNOWLEDGED)
        elif incident.status.rank == Rank.ACKNOWLEDGED:
            status = Status(0, Rank.RESOLVED)
        else:
            status = incident.status
        changed = replace(incident, status=status, assignee=rng.choice(PEOPLE), updated_at=NOW)
        out[position] = IncidentView(changed, out[position].service, unsynced=rng.choice((0, 1)))
        delta.append(out[position])
    top = max(view.incident.number for view in views)
    fresh = make_views(changes - changes // 2, seed=seed + 1)
    for n, view in enumerate(fresh, start=1):
        incident = replace(
            view.incident,
            number=top + n,
            status=Status(0, Rank.TRIGGERED),
            created_at=NOW,
            updated_at=NOW,
            resolved_at=None,
            acknowledged_at=None,
            assignee=None,
        )
        delta.append(IncidentView(incident, view.service))
        out.append(delta[-1])
    return out, delta


class Bench:
    """Times an action until its effect on the models is complete (the filter re-mapped), then
    separately the Qt events it left (a shown view's repaint, which calls data() per visible cell)."""

    def __init__(self, app: QApplication, proxy: IncidentFilter) -> None:
        self.app = app
        self.proxy = proxy

    def time(self, action: Callable[[], object]) -> tuple[float, float]:
        started = time.perf_counter()
        action()
        self.proxy.rowCount()  # the proxy maps lazily when no view asks: make it map now
        done = time.perf_counter()
        self.app.processEvents()
        return (done - started) * 1000, (time.perf_counter() - done) * 1000

    @staticmethod
    def line(label: str, timings: list[tuple[float, float]], extra: str = "") -> None:
        models = [model for model, _view in timings]
        view = statistics.median(view for _model, view in timings)
        spread = f" (max {max(models):.0f})" if len(models) > 1 else ""
        print(f"  {label:<40}{statistics.median(models):8.1f} ms{spread:<11}  + view {view:5.1f} ms  {extra}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=200, help="changed + new incidents in an update")
    parser.add_argument("--runs", type=int, default=3, help="repeats of each filter change")
    parser.add_argument("--no-view", dest="view", action="store_false", help="no QTableView on the filter")
    args = parser.parse_args()

    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    gc.collect()
    rss_start = rss_mb()
    print(f"Incident table: {args.incidents:,} incidents, {'with' if args.view else 'without'} a QTableView "
          "(times: models and proxy done; then the view's share)")  # fmt: skip
    print(f"  RSS before making incidents {rss_start:8.1f} MB")
    started = time.perf_counter()
    views = make_views(args.incidents)
    made = (time.perf_counter() - started) * 1000
    gc.collect()
    rss_views = rss_mb()
    grown = rss_views - rss_start
    print(f"  RSS with the IncidentViews  {rss_views:8.1f} MB  (+{grown:.1f}, made in {made:.0f} ms)")

    model = IncidentTableModel(clock=lambda: NOW)
    proxy = IncidentFilter(model)
    bench = Bench(app, proxy)
    table: QTableView | None = None
    if args.view:
        table = QTableView()
        table.resize(1400, 900)
        table.setModel(proxy)
        table.show()
        app.processEvents()

    print("\n1. load")
    bench.line("set_incidents() and the first mapping", [bench.time(lambda: model.set_incidents(views))])
    gc.collect()
    rss_loaded = rss_mb()
    print(
        f"  RSS after the load          {rss_loaded:8.1f} MB  (+{rss_loaded - rss_views:.1f} for the models)"
    )

    print(f"\n2. filters: each setter, then undone (median of {args.runs})")
    some_id = views[len(views) // 2].incident.id
    steps: list[tuple[str, Callable[[], None], Callable[[], None]]] = [
        ("status: open", lambda: proxy.set_statuses("open"), lambda: proxy.set_statuses(None)),
        ("status: resolved", lambda: proxy.set_statuses({"resolved"}), lambda: proxy.set_statuses(None)),
        ("priority: high", lambda: proxy.set_priority("high"), lambda: proxy.set_priority(None)),
        ("service: service-07", lambda: proxy.set_service("service-07"), lambda: proxy.set_service(None)),
        ("mine: person03", lambda: proxy.set_mine("person03"), lambda: proxy.set_mine(None)),
        ("text: 'disk'", lambda: proxy.set_text("disk"), lambda: proxy.set_text("")),
        ("text: 'disk full node4'", lambda: proxy.set_text("disk full node4"), lambda: proxy.set_text("")),
        ("text: 'd'", lambda: proxy.set_text("d"), lambda: proxy.set_text("")),
        ("text: an id prefix (23 chars)", lambda: proxy.set_text(some_id[:23]), lambda: proxy.set_text("")),
        ("text: '#4242'", lambda: proxy.set_text("#4242"), lambda: proxy.set_text("")),
    ]  # fmt: skip
    for label, apply, undo in steps:
        forward, back = [], []
        for _ in range(args.runs):
            forward.append(bench.time(apply))
            shown = proxy.rowCount()
            back.append(bench.time(undo))
        undone = statistics.median(model for model, _view in back)
        bench.line(label, forward, f"{shown:>7,} shown; undone in {undone:.0f} ms")
    keys = []
    for typed in ("d", "di", "dis", "disk", "disk f", "disk fu", "disk ful", "disk full"):
        keys.append(bench.time(lambda typed=typed: proxy.set_text(typed)))  # type: ignore[misc]
    bench.line("typing 'disk full', per key", keys, f"{proxy.rowCount():>7,} shown")
    proxy.set_text("")

    def combine() -> None:
        proxy.set_criteria(IncidentCriteria(statuses_from("open"), Priority.HIGH, None, None, "disk"))

    bench.line("open + high + 'disk' (set_criteria)", [bench.time(combine)], f"{proxy.rowCount():>7,} shown")
    bench.line("clear()", [bench.time(proxy.clear)])

    print(f"\n3. updates of {args.changes} incidents (half changed, half new), 'open' filter on")
    proxy.set_statuses("open")
    selection = table.selectionModel() if table is not None else QItemSelectionModel(proxy)
    chosen = proxy.index(proxy.rowCount() // 2, 0)
    chosen_id = proxy.incident_id(chosen.row())
    rows_flag = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
    selection.select(chosen, rows_flag)

    def kept() -> str:
        held = [proxy.incident_id(index.row()) for index in selection.selectedRows()]
        return f"selection kept: {held == [chosen_id]}"

    after, _delta = storm(views, args.changes)
    bench.line("update(): every view, diffed by id", [bench.time(lambda: model.update(after))], kept())
    again, delta = storm(after, args.changes, seed=12)
    bench.line("upsert(): the changed and new ones", [bench.time(lambda: model.upsert(delta))], kept())
    bench.line("update() with nothing changed", [bench.time(lambda: model.update(again))])
    _later, delta = storm(again, args.changes, seed=13)
    selection.clear()
    bench.line("upsert(), nothing selected", [bench.time(lambda: model.upsert(delta))])
    proxy.set_statuses(None)

    print("\n4. sorting and ages, no filter")
    for label, column, order in (
        ("sort by title", Column.TITLE, Qt.SortOrder.AscendingOrder),
        ("sort by priority", Column.PRIORITY, Qt.SortOrder.AscendingOrder),
        ("sort by age, descending", Column.AGE, Qt.SortOrder.DescendingOrder),
        ("back to the default order", -1, Qt.SortOrder.AscendingOrder),
    ):
        bench.line(label, [bench.time(lambda column=column, order=order: proxy.sort(column, order))])  # type: ignore[misc]
    bench.line("refresh_ages()", [bench.time(model.refresh_ages)])
    gc.collect()
    print(f"\n  RSS at the end              {rss_mb():8.1f} MB")
    if table is not None:
        table.close()


if __name__ == "__main__":
    main()
