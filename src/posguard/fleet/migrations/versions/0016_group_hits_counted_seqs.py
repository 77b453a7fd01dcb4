"""A shard's counts say which events they counted, not only the highest one (issue 15)

- ``group_hits.counted_seqs``: the sorted sequence numbers of the events a row counted
  (posguard.fleet.diagnosis.group_hits), so an event a terminal's later one overtook on the way
  in (two ingest workers, seq 11 committed before seq 10) is still counted, once, and a replay
  still counts nothing twice. NULL: the row knows only ``seq_hw``, its highest sequence number
  counted (an event at or below it counts as counted): the rows written before this revision
  keep the rule they were written under, and a row past ``MAX_COUNTED`` events goes back to it.
- A nullable column without a default: on PostgreSQL a change of the catalog only (no rewrite,
  no scan, a brief lock). The downgrade drops the column (SQLite copies the table): ``seq_hw``
  was kept up to date all along, so the rows go back to the high-water rule.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("group_hits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("counted_seqs", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("group_hits", schema=None) as batch_op:
        batch_op.drop_column("counted_seqs")
