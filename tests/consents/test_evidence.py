"""Consent evidence and wording are append-only in the ORM and in the database (C2, C3)."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import ProtectedError
from django.test import Client

from consents.db import create_triggers
from consents.models import Consent, ConsentEvent, ConsentText, ImmutableRecordError
from consents.selectors import current_text
from consents.services import RequestMeta, consent_grant, consent_text_publish
from tests.concurrency import race
from tests.consents.steps import grant

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(owner_client, lending) -> ConsentEvent:
    grant(owner_client, "lending")
    return ConsentEvent.objects.get()


def test_saving_an_existing_event_raises(event):
    event.user_agent = "rewritten"
    with pytest.raises(ImmutableRecordError):
        event.save()


@pytest.mark.parametrize(
    "change",
    [
        lambda qs: qs.update(user_agent="x"),
        lambda qs: qs.delete(),
        lambda qs: qs.bulk_update(list(qs), ["user_agent"]),
        lambda qs: qs.first().delete(),
    ],
    ids=["update", "queryset-delete", "bulk_update", "instance-delete"],
)
def test_the_orm_refuses_to_change_or_remove_events(event, change):
    with pytest.raises(ImmutableRecordError):
        change(ConsentEvent.objects.all())
    assert ConsentEvent.objects.get().user_agent == event.user_agent


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE consents_consentevent SET user_agent = 'forged'",
        "DELETE FROM consents_consentevent",
        "UPDATE consents_consenttext SET body = 'forged'",
        "DELETE FROM consents_consenttext",
    ],
)
def test_the_database_refuses_raw_sql_changes(event, sql):
    create_triggers(connection)  # as migration 0002 installs them
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert ConsentEvent.objects.count() == 1
    assert ConsentEvent.objects.get().user_agent != "forged"


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no TRUNCATE")
@pytest.mark.parametrize(
    "sql",
    [
        "TRUNCATE consents_consentevent",
        "TRUNCATE consents_consenttext CASCADE",
        # Reaching the evidence through a parent table's cascade is refused as well.
        "TRUNCATE companies_company CASCADE",
        "UPDATE consents_consentevent SET user_agent = 'forged'",
        "DELETE FROM consents_consentevent",
    ],
)
def test_postgres_refuses_truncating_evidence_and_the_rows_stay(event, sql):
    create_triggers(connection)  # as migrations 0002 and 0005 install them
    with connection.cursor() as cursor:
        # Check the fixture's deferred foreign keys now: PostgreSQL would otherwise refuse the
        # TRUNCATE for its pending trigger events, before the guard is ever asked.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    assert ConsentEvent.objects.count() == 1
    assert ConsentEvent.objects.get().user_agent != "forged"
    assert ConsentText.objects.filter(pk=event.text_id).exists()


def test_deleting_the_company_or_the_user_behind_evidence_is_blocked(event, owner, acme):
    with pytest.raises(ProtectedError):
        acme.delete()
    with pytest.raises(ProtectedError):
        owner.delete()


def test_a_published_text_cannot_be_edited(lending):
    text = current_text(lending)
    text.body = "Sneaky edit"
    with pytest.raises(ImmutableRecordError):
        text.save()


def test_publishing_new_wording_keeps_earlier_consents_on_the_old_text(
    owner_client, lending, event
):
    old = current_text(lending)

    new = consent_text_publish(product=lending, body="Lending, reworded.")

    assert new.version == old.version + 1
    assert current_text(lending) == new
    consent = Consent.objects.get()
    assert consent.text == old and event.text_sha256 == old.sha256
    assert ConsentText.objects.get(pk=old.pk).body == old.body


def test_only_the_current_text_can_be_agreed_to(owner, acme, lending):
    old = current_text(lending)
    consent_text_publish(product=lending, body="Lending, reworded.")

    from consents.services import TextChanged

    with pytest.raises(TextChanged):
        consent_grant(
            company=acme,
            product=lending,
            actor=owner,
            text_shown=old,
            meta=RequestMeta(surface="test"),
        )
    assert not Consent.objects.exists()


def test_the_database_allows_one_consent_per_company_and_product(owner, acme, lending):
    Consent.objects.create(
        company=acme,
        product=lending,
        text=current_text(lending),
        granted_by=owner,
        granted_at="2026-11-28T12:00:00Z",
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Consent.objects.create(
            company=acme,
            product=lending,
            text=current_text(lending),
            granted_by=owner,
            granted_at="2026-11-28T12:00:01Z",
        )


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="real concurrency needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_grants_racing_make_one_consent_and_one_event(owner, acme, lending):
    text = current_text(lending)

    def decide() -> None:
        consent_grant(
            company=acme,
            product=lending,
            actor=owner,
            text_shown=text,
            meta=RequestMeta(surface="race"),
        )

    errors = race(decide)

    assert errors == []
    assert Consent.objects.filter(company=acme, product=lending, state="active").count() == 1
    assert ConsentEvent.objects.filter(company=acme, product=lending).count() == 1


def test_a_double_click_through_two_browsers_of_one_user_grants_once(owner, lending):
    first, second = Client(), Client()
    for browser in (first, second):
        browser.force_login(owner)
        browser.get("/products/lending/consent/")

    first.post("/products/lending/consent/", {"agree": "on"})
    second.post("/products/lending/consent/", {"agree": "on"})

    assert ConsentEvent.objects.count() == 1
