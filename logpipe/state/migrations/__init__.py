"""Alembic migrations of the state database (``logpipe.state.db.migrate`` runs them)."""
