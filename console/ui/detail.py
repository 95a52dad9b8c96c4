"""One incident in full: the header a responder reads first, the alerts behind it, and its timeline.

Everything shown here comes from monitoring or from other people, so it is shown as plain text: labels
are PlainText, the alert and timeline views draw their models' strings as plain text, and the only
rich text (alert tooltips) is built from escaped strings. A summary of "<b>x</b>" reads "<b>x</b>".

The timeline is shown newest first: the latest thing that happened is what a responder opening an
incident needs, and the cause (the triggering alert) stays at the bottom.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QBrush, QFont, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QSplitter,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from console.domain.incident import EntryKind, Incident, TimelineEntry
from console.domain.priority import Priority
from console.domain.status import Rank
from console.domain.views import AlertView, EntryView, IncidentDetail, OutboxOp

EMPTY_TEXT = "Select an incident"
UNSYNCED_MARKER = "⟳ not synced yet"
LIST_LIMIT = 12  # alerts named in one timeline entry before "… and N more"

# Okabe-Ito colours with a shape and a word, never colour alone (desktop.md §10); black text on both
# keeps contrast above 4.5:1.
_PRIORITY_BADGE: dict[Priority, tuple[str, str]] = {
    Priority.HIGH: ("▲ HIGH", "#D55E00"),
    Priority.LOW: ("▽ low", "#56B4E9"),
}
_STATUS_SHAPE: dict[Rank, str] = {
    Rank.TRIGGERED: "● triggered",
    Rank.ACKNOWLEDGED: "◐ acknowledged",
    Rank.RESOLVED: "✓ resolved",
    Rank.CLOSED: "■ closed",
}
_ALERT_STATUS_SHAPE = {"triggered": "● triggered", "acknowledged": "◐ acknowledged", "resolved": "✓ resolved"}
_OP_WORDS = {
    "acknowledge": "Acknowledge",
    "resolve": "Resolve",
    "reopen": "Reopen",
    "note": "Note",
    "assign": "Assign",
    "priority": "Change priority",
    "snooze": "Snooze",
    "escalate": "Escalate",
    "report": "Report an incident",
}

ALERT_COLUMNS = ("Summary", "Source", "Severity", "Status", "Repeats", "Last seen")


def _utcnow() -> datetime:
    return datetime.now(UTC)


# -- time in words --


def relative(at: datetime, now: datetime) -> str:
    """`at` as an age ("3 min ago") or, in the future, a wait ("in 25 min")."""
    seconds = (now - at).total_seconds()
    ahead = seconds < 0
    seconds = abs(seconds)
    if seconds < 60:
        return "in under a minute" if ahead else "just now"
    if seconds < 90 * 60:
        amount = f"{int(seconds // 60)} min"
    elif seconds < 48 * 3600:
        amount = f"{int(seconds // 3600)} h"
    else:
        amount = f"{int(seconds // 86400)} d"
    return f"in {amount}" if ahead else f"{amount} ago"


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def local_time(at: datetime, now: datetime) -> str:
    """`at` in the local time zone: the time alone today, with the date otherwise.

    Formatted by hand: `strftime` imports a module on every call, and under PySide6's import hook
    that made a thousand timeline entries cost 20 ms."""
    here = at.astimezone()
    today = now.astimezone()
    clock = f"{here.hour:02d}:{here.minute:02d}"
    if (here.year, here.month, here.day) == (today.year, today.month, today.day):
        return clock
    if here.year == today.year:
        return f"{here.day:02d} {_MONTHS[here.month - 1]} {clock}"
    return f"{here.day:02d} {_MONTHS[here.month - 1]} {here.year} {clock}"


def when(at: datetime, now: datetime) -> str:
    return f"{local_time(at, now)} ({relative(at, now)})"


# -- timeline entries in words --


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _listed(body: Mapping[str, Any]) -> list[str] | None:
    """The summaries of an Alertmanager-shaped body (`{"alerts": [...], "count": N}`), or None."""
    alerts = body.get("alerts")
    if not isinstance(alerts, list):
        return None
    return [_text(a.get("summary")) if isinstance(a, Mapping) else _text(a) for a in alerts]


def _summary(body: Mapping[str, Any], summaries: Mapping[str, str]) -> str:
    """The summary of a single-alert body, looked up by alert id when the body carries none."""
    given = _text(body.get("summary"))
    if given:
        return given
    return summaries.get(_text(body.get("alert_id")), "")


def _paged(body: Mapping[str, Any]) -> str:
    level, repeat = body.get("level"), body.get("repeat")
    where = f"level {level}" if isinstance(level, int) else "a level"
    if isinstance(repeat, int) and repeat:
        where += f", pass {repeat + 1}"
    people = [_text(p) for p in body.get("users", ()) if isinstance(p, str)]
    nobody = [_text(s) for s in body.get("nobody_on_call", ()) if isinstance(s, str)]
    text = f"Paged {', '.join(people)} ({where})" if people else f"Nobody to page at {where}"
    if nobody:
        text += f"\nnobody on call in {', '.join(nobody)}"
    return text


def _alerts_phrase(
    body: Mapping[str, Any], summaries: Mapping[str, str], one: str, many: str, *, limit: int
) -> str:
    """ "<one>: summary" for a single alert, "<N> <many>:" and a bulleted list for a group."""
    listed = _listed(body)
    if listed is None:
        summary = _summary(body, summaries)
        return f"{one}: {summary}" if summary else one
    count = body.get("count")
    total = count if isinstance(count, int) and count >= len(listed) else len(listed)
    if total == 1 and listed:
        return f"{one}: {listed[0]}"
    lines = [f"{total} {many}:"]
    lines += [f"  • {s}" for s in listed[:limit]]
    if total > min(len(listed), limit):
        lines.append(f"  … and {total - min(len(listed), limit)} more")
    return "\n".join(lines)


_RUNBOOK_WORDS = {  # a runbook entry's action → how the timeline says it, of a step's title
    "tick": "Ticked runbook step",
    "untick": "Unticked runbook step",
    "approve": "Approved runbook step",
    "override": "Emergency override of runbook step",
    "note": "Note on runbook step",
}


def describe(
    entry: TimelineEntry,
    summaries: Mapping[str, str],
    now: datetime,
    *,
    limit: int = LIST_LIMIT,
) -> str:
    """What an entry says, in words a responder understands (without its time, actor or outcome)."""
    body = entry.body
    match entry.kind:
        case EntryKind.TRIGGERED:
            text = _alerts_phrase(
                body, summaries, "Triggered by an alert", "alerts triggered it", limit=limit
            )
            severity = _text(body.get("severity"))
            return f"{text} (severity {severity})" if severity else text
        case EntryKind.ALERT_ADDED:
            return _alerts_phrase(body, summaries, "Alert added", "alerts added", limit=limit)
        case EntryKind.ALERT_ATTACHED:
            return _alerts_phrase(
                body,
                summaries,
                "Alert of a dependent service attached",
                "alerts of dependent services attached",
                limit=limit,
            )
        case EntryKind.ALERT_REPEATED:
            text = _alerts_phrase(body, summaries, "Alert repeated", "alerts repeated", limit=limit)
            repeats = body.get("repeat_count")
            return f"{text} ({repeats} repeats so far)" if isinstance(repeats, int) else text
        case EntryKind.ALERT_RESOLVED:
            text = _alerts_phrase(body, summaries, "Alert resolved", "alerts resolved", limit=limit)
            still = body.get("open_alerts")
            return f"{text}\n{still} still open" if isinstance(still, int) else text
        case EntryKind.PRIORITY_RAISED:
            summary = _summary(body, summaries)
            return f"Priority raised to high by an alert: {summary}" if summary else "Priority raised to high"
        case EntryKind.ACKNOWLEDGED:
            summary = _summary(body, summaries)
            return f"Acknowledged at the source, alert: {summary}" if summary else "Acknowledged"
        case EntryKind.RESOLVED:
            summary = _summary(body, summaries)
            return f"Resolved: its last open alert resolved ({summary})" if summary else "Resolved"
        case EntryKind.REOPENED:
            return "Reopened"
        case EntryKind.NOTE:
            return f"Note:\n{_text(body.get('text'))}"
        case EntryKind.ASSIGNED:
            assignee = _text(body.get("assignee"))
            return f"Assigned to {assignee}" if assignee else "Unassigned"
        case EntryKind.PRIORITY_CHANGED:
            return f"Priority set to {_text(body.get('priority')) or '?'}"
        case EntryKind.SNOOZED:
            return f"Snoozed until {_until(body.get('until'), now)}"
        case EntryKind.ESCALATION_REQUESTED:
            return "Escalation requested: the next level is paged"
        case EntryKind.PAGED:
            return _paged(body)
        case EntryKind.ACK_TIMED_OUT:
            minutes = body.get("minutes")
            after = f" for {minutes} minutes" if isinstance(minutes, int) else ""
            return f"Acknowledged but no progress{after}: triggered again, paging restarts"
        case EntryKind.REPORTED:
            lines = [f"Reported by hand: {_text(body.get('title'))}"]
            if body.get("priority"):
                lines.append(f"priority {_text(body.get('priority'))}")
            if body.get("description"):
                lines.append(_text(body.get("description")))
            return "\n".join(lines)
        case EntryKind.RUNBOOK:
            words = _RUNBOOK_WORDS.get(_text(body.get("action")), "Runbook step")
            text = f"{words} “{_text(body.get('step'))}”"
            if body.get("role"):
                text += f" as {_text(body.get('role'))}"
            detail = body.get("reason") or body.get("text")
            return f"{text}:\n{_text(detail)}" if detail else text
        case _:  # EntryKind.CHANGE, also what the replica makes of kinds from a newer server
            summary = _text(body.get("summary"))
            source = _text(body.get("source"))
            text = f"Change: {summary}" if summary else "Change recorded"
            return f"{text} (from {source})" if source else text


def _until(value: Any, now: datetime) -> str:
    if isinstance(value, datetime):
        at: datetime | None = value
    else:
        try:
            at = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            at = None
    if at is None or at.tzinfo is None:
        return _text(value) or "?"
    return when(at, now)


def describe_op(op: OutboxOp) -> str:
    """An op the server refused, in the person's words."""
    what = _OP_WORDS.get(op.type, op.type)
    args = op.args
    match op.type:
        case "note":
            detail = _text(args.get("text"))
        case "assign":
            detail = _text(args.get("assignee")) or "nobody"
        case "priority":
            detail = _text(args.get("priority"))
        case "snooze":
            detail = _text(args.get("until"))
        case "report":
            detail = _text(args.get("title"))
        case _:
            detail = ""
    return f"{what}: {detail}" if detail else what


