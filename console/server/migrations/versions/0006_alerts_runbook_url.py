"""alerts: the runbook_url an alert came with, as a column

Intake keeps it when it writes a new alert, so the escalation engine's pass reads a storm's runbooks
as one row per incident instead of decoding each alert's details and links (bench_intake, new
Alertmanager groups: the pass was 14 % of the server's main thread). Alerts already stored get it
here, from their details and links as the pass read them before.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 02:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from console.domain.incident import Link
from console.domain.runbook import runbook_url_in

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_alerts = sa.table(
    "alerts",
    sa.column("id", sa.String),
    sa.column("details", sa.JSON),
    sa.column("links", sa.JSON),
    sa.column("runbook_url", sa.Text),
)
# what the pass used to look for: only these alerts can carry a runbook_url
_MAY_CARRY_URL = sa.or_(
    sa.cast(_alerts.c.details, sa.Text).like("%runbook_url%"),
    sa.cast(_alerts.c.links, sa.Text).like('%"Runbook"%'),
)


def _url(details: Any, links: Any) -> str | None:
    made = (Link(link["href"], link.get("text", "")) for link in links or ())
    return runbook_url_in(details if isinstance(details, dict) else {}, made)


def upgrade() -> None:
    op.add_column("alerts", sa.Column("runbook_url", sa.Text(), nullable=True))
    conn = op.get_bind()
    set_url = (
        _alerts.update().where(_alerts.c.id == sa.bindparam("_id")).values(runbook_url=sa.bindparam("url"))
    )
    after = ""
    while True:  # a few thousand alerts at a time, in id order: a big database is not read at once
        found = conn.execute(
            sa.select(_alerts.c.id, _alerts.c.details, _alerts.c.links)
            .where(_alerts.c.id > after, _MAY_CARRY_URL)
            .order_by(_alerts.c.id)
            .limit(5000)
        ).all()
        if not found:
            return
        urls = [{"_id": row.id, "url": url} for row in found if (url := _url(row.details, row.links))]
        if urls:
            conn.execute(set_url, urls)
        after = found[-1].id


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("runbook_url")
