"""Telemetry in SQL: each data plane's last report and the traffic between reports.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dataplane_reports",
        sa.Column("cluster", sa.String(63), primary_key=True),
        sa.Column("node_id", sa.String(255), primary_key=True),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("reported_at", sa.Float, nullable=False),
        sa.Column("served_version", sa.String(128), nullable=False),
        sa.Column("in_flight", sa.Integer, nullable=False),
        sa.Column("totals", sa.JSON, nullable=False),
        sa.Column("health", sa.JSON, nullable=False),
    )
    op.create_table(
        "traffic_deltas",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("cluster", sa.String(63), nullable=False),
        sa.Column("node_id", sa.String(255), nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Column("traffic", sa.JSON, nullable=False),
    )
    op.create_index(
        "ix_traffic_deltas_cluster_received_at", "traffic_deltas", ["cluster", "received_at"]
    )


def downgrade() -> None:
    op.drop_table("traffic_deltas")
    op.drop_table("dataplane_reports")
