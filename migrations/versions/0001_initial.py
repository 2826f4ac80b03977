"""Clusters, routes, security policies and data-plane status.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clusters",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("callback", sa.String(2048), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    for table, key, size in (("routes", "name", 63), ("security_policies", "endpoint", 1024)):
        op.create_table(
            table,
            sa.Column("id", sa.String(32), primary_key=True),
            sa.Column(
                "cluster",
                sa.String(63),
                sa.ForeignKey("clusters.name", ondelete="CASCADE"),
                nullable=False,
            ),
            sa.Column(key, sa.String(size), nullable=False),
            *([sa.Column("position", sa.Integer, nullable=False)] if table == "routes" else []),
            sa.Column("spec", sa.JSON, nullable=False),
            sa.Column("created_at", sa.Float, nullable=False),
            sa.Column("updated_at", sa.Float, nullable=False),
            sa.UniqueConstraint(
                "cluster",
                key,
                name="uq_routes_cluster_name"
                if table == "routes"
                else "uq_security_cluster_endpoint",
            ),
        )
        op.create_index(f"ix_{table}_cluster", table, ["cluster"])
    op.create_table(
        "dataplanes",
        sa.Column("cluster", sa.String(63), primary_key=True),
        sa.Column("node_id", sa.String(255), primary_key=True),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("software_version", sa.String(64), nullable=False),
        sa.Column("applied_version", sa.String(128), nullable=False),
        sa.Column("last_nack", sa.String(4096), nullable=False),
        sa.Column("connected", sa.Boolean, nullable=False),
        sa.Column("last_seen", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for table in ("dataplanes", "security_policies", "routes", "clusters"):
        op.drop_table(table)
