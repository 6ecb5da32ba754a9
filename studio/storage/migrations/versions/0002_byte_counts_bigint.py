"""Byte and parameter counts as 64-bit integers: PostgreSQL's INTEGER stops at 2^31, and an 8 B model's
artifact (4.6 GB), its parameter count or a peak RSS passes that (SQLite's INTEGER is 64-bit already).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = ("size_bytes", "n_params", "peak_rss_bytes", "peak_vram_bytes")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return  # an INTEGER column there holds 64 bits; rebuilding the table would change nothing stored
    for column in COLUMNS:
        op.alter_column("result", column, type_=sa.BigInteger(), existing_type=sa.Integer())
