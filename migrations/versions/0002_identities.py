"""Consumers, API keys (hashes only), JWT providers and the per-cluster key secret.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _cluster_fk() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "cluster", sa.String(63), sa.ForeignKey("clusters.name", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "consumers",
        sa.Column("id", sa.String(32), primary_key=True),
        _cluster_fk(),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("cluster", "name", name="uq_consumers_cluster_name"),
    )
    op.create_index("ix_consumers_cluster", "consumers", ["cluster"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        _cluster_fk(),
        sa.Column(
            "consumer_id",
            sa.String(32),
            sa.ForeignKey("consumers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
        sa.Column("expires_at", sa.Float, nullable=True),
        sa.Column("route_scope", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_api_keys_cluster", "api_keys", ["cluster"])
    op.create_index("ix_api_keys_consumer_id", "api_keys", ["consumer_id"])
    op.create_table(
        "jwt_providers",
        sa.Column("id", sa.String(32), primary_key=True),
        _cluster_fk(),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.UniqueConstraint("cluster", "name", name="uq_jwt_providers_cluster_name"),
    )
    op.create_index("ix_jwt_providers_cluster", "jwt_providers", ["cluster"])
    op.create_table(
        "cluster_secrets",
        sa.Column(
            "cluster",
            sa.String(63),
            sa.ForeignKey("clusters.name", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("api_key_secret", sa.String(64), nullable=False),
    )
    clusters = sa.table("clusters", sa.column("name", sa.String))
    secrets_table = sa.table(
        "cluster_secrets", sa.column("cluster", sa.String), sa.column("api_key_secret", sa.String)
    )
    for (name,) in op.get_bind().execute(sa.select(clusters.c.name)):
        op.execute(
            secrets_table.insert().values(cluster=name, api_key_secret=secrets.token_hex(32))
        )


def downgrade() -> None:
    for table in ("cluster_secrets", "jwt_providers", "api_keys", "consumers"):
        op.drop_table(table)
