"""State behind one SQLAlchemy URL: SQLite on a laptop, PostgreSQL (Aurora) on ECS."""
