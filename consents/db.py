"""Database-level protection of consent evidence (C2): raw SQL cannot change it either.

The ORM already refuses updates and deletes (consents.models.AppendOnlyModel); these triggers
make the database refuse them too, for anything that bypasses the ORM. On PostgreSQL that
includes TRUNCATE (also when reached through `TRUNCATE ... CASCADE` of a parent table), which
row triggers never see.
"""

from __future__ import annotations

PROTECTED_TABLES = ("consents_consentevent", "consents_consenttext", "consents_datause")

_POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION consents_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'consent records are append-only (% on %)', TG_OP, TG_TABLE_NAME;
END
$$;
"""


def _protected_tables(connection) -> list[str]:
    """The protected tables that exist yet: an early migration protects the tables it knows,
    and a later one, adding a table, protects that one too (0002, 0008)."""
    existing = set(connection.introspection.table_names())
    return [table for table in PROTECTED_TABLES if table in existing]


def create_triggers(connection) -> None:
    create_truncate_guard(connection)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_POSTGRES_FUNCTION)
            for table in _protected_tables(connection):
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
                cursor.execute(
                    f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION consents_append_only()"
                )
        elif connection.vendor == "sqlite":
            for table in _protected_tables(connection):
                for operation in ("UPDATE", "DELETE"):
                    cursor.execute(
                        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{operation.lower()} "
                        f"BEFORE {operation} ON {table} BEGIN "
                        f"SELECT RAISE(ABORT, 'consent records are append-only'); END"
                    )


def drop_triggers(connection) -> None:
    """Only for tearing down a test database: flushing it deletes every row."""
    drop_truncate_guard(connection)
    with connection.cursor() as cursor:
        for table in _protected_tables(connection):
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            elif connection.vendor == "sqlite":
                for operation in ("update", "delete"):
                    cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_{operation}")


def create_truncate_guard(connection) -> None:
    """Refuse TRUNCATE of the evidence tables (PostgreSQL; SQLite has no TRUNCATE)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(_POSTGRES_FUNCTION)
        for table in _protected_tables(connection):
            cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
            cursor.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION consents_append_only()"
            )


def drop_truncate_guard(connection) -> None:
    """For migrating back, and for a test database's flush, which is a TRUNCATE."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table in _protected_tables(connection):
            cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
