"""Alembic's environment: run the migrations on the connection ``logpipe.state.db.migrate`` holds.

That connection is already inside a transaction that holds the database's migration lock (SQLite:
``BEGIN IMMEDIATE``; PostgreSQL: an advisory lock), so two processes starting at once migrate one
after the other, and the caller commits.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, render_as_batch=True,
                  transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