def first_acknowledgement(incident: Incident, timeline: Sequence[EntryView]) -> TimelineEntry | None:
    """Who acknowledged the current epoch first: the earliest acknowledged entry after the last
    reopen that took effect, or the late one whose time the incident kept as its first."""
    reopened_at: datetime | None = None
    for view in timeline:
        entry = view.entry
        if entry.kind is EntryKind.REOPENED and not entry.body.get("no_effect"):
            reopened_at = entry.at if reopened_at is None else max(reopened_at, entry.at)
    first: TimelineEntry | None = None
    for view in timeline:
        entry = view.entry
        if entry.kind is not EntryKind.ACKNOWLEDGED:
            continue
        epoch = entry.body.get("epoch")
        if isinstance(epoch, int) and epoch != incident.status.epoch:
            continue
        if reopened_at is not None and entry.at < reopened_at:
            continue
        if entry.body.get("no_effect") and entry.at != incident.acknowledged_at:
            continue
        if first is None or entry.at < first.at:
            first = entry
    return first


def _tooltip(lines: Iterable[str]) -> str:
    """Rich text built only from escaped lines: Qt guesses whether a tooltip is markup, so a plain
    tooltip holding "<b>" would be rendered; this one never interprets what it shows."""
    return "<qt>" + "<br>".join(html.escape(line).replace("  ", " &nbsp;") for line in lines) + "</qt>"


