"""Every revision's document, for history and rollback; tags on consumers.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "config_revisions",
        sa.Column(
            "cluster",
            sa.String(63),
            sa.ForeignKey("clusters.name", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("revision", sa.BigInteger, primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("action", sa.String(1200), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("routes", sa.Integer, nullable=False),
        sa.Column("policies", sa.Integer, nullable=False),
        sa.Column("document", sa.LargeBinary, nullable=False),
    )
    with op.batch_alter_table("consumers") as consumers:
        consumers.add_column(sa.Column("tags", sa.JSON, nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("consumers") as consumers:
        consumers.drop_column("tags")
    op.drop_table("config_revisions")
