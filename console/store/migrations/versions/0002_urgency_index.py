"""the incidents' urgency order as an index (the window's first read)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 07:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# as console.store.tables.URGENCY was when this ran (a migration does not follow later edits)
URGENCY = "(status IN ('resolved', 'closed')) * 2 + (priority != 'high')"


def upgrade() -> None:
    op.create_index("ix_incidents_urgency", "incidents", [sa.text(URGENCY), sa.text("created_at DESC"), "id"])


def downgrade() -> None:
    op.drop_index("ix_incidents_urgency", table_name="incidents")
