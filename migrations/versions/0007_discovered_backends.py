"""Backends discovered from annotated Kubernetes pods, kept apart from the user's routes.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "discovered_backends",
        sa.Column("cluster", sa.String(63), primary_key=True),
        sa.Column("pod", sa.String(320), primary_key=True),
        sa.Column("backend", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("discovered_backends")
