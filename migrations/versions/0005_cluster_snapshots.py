"""Each cluster's last snapshot that built, kept beside the rows it came from.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cluster_snapshots",
        sa.Column(
            "cluster",
            sa.String(63),
            sa.ForeignKey("clusters.name", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("built_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cluster_snapshots")
