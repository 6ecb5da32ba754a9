"""SQLite (or any SQLAlchemy URL) storage: one engine per process, WAL, BEGIN IMMEDIATE writes.

Job processes update the same rows concurrently. pysqlite's default deferred transactions let two
read-modify-write transactions interleave and one update vanish; BEGIN IMMEDIATE takes the write
lock up front so writers queue behind busy_timeout instead.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, create_engine

from studio.storage.tables import Generation, Job, JobLog, JobState, Result  # noqa: F401

_engines: dict[tuple[int, str], Engine] = {}


def engine_for(url: str) -> Engine:
    key = (os.getpid(), url)  # an engine must not cross a fork
    if key not in _engines:
        _engines[key] = _make_engine(url)
    return _engines[key]


def _make_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        engine = create_engine(url, pool_pre_ping=True)
        _create_tables(engine)
        return engine
    engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    _create_tables(engine)
    return engine


def _create_tables(engine: Engine) -> None:
    """Create missing tables, and add columns that newer versions of the studio declare to tables
    an older version created (always nullable or defaulted, so old rows stay valid)."""
    SQLModel.metadata.create_all(engine)
    with engine.begin() as conn:
        existing = inspect(conn)
        for table in SQLModel.metadata.sorted_tables:
            have = {c["name"] for c in existing.get_columns(table.name)}
            for column in table.columns:
                if column.name in have:
                    continue
                kind = column.type.compile(engine.dialect)
                default = " DEFAULT 0" if kind.upper() == "BOOLEAN" else ""
                conn.exec_driver_sql(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}{default}')


@contextmanager
def session(url: str) -> Iterator[Session]:
    with Session(engine_for(url), expire_on_commit=False) as s:
        yield s