def _short(value: Any, limit: int = 300) -> str:
    text = _text(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def alert_tooltip(alert: AlertView, now: datetime) -> str:
    """Summary, first seen, labels, details and links, for hovering over an alert."""
    lines = [alert.summary, f"first seen {when(alert.first_seen, now)}"]
    if alert.labels:
        lines.append("Labels:")
        lines += [f"  {key}={_short(value)}" for key, value in sorted(alert.labels.items())]
    if alert.details:
        lines.append("Details:")
        lines += [f"  {key}: {_short(value)}" for key, value in sorted(alert.details.items())]
    links = [link for link in alert.links if isinstance(link, Mapping) and link.get("href")]
    if links:
        lines.append("Links:")
        lines += [
            f"  {_text(link.get('text')) or _text(link['href'])} — {_text(link['href'])}" for link in links
        ]
    return _tooltip(lines)


_DISPLAY = Qt.ItemDataRole.DisplayRole
_TOOLTIP = Qt.ItemDataRole.ToolTipRole
_FOREGROUND = Qt.ItemDataRole.ForegroundRole
_FONT = Qt.ItemDataRole.FontRole
_Index = QModelIndex | QPersistentModelIndex


class AlertsModel(QAbstractTableModel):
    """The incident's alerts, one row each: open ones first, then the most recently seen. Python
    models rather than item widgets: rows cost nothing until a view asks for them, and only the
    visible ones are asked for."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.alerts: list[AlertView] = []
        self._cells: list[tuple[str, ...]] = []
        self._tips: dict[int, str] = {}
        self._now = _utcnow()

    def show(self, alerts: Sequence[AlertView], now: datetime) -> None:
        self.beginResetModel()
        self.alerts = sorted(alerts, key=lambda a: (a.status == "resolved", -a.last_seen.timestamp()))
        self._cells = [
            (
                a.summary,
                a.source,
                a.severity or "—",
                _ALERT_STATUS_SHAPE.get(a.status, a.status),
                str(a.repeat_count),
                when(a.last_seen, now),
            )
            for a in self.alerts
        ]
        self._tips = {}
        self._now = now
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's own default
        return 0 if parent.isValid() else len(self._cells)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(ALERT_COLUMNS)

    def data(self, index: _Index, role: int = _DISPLAY) -> Any:
        if role == _DISPLAY:
            return self._cells[index.row()][index.column()]
        if role == _TOOLTIP:
            row = index.row()
            tip = self._tips.get(row)
            if tip is None:
                tip = self._tips[row] = alert_tooltip(self.alerts[row], self._now)
            return tip
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> Any:
        if role == _DISPLAY and orientation is Qt.Orientation.Horizontal:
            return ALERT_COLUMNS[section]
        return None


class TimelineModel(QAbstractListModel):
    """The timeline as text, one row per entry, newest first; "no effect" rows muted and italic."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.entries: list[EntryView] = []
        self._texts: list[str] = []
        self._muted: list[bool] = []
        self.muted_brush = QBrush()
        self.muted_font = QFont()

    def show(self, entries: list[EntryView], texts: list[str], muted: list[bool]) -> None:
        self.beginResetModel()
        self.entries, self._texts, self._muted = entries, texts, muted
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._texts)

    def data(self, index: _Index, role: int = _DISPLAY) -> Any:
        row = index.row()
        if role == _DISPLAY:
            return self._texts[row]
        if role == _FOREGROUND and self._muted[row]:
            return self.muted_brush
        if role == _FONT and self._muted[row]:
            return self.muted_font
        return None


