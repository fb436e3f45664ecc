"""The app's own database role cannot undo the protection of consent evidence (L6, C2).

docs/postgres-roles.sql is applied to the test database as shipped, creating an owner role and
an app role with unique names; the checks then connect as the app role, as the site would.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
import time_machine
from django.conf import settings
from django.db import connection as db_connection
from django.utils import timezone
from psycopg import sql

from consents.db import PROTECTED_TABLES, PURGE_FLAG
from consents.models import EVIDENCE_KEPT_FOR, ConsentEvent, ConsentText, EvidencePurge, Product
from consents.selectors import current_text
from consents.services import (
    RequestMeta,
    consent_grant,
    consent_text_publish,
    consent_withdraw,
    evidence_purge,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        db_connection.vendor != "postgresql", reason="roles and privileges are PostgreSQL's"
    ),
    # The app role's own connection sees only committed rows.
    pytest.mark.django_db(transaction=True),
]

SHIPPED_SQL = Path(settings.BASE_DIR) / "docs" / "postgres-roles.sql"


@dataclass(frozen=True)
class Roles:
    owner: str
    app: str


def _connect(**overrides) -> psycopg.Connection:
    """A new session on the test database; as the test's own (super)user unless overridden."""
    options = db_connection.settings_dict
    params = {
        "dbname": options["NAME"],
        "host": options["HOST"],
        "port": options["PORT"],
        "user": options["USER"],
        "password": options["PASSWORD"],
    }
    params.update(overrides)
    return psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True)


def _shipped_sql_for(variables: dict[str, str], conn: psycopg.Connection) -> str:
    """The file as psql would run it: meta-commands dropped, :"name" quoted as an identifier."""
    text = "\n".join(
        line for line in SHIPPED_SQL.read_text().splitlines() if not line.startswith("\\")
    )
    for name, value in variables.items():
        text = text.replace(f':"{name}"', sql.Identifier(value).as_string(conn))
    assert ':"' not in text, "the file uses a psql variable this test does not set"
    return text


@pytest.fixture
def roles():
    suffix = uuid.uuid4().hex[:12]
    roles = Roles(owner=f"test_owner_{suffix}", app=f"test_app_{suffix}")
    with _connect() as admin:
        if admin.execute("SELECT current_setting('is_superuser')").fetchone()[0] != "on":
            pytest.skip("creating the roles needs the test database user to be a superuser")
    try:
        with _connect() as admin:
            admin.execute(
                _shipped_sql_for(
                    {"owner": roles.owner, "app": roles.app, "DBNAME": admin.info.dbname}, admin
                )
            )
        yield roles
    finally:
        # Roles belong to the whole server, not to the test database: always remove them.
        with _connect() as admin:
            for role in (roles.app, roles.owner):
                exists = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
                if exists.fetchone():
                    name = sql.Identifier(role)
                    admin.execute(sql.SQL("DROP OWNED BY {}").format(name))
                    admin.execute(sql.SQL("DROP ROLE {}").format(name))


@pytest.fixture
def app_db(roles):
    """A session logged in as the app role (the test server trusts local connections)."""
    with _connect(user=roles.app, password=None) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == roles.app
        yield conn


@pytest.fixture
def lending_text() -> ConsentText:
    # Another transactional test may have flushed the shipped products away.
    lending, _ = Product.objects.get_or_create(
        slug="lending",
        defaults={"name": "Lending", "purpose": "Credit.", "data_types": ["invoices"]},
    )
    return current_text(lending) or consent_text_publish(
        product=lending, body="Lending.", retention_days=2192, retention_summary="six years"
    )


@pytest.fixture
def event(owner, acme, lending_text) -> ConsentEvent:
    consent_grant(
        company=acme,
        product=lending_text.product,
        actor=owner,
        text_shown=lending_text,
        meta=RequestMeta(surface="test"),
    )
    return ConsentEvent.objects.get()


def _enabled_triggers() -> int:
    with db_connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = ANY(%s::regclass[]) "
            "AND NOT tgisinternal AND tgenabled = 'O'",
            [list(PROTECTED_TABLES)],
        )
        return cursor.fetchone()[0]


def test_the_app_role_records_new_evidence(app_db, event):
    columns = sql.SQL(", ").join(
        sql.Identifier(field.column)
        for field in ConsentEvent._meta.concrete_fields
        if field.column != "id"
    )
    app_db.execute(
        sql.SQL(
            "INSERT INTO consents_consentevent (id, {columns}) "
            "SELECT %s, {columns} FROM consents_consentevent WHERE id = %s"
        ).format(columns=columns),
        [uuid.uuid4(), event.id],
    )

    assert ConsentEvent.objects.count() == 2


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("UPDATE consents_consentevent SET user_agent = 'forged'", "append-only"),
        ("DELETE FROM consents_consentevent", "append-only"),
        ("UPDATE consents_consenttext SET body = 'forged'", "append-only"),
        ("DELETE FROM consents_consenttext", "append-only"),
        ("TRUNCATE consents_consentevent", "permission denied"),
        ("TRUNCATE consents_consenttext CASCADE", "permission denied"),
        ("ALTER TABLE consents_consentevent DISABLE TRIGGER ALL", "must be owner"),
        (
            "ALTER TABLE consents_consenttext DISABLE TRIGGER consents_consenttext_append_only",
            "must be owner",
        ),
        (
            "DROP TRIGGER consents_consentevent_append_only ON consents_consentevent",
            "must be owner",
        ),
        ("DROP TRIGGER consents_consenttext_no_truncate ON consents_consenttext", "must be owner"),
        ("DROP FUNCTION consents_append_only() CASCADE", "must be owner"),
        ("DROP FUNCTION consents_evidence_guard() CASCADE", "must be owner"),
        # The purge function runs as its owner: replacing it would be a way round the guard.
        (
            "CREATE OR REPLACE FUNCTION consents_purge_evidence() RETURNS SETOF uuid "
            "LANGUAGE sql SECURITY DEFINER AS 'DELETE FROM consents_consentevent RETURNING id'",
            "permission denied for schema public|must be owner",
        ),
        ("ALTER TABLE consents_consentevent OWNER TO CURRENT_USER", "must be owner"),
        ("DROP TABLE consents_consentevent CASCADE", "must be owner"),
        # Replica mode skips ordinary triggers; only a superuser may switch to it.
        ("SET session_replication_role = replica", "permission denied"),
    ],
)
def test_the_app_role_cannot_change_evidence_or_lift_its_protection(
    app_db, event, statement, refusal
):
    triggers = _enabled_triggers()

    with pytest.raises(psycopg.Error, match=refusal):
        app_db.execute(statement)

    assert triggers == 2 * len(PROTECTED_TABLES)  # row guard and TRUNCATE guard on each
    assert _enabled_triggers() == triggers
    assert ConsentEvent.objects.count() == 1
    assert ConsentEvent.objects.get().user_agent != "forged"
    assert ConsentText.objects.get(pk=event.text_id).body != "forged"


