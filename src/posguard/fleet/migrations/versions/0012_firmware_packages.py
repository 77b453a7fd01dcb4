"""Firmware packages for software rollouts

- ``firmware_packages``: a package an admin uploaded (the ``.tar.gz`` ``terminal update
  apply`` takes), stored on disk under the fleet's package directory by its SHA-256, with its
  version, size and target models; the ``update`` command names it by SHA-256 and the
  terminal downloads it with its own credential.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "firmware_packages",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("models", sa.JSON(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_firmware_packages")),
    )


def downgrade() -> None:
    op.drop_table("firmware_packages")
