"""Storage on SQLite (the default: a file in the workspace) or PostgreSQL (shared by several machines): one
engine per process and database, one rule for writers on both.

Job processes update the same rows concurrently, and several writes read a row, change it and write it back
(a result's pending figures filled in, a job's end). Two such transactions must never interleave, or one update
vanishes. On SQLite, pysqlite's default deferred transactions would let them; BEGIN IMMEDIATE takes the
database's write lock up front so writers queue behind busy_timeout instead. PostgreSQL's default READ COMMITTED
isolation lets them interleave too, so a writing transaction there first takes one transaction-scoped advisory
lock: the same single-writer rule, released at commit or rollback, or when a client dies. (Row locks with
SELECT … FOR UPDATE would have to be remembered at every read-modify-write, and SERIALIZABLE would need every
writer to retry; the studio's writes are a few short transactions per job-second, far below what one lock
serializes.) Reads that never write (the UI's polling, a supervisor checking for cancel) use `reading()`: on
SQLite a deferred, query-only transaction, which in WAL mode never waits for a writer; on PostgreSQL a
read-only transaction without the lock, which MVCC never blocks.

The schema follows the code through Alembic revisions, applied when a process first opens the database
(studio.storage.migrate).
"""
from __future__ import annotations

import os
import sqlite3
import time
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, create_engine

from studio.storage.migrate import SchemaNewerThanStudio, migrate
from studio.storage.tables import Generation, Job, JobLog, JobState, Pending, Result, SensitivityMap  # noqa: F401

_engines: dict[tuple[int, str, bool], Engine] = {}
# How long a connection waits for another's write lock (and for a journal-mode switch) before failing.
BUSY_TIMEOUT_MS = 60_000


# Every writing transaction on PostgreSQL holds this advisory lock (an arbitrary constant: "studio" in ASCII).
POSTGRES_WRITE_LOCK = 0x73747564696F


def engine_for(url: str, read_only: bool = False) -> Engine:
    key = (os.getpid(), url, read_only)  # an engine must not cross a fork
    if key not in _engines:
        if read_only:
            engine_for(url)  # the writing engine creates and migrates the tables first
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            engine = _sqlite_engine(url, read_only)
        elif parsed.get_backend_name() == "postgresql":
            engine = _postgres_engine(parsed, read_only)
        else:
            raise ValueError(f"STUDIO_DB_URL: {parsed.get_backend_name()!r} databases are not supported "
                             "(sqlite:///PATH or postgresql://USER:PASSWORD@HOST/NAME)")
        if not read_only:
            migrate(engine)
        _engines[key] = engine
    return _engines[key]


def _postgres_engine(url: URL, read_only: bool) -> Engine:
    if url.drivername == "postgresql":  # SQLAlchemy's default driver would be psycopg2: the pinned one is psycopg 3
        url = url.set(drivername="postgresql+psycopg")
    options = "-c timezone=UTC" + (" -c default_transaction_read_only=on" if read_only else "")
    engine = create_engine(url, pool_pre_ping=True, connect_args={"options": options})
    if not read_only:
        @event.listens_for(engine, "begin")
        def _on_begin(conn):
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({POSTGRES_WRITE_LOCK})")
    return engine


def _sqlite_engine(url: str, read_only: bool) -> Engine:
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


def open_database(url: str) -> None:
    """Open (and migrate) the database as a program starts: one migrated by a newer studio, or one that cannot be
    reached, stops the program with the reason instead of a traceback from the first query."""
    try:
        engine_for(url)
    except SchemaNewerThanStudio as exc:
        raise SystemExit(f"error: {exc}") from None
    except OperationalError as exc:
        where = make_url(url).render_as_string(hide_password=True)
        raise SystemExit(f"error: the studio database {where} cannot be opened: {exc.orig}") from None


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
