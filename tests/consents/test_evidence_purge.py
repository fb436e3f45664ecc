"""Evidence is kept for its period and then removed, only by `manage.py purge_evidence`."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from consents.models import (
    EVIDENCE_KEPT_FOR,
    Consent,
    ConsentEvent,
    EvidencePurge,
    ImmutableRecordError,
)
from consents.services import RequestMeta, consent_withdraw, evidence_purge
from tests.consents.steps import granted

pytestmark = pytest.mark.django_db


def withdrawn(company, slug: str) -> Consent:
    consent = granted(company, slug)
    consent_withdraw(
        consent=consent,
        actor=consent.granted_by,
        meta=RequestMeta(surface="test"),
        receipt=False,
    )
    return consent


@pytest.fixture
def three_consents(acme, owner, other_co, outsider):
    """Acme withdrew Lending longer ago than evidence is kept, and Business insights a year
    ago; Other Co has shared Lending since as long ago, and still does. The database's clock
    (PostgreSQL decides with it) is the real one, so the past is made by travelling back."""
    now = timezone.now()
    with time_machine.travel(now - EVIDENCE_KEPT_FOR - timedelta(days=30)):
        expired = withdrawn(acme, "lending")
        still_active = granted(other_co, "lending")
    with time_machine.travel(now - timedelta(days=365)):
        recent = withdrawn(acme, "business-insights")
    return expired, recent, still_active


def test_purging_removes_the_evidence_of_consents_ended_longer_ago_than_the_period(
    three_consents, capsys
):
    expired, recent, still_active = three_consents

    call_command("purge_evidence")

    assert not ConsentEvent.objects.filter(consent=expired).exists()
    assert ConsentEvent.objects.filter(consent=recent).count() == 2
    assert ConsentEvent.objects.filter(consent=still_active).count() == 1
    run = EvidencePurge.objects.get()
    assert run.events_deleted == 2 and run.consent_ids == [str(expired.pk)]
    assert run.finished_at is not None
    assert "Removed 2 evidence records of 1 consents" in capsys.readouterr().out


def test_purging_twice_removes_nothing_the_second_time(three_consents):
    evidence_purge()
    second = evidence_purge()

    assert second.events_deleted == 0 and second.consent_ids == []
    assert ConsentEvent.objects.count() == 3


def test_a_consent_with_any_recent_event_keeps_its_whole_history(acme, owner):
    now = timezone.now()
    with time_machine.travel(now - EVIDENCE_KEPT_FOR - timedelta(days=400)):
        consent = granted(acme, "lending")
    with time_machine.travel(now - timedelta(days=10)):
        consent_withdraw(
            consent=consent, actor=owner, meta=RequestMeta(surface="test"), receipt=False
        )

    evidence_purge()

    assert ConsentEvent.objects.filter(consent=consent).count() == 2


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM consents_consentevent",
        "DELETE FROM consents_consentevent WHERE consent_id IN "
        "(SELECT id FROM consents_consent WHERE state <> 'active')",
    ],
)
def test_outside_the_purge_the_database_refuses_to_delete_even_expired_evidence(
    three_consents, sql
):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)

    assert ConsentEvent.objects.count() == 5


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's guard reads the purge run")
def test_on_sqlite_an_open_purge_run_still_lets_only_expired_evidence_go(three_consents):
    expired, recent, _ = three_consents
    with transaction.atomic():
        EvidencePurge.objects.create(cutoff=timezone.now() - EVIDENCE_KEPT_FOR)
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM consents_consentevent WHERE consent_id = %s", [recent.pk.hex]
            )
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM consents_consentevent WHERE consent_id = %s", [expired.pk.hex]
            )
        transaction.set_rollback(True)


def test_the_orm_still_refuses_to_delete_evidence(three_consents):
    with pytest.raises(ImmutableRecordError):
        ConsentEvent.objects.filter(consent=three_consents[0]).delete()
