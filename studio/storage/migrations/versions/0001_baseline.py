"""The schema of the last release before migrations (studio.storage.baseline).

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""
from alembic import op

from studio.storage.baseline import BASELINE

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    BASELINE.create_all(op.get_bind())
