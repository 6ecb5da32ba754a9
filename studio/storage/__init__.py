"""SQLite (or any SQLAlchemy URL) storage: one engine per process, WAL, BEGIN IMMEDIATE writes.

Job processes update the same rows concurrently. pysqlite's default deferred transactions let two
read-modify-write transactions interleave and one update vanish; BEGIN IMMEDIATE takes the write
lock up front so writers queue behind busy_timeout instead. Reads that never write (the UI's
polling, a supervisor checking for cancel) use `reading()`: a deferred, query-only transaction,
which in WAL mode never waits for a writer and never holds one up.
"""
from __future__ import annotations

import os
import sqlite3
import sys
import time
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, create_engine

from studio.storage.tables import Generation, Job, JobLog, JobState, Pending, Result, SensitivityMap  # noqa: F401

_engines: dict[tuple[int, str, bool], Engine] = {}
# How long a connection waits for another's write lock (and for a journal-mode switch) before failing.
BUSY_TIMEOUT_MS = 60_000


def engine_for(url: str, read_only: bool = False) -> Engine:
    read_only = read_only and url.startswith("sqlite")  # other databases: one engine does both
    key = (os.getpid(), url, read_only)  # an engine must not cross a fork
    if key not in _engines:
        if read_only:
            engine_for(url)  # the writing engine creates and migrates the tables first
        _engines[key] = _make_engine(url, read_only)
    return _engines[key]


def _make_engine(url: str, read_only: bool) -> Engine:
    if not url.startswith("sqlite"):
        engine = create_engine(url, pool_pre_ping=True)
        _create_tables(engine)
        return engine
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        _ensure_wal(cur)
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        if read_only:
            cur.execute("PRAGMA query_only=ON")  # a write through a reading session fails loudly
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    if not read_only:
        _create_tables(engine)
    return engine


def _ensure_wal(cur) -> None:
    """Put the database file in WAL mode (a property of the file, kept across connections).

    Switching needs an exclusive lock, and SQLite answers "database is locked" at once, without its busy
    handler, when another connection is opening or switching the same file at that moment (two workers
    started together on a fresh database). So: read the mode first (the switch is then a no-op for every
    connection but the first), and retry the switch with backoff until the busy timeout has passed.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            if cur.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                return
            # The answer is the mode now in force: "wal", or the old one where the file cannot have WAL (in
            # memory, some network filesystems); BEGIN IMMEDIATE keeps writes safe there too.
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _create_tables(engine: Engine) -> None:
    """Create missing tables and indexes, and add columns that newer versions of the studio declare to
    tables an older version created (always nullable or defaulted, so old rows stay valid)."""
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
                if column.server_default is not None:  # what the rows already there hold
                    default = " DEFAULT '{}'".format(str(column.server_default.arg).replace("'", "''"))
                conn.exec_driver_sql(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}{default}')
                if column.name == "recipe_name":
                    _backfill_recipe_names(conn, table.name)
    for table in SQLModel.metadata.sorted_tables:
        for index in table.indexes:
            _create_index(engine, index)


def _backfill_recipe_names(conn, table: str) -> None:
    """Rows stored before the recipe's name had a column of its own. Their labels were NAME, NAME:VARIANT or
    NAME:VARIANT+EXTRAS, and Ollama imports were labelled with their whole name; base rows name no recipe."""
    is_base = "is_base" if table == "result" else "0"
    rows = conn.exec_driver_sql(f'SELECT id, recipe, {is_base} FROM "{table}"').all()
    for row_id, label, base in rows:
        name = None if base else label if label.startswith("ollama:") else label.split(":", 1)[0]
        conn.execute(text(f'UPDATE "{table}" SET recipe_name = :name WHERE id = :id'), {"name": name, "id": row_id})


def _create_index(engine: Engine, index) -> None:
    """An index a newer version declares; a unique one that old rows already violate is left out, loudly."""
    try:
        with engine.begin() as conn:
            index.create(conn, checkfirst=True)
    except IntegrityError as exc:
        print(f"studio database: index {index.name} not created, existing rows violate it: {exc.orig}",
              file=sys.stderr)


@contextmanager
def session(url: str) -> Iterator[Session]:
    """A session for writing (and reading what it then writes): its transaction holds the write lock."""
    with Session(engine_for(url), expire_on_commit=False) as s:
        yield s


@contextmanager
def reading(url: str) -> Iterator[Session]:
    """A session that only reads: never waits for writers, and cannot write."""
    with Session(engine_for(url, read_only=True), expire_on_commit=False) as s:
        yield s
