"""Merchants in two languages with their contacts; signed firmware packages

- ``merchants.name_zh`` / ``name_en``: the merchant's name in each language (``name`` stays:
  what older readers show);
- ``merchant_contacts``: who hears of a merchant's incidents (notify channel id, address,
  language) and a phone number;
- ``firmware_packages.signature``: the package's Ed25519 signature (base64), which the
  terminal's updater verifies against its trusted key before it installs anything.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from posguard.fleet.db import online_ddl

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("merchants") as batch:
        batch.add_column(sa.Column("name_zh", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("name_en", sa.String(length=200), nullable=True))
    with op.batch_alter_table("firmware_packages") as batch:
        batch.add_column(sa.Column("signature", sa.String(length=100), nullable=True))
    op.create_table(
        "merchant_contacts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("person", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("lang", sa.String(length=2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_merchant_contacts_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merchant_contacts")),
    )
    online_ddl.create_index(
        "ix_merchant_contacts_merchant_id", "merchant_contacts", ["merchant_id"]
    )


def downgrade() -> None:
    online_ddl.drop_index("ix_merchant_contacts_merchant_id", "merchant_contacts")
    op.drop_table("merchant_contacts")
    with op.batch_alter_table("firmware_packages") as batch:
        batch.drop_column("signature")
    with op.batch_alter_table("merchants") as batch:
        batch.drop_column("name_en")
        batch.drop_column("name_zh")
