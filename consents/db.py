"""Database-level protection of consent evidence (C2): raw SQL cannot change it either.

The ORM already refuses updates and deletes (consents.models.AppendOnlyModel); these triggers
make the database refuse them too, for anything that bypasses the ORM. On PostgreSQL that
includes TRUNCATE (also when reached through `TRUNCATE ... CASCADE` of a parent table), which
row triggers never see.

One exception, and only one: evidence whose period has passed (EVIDENCE_KEPT_FOR after the
consent's newest event, the consent no longer active) may be deleted by `manage.py
purge_evidence`. The database itself decides which rows qualify, so a bug or a hand-written
DELETE cannot remove anything younger:
- PostgreSQL: the row trigger lets a row go only while the transaction-local flag
  `consents.evidence_purge` is on, the statement runs as the role that owns the table, and the
  row is past its period by the database's own clock. Only `consents_purge_evidence()`, a
  SECURITY DEFINER function owned by that role, does all three; the app's role
  (docs/postgres-roles.sql) can set the flag but is not the owner, so its own DELETE is
  refused.
- SQLite has no roles: the trigger lets expired rows go while a purge run is open (a
  `consents_evidencepurge` row without `finished_at`, inside the command's transaction).
"""

from __future__ import annotations

from consents.models import EVIDENCE_KEPT_FOR

# Every SQL string below is assembled from constants of this module (table names, the period in
# whole days) and never from input; values (the SQLite cutoff) go as parameters.

PROTECTED_TABLES = (
    "consents_consentevent",
    "consents_consenttext",
    "consents_deletionrecord",
    "consents_datause",
)
EVIDENCE_TABLE = "consents_consentevent"
PURGE_FLAG = "consents.evidence_purge"

_POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION consents_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'consent records are append-only (% on %)', TG_OP, TG_TABLE_NAME;
END
$$;
"""


def _expired_consents_sql(cutoff: str) -> str:
    """Consents whose evidence may go: not active, and no event at or after `cutoff`."""
    return (
        "SELECT c.id FROM consents_consent c WHERE c.state <> 'active' AND NOT EXISTS ("  # noqa: S608
        "SELECT 1 FROM consents_consentevent e WHERE e.consent_id = c.id "
        f"AND e.occurred_at >= {cutoff})"
    )


def _postgres_cutoff() -> str:
    return f"now() - interval '{EVIDENCE_KEPT_FOR.days} days'"


def _postgres_guard_function() -> str:
    """The evidence table's row guard: never an UPDATE; a DELETE only as the purge makes it."""
    return f"""
CREATE OR REPLACE FUNCTION consents_evidence_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND current_setting('{PURGE_FLAG}', true) = 'on'
       AND current_user = (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = TG_RELID)
       AND OLD.consent_id IN ({_expired_consents_sql(_postgres_cutoff())})
    THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'consent records are append-only (% on %); evidence past its period is '
        'removed only by purge_evidence', TG_OP, TG_TABLE_NAME;
END
$$;
"""  # noqa: S608


def _postgres_purge_function() -> str:
    return f"""
CREATE OR REPLACE FUNCTION consents_purge_evidence() RETURNS SETOF uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM set_config('{PURGE_FLAG}', 'on', true);
    RETURN QUERY WITH gone AS (
        DELETE FROM consents_consentevent
        WHERE consent_id IN ({_expired_consents_sql(_postgres_cutoff())})
        RETURNING consent_id
    ) SELECT consent_id FROM gone;
    PERFORM set_config('{PURGE_FLAG}', 'off', true);
END
$$;
"""  # noqa: S608


_SQLITE_OPEN_PURGE = "SELECT cutoff FROM consents_evidencepurge WHERE finished_at IS NULL"


def _existing(connection) -> list[str]:
    """The protected tables already created: an early migration guards the tables it knows,
    and the migration that adds a table guards it in turn."""
    present = set(connection.introspection.table_names())
    return [table for table in PROTECTED_TABLES if table in present]


def create_triggers(connection) -> None:
    """Install (or reinstall, as the design now is) every guard on the evidence tables."""
    drop_triggers(connection)
    create_truncate_guard(connection)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_POSTGRES_FUNCTION)
            cursor.execute(_postgres_guard_function())
            cursor.execute(_postgres_purge_function())
            for table in _existing(connection):
                guard = (
                    "consents_evidence_guard" if table == EVIDENCE_TABLE else "consents_append_only"
                )
                cursor.execute(
                    f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                    f"FOR EACH ROW EXECUTE FUNCTION {guard}()"
                )
        elif connection.vendor == "sqlite":
            for table in _existing(connection):
                for operation in ("UPDATE", "DELETE"):
                    when = ""
                    if table == EVIDENCE_TABLE and operation == "DELETE":
                        expired = _expired_consents_sql(f"({_SQLITE_OPEN_PURGE})")
                        when = (
                            f"WHEN NOT EXISTS ({_SQLITE_OPEN_PURGE}) "
                            f"OR OLD.consent_id NOT IN ({expired}) "
                        )
                    cursor.execute(
                        f"CREATE TRIGGER {table}_no_{operation.lower()} "
                        f"BEFORE {operation} ON {table} {when}BEGIN "
                        f"SELECT RAISE(ABORT, 'consent records are append-only'); END"
                    )


def drop_triggers(connection) -> None:
    """For reinstalling them, and for tearing down a test database: a flush deletes every row."""
    drop_truncate_guard(connection)
    with connection.cursor() as cursor:
        for table in _existing(connection):
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
        for table in _existing(connection):
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
        for table in _existing(connection):
            cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")


def expired_evidence_delete(connection, *, cutoff) -> list[str]:
    """Delete the evidence past its period; the consent id of each deleted row. Only for
    consents.services.evidence_purge, inside its transaction with its run row open."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT * FROM consents_purge_evidence()")
            return [str(row[0]) for row in cursor.fetchall()]
        expired = _expired_consents_sql("%s")
        cursor.execute(
            f"SELECT consent_id FROM consents_consentevent WHERE consent_id IN ({expired})",  # noqa: S608
            [cutoff],
        )
        consent_ids = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            f"DELETE FROM consents_consentevent WHERE consent_id IN ({expired})",  # noqa: S608
            [cutoff],
        )
        return consent_ids
