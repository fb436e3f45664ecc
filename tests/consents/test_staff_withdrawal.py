"""Staff withdraw a consent at a customer's request only after a confirmation page with the
customer's reason; the evidence names the staff member, the customer is shown "Withdrawn by
<the bank>: <reason>"; and the admin shows the evidence in words, each event labelled with
what it decided then."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from django.core import mail
from django.test import Client

from consents.models import Consent, ConsentEvent
from consents.services import ReasonRequired, RequestMeta, consent_withdraw
from tests.consents.steps import grant, withdraw

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/consents/consent/"


@pytest.fixture(autouse=True)
def _bank_name(settings):
    settings.BANK_NAME = "Example Bank"


@pytest.fixture
def consent(owner_client, lending) -> Consent:
    grant(owner_client, "lending")
    mail.outbox.clear()
    return Consent.objects.get()


def words(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def ask(client: Client, consent: Consent, **extra):
    return client.post(
        CHANGELIST,
        {"action": "withdraw_on_behalf", "_selected_action": [str(consent.pk)], **extra},
    )


def test_the_action_first_asks_for_confirmation_and_withdraws_nothing(staff_client, consent):
    response = ask(staff_client, consent)

    assert response.status_code == 200
    page = words(response.content.decode())
    assert "Lending for Acme Ltd" in page
    assert "Withdrawn by Example Bank" in page
    assert 'name="reason"' in response.content.decode()
    consent.refresh_from_db()
    assert consent.state == "active"
    assert not ConsentEvent.objects.filter(action="staff").exists()


@pytest.mark.parametrize("reason", ["", "   "])
def test_confirming_without_a_reason_is_refused_and_withdraws_nothing(
    staff_client, consent, reason
):
    response = ask(staff_client, consent, confirm="yes", reason=reason)

    assert response.status_code == 200
    assert "Give the customer&#x27;s reason" in response.content.decode()
    consent.refresh_from_db()
    assert consent.state == "active" and mail.outbox == []


def test_confirmed_with_a_reason_the_customer_sees_the_bank_and_the_reason_everywhere(
    staff_client,
    owner_client,
    staff,
    consent,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        response = ask(staff_client, consent, confirm="yes", reason="Asked by phone on 3 March")

    assert response.status_code == 302
    event = ConsentEvent.objects.get(action="staff")
    assert event.actor == staff and event.method == "admin" and event.surface == "staff_admin"
    assert event.details["reason"] == "Asked by phone on 3 March"
    shown = "Withdrawn by Example Bank: Asked by phone on 3 March"
    for url in ("/consents/", "/consents/lending/", "/consents/receipt/"):
        page = words(owner_client.get(url).content.decode())
        assert shown in page, url
        assert staff.email not in page and "Staff action" not in page, url
    receipt = json.loads(owner_client.get("/consents/receipt.json").getvalue())
    entry = next(e for e in receipt["history"] if e["action"] == "staff")
    assert entry["action_label"] == "Withdrawn by Example Bank"
    assert entry["reason"] == "Asked by phone on 3 March" and entry["actor"] is None
    assert [m.subject for m in mail.outbox] == [
        "Your consent receipt: Lending withdrawn by Example Bank"
    ]
    assert "Asked by phone on 3 March" in mail.outbox[0].body


def test_the_customers_own_withdrawal_has_no_reason_and_names_them(owner_client, consent):
    withdraw(owner_client, "lending")

    page = words(owner_client.get("/consents/lending/").content.decode())
    assert "Withdrawn by Olive Owner" in page
    receipt = json.loads(owner_client.get("/consents/receipt.json").getvalue())
    assert [e["reason"] for e in receipt["history"]] == [None, None]


def test_the_confirmation_is_protected_from_cross_site_posts(staff, consent):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)

    response = ask(client, consent, confirm="yes", reason="Forged")

    assert response.status_code == 403
    consent.refresh_from_db()
    assert consent.state == "active"


def test_customers_cannot_withdraw_through_the_admin(owner_client, consent):
    response = ask(owner_client, consent, confirm="yes", reason="Not staff")

    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    consent.refresh_from_db()
    assert consent.state == "active"


def test_the_service_refuses_a_staff_withdrawal_without_a_reason(staff, consent):
    with pytest.raises(ReasonRequired):
        consent_withdraw(
            consent=consent,
            actor=staff,
            meta=RequestMeta(surface="staff_admin", method="admin"),
            on_behalf=True,
            reason=" ",
        )
    consent.refresh_from_db()
    assert consent.state == "active"


def test_the_evidence_page_reads_in_words_with_the_wording_linked(
    staff_client, owner_client, consent
):
    withdraw(owner_client, "lending", choice="withdraw")
    event = ConsentEvent.objects.get(action="withdraw")

    html = staff_client.get(f"/admin/consents/consentevent/{event.pk}/change/").content.decode()

    page = words(html)
    assert f'href="/admin/consents/consenttext/{consent.text_id}/change/"' in html
    assert f"Lending wording, version {consent.text.version}" in page
    assert "Invoices" in page  # a data type in words, not its key
    assert "Withdraw only; connections kept" in page
    assert '"choice"' not in html and "stopped_data_types" not in html


def test_an_old_withdrawal_is_labelled_withdrawn_though_the_consent_is_active_again(
    staff_client, owner_client, consent
):
    withdraw(owner_client, "lending")
    grant(owner_client, "lending")
    event = ConsentEvent.objects.get(action="withdraw")

    page = words(
        staff_client.get(f"/admin/consents/consentevent/{event.pk}/change/").content.decode()
    )

    assert re.search(r"consent after this decision:? Withdrawn", page, re.I)
    assert re.search(r"the consent today:? Lending for Acme Ltd: Sharing", page, re.I)


def test_the_consent_page_reads_in_words_and_lists_its_decisions(
    staff_client, staff, owner_client, consent
):
    ask(staff_client, consent, confirm="yes", reason="Asked by phone")
    grant(owner_client, "lending")

    html = staff_client.get(f"/admin/consents/consent/{consent.pk}/change/").content.decode()

    page = words(html)
    assert "Invoices" in page and '"invoices"' not in html
    assert f'href="/admin/consents/consenttext/{consent.text_id}/change/"' in html
    decisions = unescape(page.split("Decisions, newest first", 1)[1])
    assert decisions.index("Granted") < decisions.index(
        "Withdrawn by staff at the customer's request"
    )
    for event in ConsentEvent.objects.all():
        assert f'href="/admin/consents/consentevent/{event.pk}/change/"' in html