def plain_label(text: str = "", *, wrap: bool = False) -> QLabel:
    """A label of plain text (names and notes are never read as HTML) the person can select."""
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setWordWrap(wrap)
    label.setText(text)
    return label


class IncidentDetailPane(QWidget):
    """The selected incident: header, alerts, timeline (newest first), and ops the server refused.

    `now` gives the current time (aware) for ages like "3 min ago"; tests hand in a fixed one.
    """

    def __init__(self, parent: QWidget | None = None, *, now: Callable[[], datetime] = _utcnow) -> None:
        super().__init__(parent)
        self._now = now
        self.detail: IncidentDetail | None = None
        self._badge: Priority | None = None

        self.empty_label = plain_label(EMPTY_TEXT)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)

        # header
        self.priority_label = plain_label()
        self.priority_label.setObjectName("priorityBadge")
        self.number_label = plain_label()
        self.title_label = plain_label(wrap=True)
        title_font = QFont(self.title_label.font())
        title_font.setBold(True)
        title_font.setPointSizeF(title_font.pointSizeF() * 1.3)
        self.title_label.setFont(title_font)
        top = QHBoxLayout()
        top.addWidget(self.priority_label)
        top.addWidget(self.number_label)
        top.addWidget(self.title_label, 1)

        self.service_label = plain_label()
        self.status_label = plain_label()
        self.ack_label = plain_label()
        self.assignee_label = plain_label()
        self.snoozed_label = plain_label()
        self.category_label = plain_label()
        self.description_label = plain_label(wrap=True)
        self.unsynced_label = plain_label()
        self._facts = QFormLayout()
        for name, label in (
            ("Service", self.service_label),
            ("Status", self.status_label),
            ("Acknowledged", self.ack_label),
            ("Assignee", self.assignee_label),
            ("Snoozed", self.snoozed_label),
            ("Category", self.category_label),
            ("Description", self.description_label),
        ):
            self._facts.addRow(name, label)

        header = QWidget()
        header_layout = QVBoxLayout(header)
        header_layout.setContentsMargins(0, 0, 0, 0)
        header_layout.addLayout(top)
        header_layout.addLayout(self._facts)
        header_layout.addWidget(self.unsynced_label)

        # alerts
        self.alerts_model = AlertsModel(self)
        self.alerts_tree = QTreeView()
        self.alerts_tree.setModel(self.alerts_model)
        self.alerts_tree.setRootIsDecorated(False)
        self.alerts_tree.setUniformRowHeights(True)
        self.alerts_tree.setAlternatingRowColors(True)
        self.alerts_tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.alerts_tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.alerts_tree.header().setStretchLastSection(False)
        self.alerts_title = plain_label()
        alerts_box = QWidget()
        alerts_layout = QVBoxLayout(alerts_box)
        alerts_layout.setContentsMargins(0, 0, 0, 0)
        alerts_layout.addWidget(self.alerts_title)
        alerts_layout.addWidget(self.alerts_tree)

        # refused ops, then the timeline
        self.rejected_label = plain_label(wrap=True)
        self.rejected_label.setFrameShape(QFrame.Shape.Box)
        self.rejected_label.setObjectName("rejectedOps")
        self.timeline_model = TimelineModel(self)
        self.timeline_list = QListView()
        self.timeline_list.setModel(self.timeline_model)
        self.timeline_list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.timeline_list.setWordWrap(True)
        self.timeline_list.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.timeline_list.setLayoutMode(QListView.LayoutMode.Batched)  # a long timeline lays out in steps
        self.timeline_list.setBatchSize(100)
        self.timeline_list.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.timeline_list.setSpacing(2)
        self.timeline_title = plain_label("Timeline (newest first)")
        timeline_box = QWidget()
        timeline_layout = QVBoxLayout(timeline_box)
        timeline_layout.setContentsMargins(0, 0, 0, 0)
        timeline_layout.addWidget(self.rejected_label)
        timeline_layout.addWidget(self.timeline_title)
        timeline_layout.addWidget(self.timeline_list)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(alerts_box)
        splitter.addWidget(timeline_box)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 2)

        self.content = QWidget()
        content_layout = QVBoxLayout(self.content)
        content_layout.setContentsMargins(0, 0, 0, 0)
        content_layout.addWidget(header)
        content_layout.addWidget(splitter, 1)

        layout = QVBoxLayout(self)
        layout.addWidget(self.empty_label)
        layout.addWidget(self.content)
        self.show_incident(None)

    # -- showing --

    def show_incident(self, detail: IncidentDetail | None) -> None:
        """Show `detail`, or the empty state for None. Cheap enough to call on every replica change."""
        self.detail = detail
        if detail is None:
            self.content.hide()
            self.empty_label.show()
            self.alerts_model.show([], self._now())
            self.timeline_model.show([], [], [])
            return
        now = self._now()
        self.setUpdatesEnabled(False)
        try:
            self._show_header(detail, now)
            self._show_alerts(detail.alerts, now)
            self._show_rejected(detail.ops, now)
            self._show_timeline(detail, now)
        finally:
            self.setUpdatesEnabled(True)
        self.empty_label.hide()
        self.content.show()

    def _show_header(self, detail: IncidentDetail, now: datetime) -> None:
        incident = detail.view.incident
        if incident.priority is not self._badge:
            self._badge = incident.priority
            text, colour = _PRIORITY_BADGE[incident.priority]
            self.priority_label.setText(text)
            self.priority_label.setStyleSheet(
                f"QLabel#priorityBadge {{ background: {colour}; color: #000000; font-weight: bold;"
                " padding: 2px 8px; border-radius: 3px; }"
            )
            self.priority_label.setToolTip(f"{incident.priority.value} priority")
        self.number_label.setText(f"#{incident.number}" if incident.number else "not numbered yet")
        self.title_label.setText(incident.title)

        self.service_label.setText(detail.view.service or f"service {incident.service_id}")
        status = _STATUS_SHAPE[incident.status.rank]
        if incident.status.epoch:
            status += f" (reopened, epoch {incident.status.epoch})"
        if incident.status.rank >= Rank.RESOLVED and incident.resolved_at is not None:
            status += f" at {when(incident.resolved_at, now)}"
        self.status_label.setText(status)

        ack = first_acknowledgement(incident, detail.timeline)
        if ack is not None:
            who = f" by {ack.actor}" if ack.actor else ""
            ack_text: str | None = f"acknowledged{who} {relative(ack.at, now)} ({local_time(ack.at, now)})"
        elif incident.acknowledged_at is not None and incident.status.rank is not Rank.TRIGGERED:
            ack_text = f"acknowledged {when(incident.acknowledged_at, now)}"
        else:
            ack_text = None
        self._set_row(self.ack_label, ack_text)
        self.assignee_label.setText(incident.assignee or "nobody")
        snoozed = None
        if incident.snoozed_until is not None:
            verb = "until" if incident.snoozed_until > now else "ended"
            snoozed = f"{verb} {when(incident.snoozed_until, now)}"
        self._set_row(self.snoozed_label, snoozed)
        self.category_label.setText(incident.category or "—")
        self._set_row(self.description_label, incident.description or None)
        unsynced = detail.view.unsynced
        self.unsynced_label.setText(
            f"⟳ {unsynced} change{'s' if unsynced != 1 else ''} here not synced yet" if unsynced else ""
        )
        self.unsynced_label.setVisible(bool(unsynced))

    def _set_row(self, label: QLabel, text: str | None) -> None:
        label.setText(text or "")
        self._facts.setRowVisible(label, text is not None)

    def _show_alerts(self, alerts: Sequence[AlertView], now: datetime) -> None:
        open_count = sum(1 for a in alerts if a.status != "resolved")
        self.alerts_title.setText(f"Alerts: {len(alerts)} ({open_count} open)")
        self.alerts_model.show(alerts, now)

    def _show_rejected(self, ops: Sequence[OutboxOp], now: datetime) -> None:
        rejected = [op for op in ops if op.state == "rejected"]
        lines = [
            f"✕ {describe_op(op)} ({when(op.created_at, now)}) — rejected by the server: "
            f"{op.reason or 'no reason given'}"
            for op in reversed(rejected)
        ]
        self.rejected_label.setText("\n".join(lines))
        self.rejected_label.setVisible(bool(lines))

    def _show_timeline(self, detail: IncidentDetail, now: datetime) -> None:
        summaries = {a.id: a.summary for a in detail.alerts}
        model = self.timeline_model
        model.muted_brush = QBrush(self.palette().color(QPalette.ColorRole.PlaceholderText))
        model.muted_font = QFont(self.timeline_list.font())
        model.muted_font.setItalic(True)
        entries = sorted(detail.timeline, key=lambda v: (v.entry.at, v.entry.id), reverse=True)
        texts: list[str] = []
        muted: list[bool] = []
        for view in entries:
            entry = view.entry
            head = f"{local_time(entry.at, now)} · {relative(entry.at, now)}"
            if entry.actor:
                head += f" · {entry.actor}"
            if view.unsynced:
                head += f"   {UNSYNCED_MARKER}"
            text = f"{head}\n{describe(entry, summaries, now)}"
            no_effect = bool(entry.body.get("no_effect"))
            if no_effect:
                text += f"\nNo effect: {_text(entry.body.get('reason')) or 'nothing changed'}"
            texts.append(text)
            muted.append(no_effect)
        model.show(entries, texts, muted)
        self.timeline_title.setText(f"Timeline: {len(entries)} entries, newest first")

    # -- for tests and callers --

    def timeline_texts(self) -> list[str]:
        """The timeline as shown, top (newest) first."""
        model = self.timeline_model
        return [model.data(model.index(row)) for row in range(model.rowCount())]

    def alert_rows(self) -> list[list[str]]:
        """The alerts as shown, a list of cells per row (ALERT_COLUMNS)."""
        model = self.alerts_model
        return [
            [model.data(model.index(row, column)) for column in range(model.columnCount())]
            for row in range(model.rowCount())
        ]
