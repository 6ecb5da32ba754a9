"""Result.serving: what a serving engine made of the row's artifact (studio.serving.check), when a job checked.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("result", sa.Column("serving", sa.JSON(), nullable=True))
