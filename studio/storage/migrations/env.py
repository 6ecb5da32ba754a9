"""Alembic's entry point for the studio's migrations. The studio runs them itself (studio.storage.migrate), on
the connection it opened, inside its write transaction: there is no alembic.ini and no URL here."""
from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
