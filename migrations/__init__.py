"""Alembic migrations of the store; ``apply`` runs them."""


class NewerDatabaseError(Exception):
    """The database is at a revision these migrations do not know: a newer version of
    engage migrated it, and this one can neither read it nor migrate it."""
