"""Persistence: SQLAlchemy tables, migrations on start, and the transactional config store."""
