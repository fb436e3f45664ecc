"""An expired connection is announced to every member once; its return is confirmed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from connections.models import Connection
from tests.personas import make_member
from tests.webhooks.steps import connection_event

pytestmark = pytest.mark.django_db

T0 = datetime.now(UTC) - timedelta(minutes=1)
EXPIRED = [
    {
        "statusCode": "401",
        "statusText": "The integration de-authorized access to the connection.",
        "errorMessage": "The integration de-authorized access to the connection.",
        "erroredOnUtc": "2026-11-28T09:53:29.000Z",
        "status": "Active",
    }
]


@pytest.fixture
def bank(xero, owner, acme):
    make_member("bookkeeper@acme.example", company=acme, role="member")
    Connection.objects.filter(pk=xero.pk).update(
        status="Linked", source_type="Banking", platform_name="Plaid", platform_key="suuo"
    )
    xero.refresh_from_db()
    return xero


def test_an_expiry_emails_every_member_once(deliver, bank, owner):
    event = connection_event("connection.disconnected", T0, status="Deauthorized", errors=EXPIRED)

    deliver(event)
    deliver(event)  # a duplicate delivery
    deliver({**event, "id": "another-event-same-news", "generatedDate": event["generatedDate"]})

    bank.refresh_from_db()
    assert bank.status == Connection.Status.DEAUTHORIZED
    assert len(mail.outbox) == 1
    notice = mail.outbox[0]
    assert set(notice.to) == {owner.email, "bookkeeper@acme.example"}
    assert "Plaid" in notice.subject and "has expired" in notice.subject
    assert f"/connections/{bank.id}/" in notice.body


def test_reconnecting_emails_a_confirmation_and_rearms_the_notice(deliver, bank):
    deliver(connection_event("connection.disconnected", T0, status="Deauthorized", errors=EXPIRED))
    deliver(connection_event("connection.reconnected", T0 + timedelta(seconds=10)))
    deliver(
        connection_event(
            "connection.disconnected",
            T0 + timedelta(seconds=20),
            status="Deauthorized",
            errors=EXPIRED,
        )
    )

    subjects = [m.subject for m in mail.outbox]
    assert subjects == [
        "Your connection to Plaid has expired",
        "Plaid is connected again",
        "Your connection to Plaid has expired",
    ]


def test_an_older_expiry_arriving_late_sends_nothing(deliver, bank):
    deliver(connection_event("connection.reconnected", T0 + timedelta(seconds=10)))
    mail.outbox.clear()

    deliver(connection_event("connection.disconnected", T0, status="Deauthorized", errors=EXPIRED))

    bank.refresh_from_db()
    assert bank.status == Connection.Status.LINKED
    assert mail.outbox == []