def test_the_site_works_as_the_app_role(roles, owner, acme, lending_text):
    # The grants must be enough for real work: publishing wording locks the latest version
    # (SELECT ... FOR UPDATE), and a grant writes the consent, its event and sync state.
    with db_connection.cursor() as cursor:
        cursor.execute(f'SET ROLE "{roles.app}"')
    try:
        newer = consent_text_publish(product=lending_text.product, body="Lending, reworded.")
        consent_grant(
            company=acme,
            product=newer.product,
            actor=owner,
            text_shown=newer,
            meta=RequestMeta(surface="test"),
        )
        with db_connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            acting_as = cursor.fetchone()[0]
    finally:
        with db_connection.cursor() as cursor:
            cursor.execute("RESET ROLE")

    assert acting_as == roles.app
    assert ConsentEvent.objects.get().text == newer


def test_tables_added_by_later_migrations_are_open_to_the_app_for_rows_only(roles, app_db):
    table = sql.Identifier(f"later_{roles.app}")
    with _connect() as admin:
        admin.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(roles.owner)))
        admin.execute(
            sql.SQL(
                "CREATE TABLE {} "
                "(id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, note text)"
            ).format(table)
        )

    app_db.execute(sql.SQL("INSERT INTO {} (note) VALUES ('written by the app')").format(table))
    with pytest.raises(psycopg.Error, match="permission denied"):
        app_db.execute(sql.SQL("TRUNCATE {}").format(table))
    # The roles fixture drops the table with its owner.


def _withdrawn_consent(*, company, actor, text: ConsentText):
    consent, _ = consent_grant(
        company=company,
        product=text.product,
        actor=actor,
        text_shown=text,
        meta=RequestMeta(surface="test"),
    )
    consent_withdraw(consent=consent, actor=actor, meta=RequestMeta(surface="test"), receipt=False)
    return consent


@pytest.fixture
def expired_and_recent(owner, acme, outsider, other_co, lending_text):
    """Acme's Lending consent ended longer ago than evidence is kept; Other Co's a week ago.
    PostgreSQL judges with its own clock, so the past is made by travelling back."""
    with time_machine.travel(timezone.now() - EVIDENCE_KEPT_FOR - timedelta(days=30)):
        expired = _withdrawn_consent(company=acme, actor=owner, text=lending_text)
    with time_machine.travel(timezone.now() - timedelta(days=7)):
        recent = _withdrawn_consent(company=other_co, actor=outsider, text=lending_text)
    return expired, recent


def test_the_app_role_cannot_delete_expired_evidence_even_with_the_purge_flag(
    app_db, expired_and_recent
):
    expired, _ = expired_and_recent

    with pytest.raises(psycopg.Error, match="append-only"), app_db.transaction():
        app_db.execute("SELECT set_config(%s, 'on', true)", [PURGE_FLAG])
        app_db.execute("DELETE FROM consents_consentevent WHERE consent_id = %s", [expired.pk])

    assert ConsentEvent.objects.filter(consent=expired).count() == 2


def test_the_purge_function_removes_only_expired_evidence_whoever_calls_it(
    app_db, expired_and_recent
):
    expired, recent = expired_and_recent

    gone = app_db.execute("SELECT * FROM consents_purge_evidence()").fetchall()
    again = app_db.execute("SELECT * FROM consents_purge_evidence()").fetchall()

    assert sorted(row[0] for row in gone) == [expired.pk, expired.pk]
    assert again == []
    assert not ConsentEvent.objects.filter(consent=expired).exists()
    assert ConsentEvent.objects.filter(consent=recent).count() == 2
    # The flag it set for its own deletes does not outlive them.
    assert app_db.execute("SELECT current_setting(%s, true)", [PURGE_FLAG]).fetchone()[0] in (
        None,
        "",
        "off",
    )


def test_purge_evidence_works_as_the_app_role(roles, expired_and_recent):
    expired, recent = expired_and_recent
    with db_connection.cursor() as cursor:
        cursor.execute(f'SET ROLE "{roles.app}"')
    try:
        run = evidence_purge()
    finally:
        with db_connection.cursor() as cursor:
            cursor.execute("RESET ROLE")

    assert run.events_deleted == 2 and run.consent_ids == [str(expired.pk)]
    assert EvidencePurge.objects.get().finished_at is not None
    assert ConsentEvent.objects.filter(consent=recent).count() == 2
