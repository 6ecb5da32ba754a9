"""The database's schema follows the code through Alembic revisions (`migrations/versions/`), applied when a
process first opens the database, inside the write transaction that every writer takes first (SQLite's BEGIN
IMMEDIATE, PostgreSQL's write lock: studio.storage), so processes starting together migrate it once.

A database made before migrations (no `alembic_version` table) is adopted once: brought to the baseline schema
(studio.storage.baseline, revision 0001) by creating what it lacks, then stamped and upgraded like any other. A
database at a revision this code does not know was migrated by a newer studio: it is refused, never touched."""
from __future__ import annotations

import sys
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from studio.storage.baseline import BASELINE

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE_REVISION = "0001"
# The newest revision in migrations/versions (a test holds it to Alembic's head): a database already there is
# opened without importing Alembic.
HEAD = "0003"


class SchemaNewerThanStudio(RuntimeError):
    """The database was migrated by a newer version of the studio."""


def migrate(engine: Engine) -> None:
    with engine.begin() as conn:
        current = current_revision(conn)
        if current == HEAD:
            return
        adopt = current is None and inspect(conn).has_table("job")
        if adopt:
            _adopt(conn)
        _upgrade(conn, current, adopt, engine.url.render_as_string(hide_password=True))


def current_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _upgrade(conn: Connection, current: str | None, adopted: bool, where: str) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    known = {rev.revision for rev in ScriptDirectory.from_config(config).walk_revisions()}
    if current is not None and current not in known:
        raise SchemaNewerThanStudio(
            f"the studio database {where} is at schema revision {current}, which this version of the studio does "
            f"not know (it knows up to {HEAD}): a newer studio migrated it. Run that version, or point "
            f"STUDIO_DB_URL at another database.")
    if adopted:
        command.stamp(config, BASELINE_REVISION)
    command.upgrade(config, "head")


def _adopt(conn: Connection) -> None:
    """A database from before migrations, made by any earlier release: the baseline's missing tables, columns
    (nullable or defaulted, so old rows stay valid) and indexes added; the recipe names of old rows filled in."""
    existing = inspect(conn)
    for table in BASELINE.sorted_tables:
        if not existing.has_table(table.name):
            table.create(conn)
            continue
        have = {c["name"] for c in existing.get_columns(table.name)}
        for column in table.columns:
            if column.name not in have:
                _add_column(conn, table.name, column)
        for index in table.indexes:
            _create_index(conn, index)
    print("studio database: adopted a database made before schema migrations (now at revision "
          f"{BASELINE_REVISION})", file=sys.stderr)


def _add_column(conn: Connection, table: str, column) -> None:
    kind = column.type.compile(conn.dialect)
    default = " DEFAULT false" if kind.upper() == "BOOLEAN" else ""
    if column.server_default is not None:  # what the rows already there hold
        default = " DEFAULT '{}'".format(str(column.server_default.arg).replace("'", "''"))
    conn.exec_driver_sql(f'ALTER TABLE "{table}" ADD COLUMN "{column.name}" {kind}{default}')
    if column.name == "recipe_name":
        _backfill_recipe_names(conn, table)


def _backfill_recipe_names(conn: Connection, table: str) -> None:
    """Rows stored before the recipe's name had a column of its own. Their labels were NAME, NAME:VARIANT or
    NAME:VARIANT+EXTRAS, and Ollama imports were labelled with their whole name; base rows name no recipe."""
    is_base = "is_base" if table == "result" else "false"
    rows = conn.exec_driver_sql(f'SELECT id, recipe, {is_base} FROM "{table}"').all()
    for row_id, label, base in rows:
        name = None if base else label if label.startswith("ollama:") else label.split(":", 1)[0]
        conn.execute(text(f'UPDATE "{table}" SET recipe_name = :name WHERE id = :id'), {"name": name, "id": row_id})


def _create_index(conn: Connection, index) -> None:
    """An index a newer release declared; a unique one that old rows already violate is left out, loudly (in a
    savepoint: on PostgreSQL a failed statement would otherwise abort the whole migration)."""
    try:
        with conn.begin_nested():
            index.create(conn, checkfirst=True)
    except IntegrityError as exc:
        print(f"studio database: index {index.name} not created, existing rows violate it: {exc.orig}",
              file=sys.stderr)
