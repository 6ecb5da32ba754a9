"""The storage contract on both databases (SQLite, and PostgreSQL in a throwaway cluster): a job is claimed once
however many consumers get its message at the same instant, one base row per key, and the schema's migrations: a
new database is created at the newest revision with exactly the tables the code declares, the databases of the
release before migrations upgrade with every row intact, and one that a newer studio migrated is refused."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import BigInteger, Integer, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, select

from studio import storage
from studio.config import REPO_ROOT
from studio.storage import Job, Result, engine_for, reading, session
from studio.storage.migrate import HEAD, MIGRATIONS, SchemaNewerThanStudio, current_revision

pytestmark = pytest.mark.both_databases

# Made by the release before migrations (main at 36c3aa0) with a real job on the tiny model (gguf:Q8_0 and
# int8-rtn, their base rows, generations, log lines) and a sensitivity map, on SQLite and on PostgreSQL;
# tests/data/README.md says how.
RELEASE_DUMPS = Path(__file__).parent / "data"


@pytest.fixture
def url(database, db_url, tmp_path) -> str:
    return db_url or f"sqlite:///{tmp_path / 'studio.db'}"


@pytest.fixture(autouse=True)
def _fresh_engines():
    """Each test opens its database as a starting process does (the migration runs at the first open)."""
    storage._engines.clear()
    yield
    for engine in storage._engines.values():
        engine.dispose()
    storage._engines.clear()


CLAIMER = """
import os, sys
from studio.storage import engine_for
from studio.storage.jobs import claim
url, job_id, go, name = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
engine_for(url)
print("ready", flush=True)
while not os.path.exists(go):
    os.sched_yield()
print(claim(url, job_id, name), flush=True)
"""


@pytest.mark.parametrize("round_", range(3))
def test_a_job_is_claimed_once_by_eight_consumers_at_the_same_instant(url, tmp_path, round_):
    with session(url) as s:
        job = Job(model="m", model_key="k", recipe="gguf:Q8_0", eval_text_path="", eval_text_sha="", dedupe_key="d")
        s.add(job)
        s.commit()
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMER, url, str(job.id), str(go), f"consumer-{i}"],
                              cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True) for i in range(8)]
    try:
        assert [p.stdout.readline().strip() for p in procs] == ["ready"] * 8
        go.touch()
        answers = [p.stdout.readline().strip() for p in procs]
    finally:
        for p in procs:
            p.wait(timeout=120)
    assert sorted(answers) == ["False"] * 7 + ["True"], answers
    with reading(url) as s:
        claimed = s.get(Job, job.id)
    assert claimed.state == "running" and claimed.worker == f"consumer-{answers.index('True')}"


def _result(base_key: str, is_base: bool) -> Result:
    return Result(model="m", model_key="k", recipe="r", family="gguf", is_base=is_base, base_key=base_key,
                  artifact="a", size_bytes=5 * 2**30, n_params=70 * 10**9, bpw=4.8, ppl=1.0, nll_sum=1.0, n_ctx=512,
                  n_chunks=1, n_tokens_scored=1, prefill_tok_s=1.0, decode_tok_s=1.0, peak_rss_bytes=40 * 2**30,
                  eval_text_sha="s")


def test_one_base_row_per_key_and_counts_past_two_to_the_31(url):
    with session(url) as s:
        s.add_all([_result("key-1", True), _result("key-1", False), _result("key-1", False), _result("key-2", True)])
        s.commit()
    with pytest.raises(IntegrityError):
        with session(url) as s:
            s.add(_result("key-1", True))
            s.commit()
    with reading(url) as s:
        rows = s.exec(select(Result)).all()
    assert sorted((r.base_key, r.is_base) for r in rows) == [("key-1", False), ("key-1", False), ("key-1", True),
                                                             ("key-2", True)]
    assert {(r.size_bytes, r.n_params, r.peak_rss_bytes) for r in rows} == {(5 * 2**30, 70 * 10**9, 40 * 2**30)}


def _same_integer(context, inspected, metadata, inspected_type, metadata_type):
    """SQLite's INTEGER holds 64 bits: revision 0002 leaves its columns as they are."""
    if context.dialect.name == "sqlite" and isinstance(inspected_type, Integer) and isinstance(metadata_type,
                                                                                                BigInteger):
        return False
    return None


def test_a_new_database_is_at_the_newest_revision_with_the_tables_the_code_declares(url):
    from alembic.autogenerate import compare_metadata
    from alembic.config import Config
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD
    engine = engine_for(url)
    with engine.connect() as conn:
        assert current_revision(conn) == HEAD
        context = MigrationContext.configure(conn, opts={"compare_type": _same_integer})
        assert compare_metadata(context, SQLModel.metadata) == []


def _load_dump(url: str, database: str) -> None:
    dump = (RELEASE_DUMPS / f"release-2026-12-03.{database}.sql").read_text(encoding="utf-8")
    if database == "sqlite":
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            db.executescript(dump)
    else:
        import psycopg
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(dump)


TABLES = ("job", "joblog", "result", "generation", "sensitivitymap")


def _every_row(engine, columns: dict[str, list[str]] | None = None) -> dict[str, list[tuple]]:
    """Every row of every table: all its columns, or (`columns`) those named per table."""
    with engine.connect() as conn:
        return {table: [tuple(row) for row in conn.execute(text(
                    f'SELECT {", ".join(columns[table]) if columns else "*"} FROM "{table}" ORDER BY id'))]
                for table in TABLES}


def _columns(engine) -> dict[str, list[str]]:
    from sqlalchemy import inspect
    return {table: [f'"{c["name"]}"' for c in inspect(engine).get_columns(table)] for table in TABLES}


def test_the_release_before_migrations_upgrades_with_every_row_intact(url, database, capsys):
    from sqlalchemy import create_engine

    _load_dump(url, database)
    untouched = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))  # no migration
    before, old_columns = _every_row(untouched), _columns(untouched)
    with untouched.connect() as conn:
        assert current_revision(conn) is None
    untouched.dispose()

    after = _every_row(engine_for(url), old_columns)  # the first open migrates; later revisions add columns
    assert "adopted a database made before schema migrations" in capsys.readouterr().err
    assert after == before and all(before.values()), {t: len(r) for t, r in before.items()}
    with engine_for(url).connect() as conn:
        assert current_revision(conn) == HEAD
    with reading(url) as s:  # the studio reads them as its own
        results = s.exec(select(Result)).all()
    assert {r.recipe_name for r in results if not r.is_base} == {"gguf", "int8-rtn"}
    with session(url) as s:  # and writes beside them
        s.add(_result("after-upgrade", True))
        s.commit()


def test_a_database_a_newer_studio_migrated_is_refused_with_the_reason(url, tmp_path):
    engine_for(url)
    with session(url) as s:
        s.exec(text("UPDATE alembic_version SET version_num = '0099'"))
        s.commit()
    storage._engines.clear()
    with pytest.raises(SchemaNewerThanStudio, match="at schema revision 0099, which this version"):
        engine_for(url)
    env = {**os.environ, "STUDIO_WORKSPACE": str(tmp_path / "ws"), "STUDIO_DB_URL": url}
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "studio", "jobs"], env=env, cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300)
    print(f"refused in {time.monotonic() - started:.1f} s: {proc.stderr.strip()}")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "newer studio migrated it" in proc.stderr
    password = url.split(":")[2].split("@")[0] if url.startswith("postgresql") else None
    assert password is None or password not in proc.stderr
