"""Each consent's own page and the receipt: the wording agreed to (linked to its text), the data
each decision covered, the bank date, and the connections' events (linked, expired, reconnected,
paused, disconnected) in the same history; a printable receipt and JSON with stable keys."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import time_machine
from django.conf import settings

from connections.models import Connection, ConnectionEvent
from connections.services import connection_mark_deleted
from consents.models import ConsentText
from tests.consents.steps import grant, withdraw
from tests.consents.test_banking_clock import START, at, bank_becomes
from tests.fakes import link_bank, link_xero

pytestmark = pytest.mark.django_db


def text_of(html: str) -> str:
    main = html.split('<main id="main"', 1)[1].split("</main>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main))


@pytest.fixture
def lending_story(owner_client, owner, acme, lending):
    """Day 0 the bank is linked and Lending agreed; day 89 the bank expires; day 95 it is
    reconnected; day 100 Xero is disconnected."""
    link_xero(acme)
    bank = link_bank(acme, status=Connection.Status.PENDING_AUTH)
    bank_becomes(bank, "Linked", START)
    with time_machine.travel(at(0, minutes=5), tick=False):
        grant(owner_client, "lending")
    bank_becomes(bank, "Deauthorized", at(89))
    bank_becomes(bank, "Linked", at(95))
    xero = Connection.objects.get(platform_key="gbol")
    Connection.objects.filter(pk=xero.pk).update(authorised_at=START)
    xero.refresh_from_db()
    with time_machine.travel(at(100), tick=False):
        connection_mark_deleted(xero)
    with time_machine.travel(at(101), tick=False):
        owner_client.force_login(owner)
    return bank


def test_connection_events_are_recorded_as_access_changes(lending_story):
    events = [(e.connection.platform_name, e.kind) for e in ConnectionEvent.objects.all()]

    assert events == [
        ("Plaid", "linked"),
        ("Plaid", "expired"),
        ("Plaid", "reconnected"),
        ("Xero", "disconnected"),
    ]


def test_an_attempt_never_authorised_leaves_no_connection_event(acme):
    attempt = link_xero(acme, status=Connection.Status.PENDING_AUTH)

    connection_mark_deleted(attempt)

    assert not ConnectionEvent.objects.exists()


def test_the_consent_page_shows_what_was_agreed_and_every_event(owner_client, lending_story):
    with time_machine.travel(at(101), tick=False):
        page = owner_client.get("/consents/lending/").content.decode()
    words = text_of(page)

    assert "Your consent for Lending" in words
    assert "Agreed on 2 March 2026, 09:05 UTC" in words
    assert 'href="/products/lending/wording/1/">Version 1</a>' in page
    assert "Invoices" in words and "Bank transactions" in words
    assert "Bank data shared until" in words and "3 September 2026" in words  # day 95 + 90
    history = words.split(" History ")[1]
    order = [
        "Granted by Olive Owner, wording version 1",
        "Plaid (banking): Access expired",
        "Plaid (banking): Connected again",
        "Xero (accounting): Disconnected",
    ]
    positions = [history.index(line) for line in order]
    assert positions == sorted(positions)
    # Linked before Lending was agreed to: not part of this consent's story.
    assert "Plaid (banking): Connected " not in history.replace("Connected again", "")


def test_my_consents_history_has_data_types_linked_wording_and_connection_events(
    owner_client, lending_story
):
    with time_machine.travel(at(101), tick=False):
        page = owner_client.get("/consents/").content.decode()

    history = page.split("<h2>History</h2>")[1]
    assert 'href="/products/lending/wording/1/">wording version 1</a>' in history
    assert "Data: invoices, bills," in history
    assert "Plaid (banking): <strong>Access expired</strong>" in history
    assert "Plaid (banking): <strong>Connected again</strong>" in history
    assert 'href="/consents/lending/"' in page


def test_the_wording_link_shows_that_version_exactly(owner_client, lending):
    grant(owner_client, "lending")
    text = ConsentText.objects.get(product=lending, version=1)

    page = owner_client.get("/products/lending/wording/1/").content.decode()

    assert "Lending: consent wording, version 1" in page
    assert text.sha256 in page
    first_paragraph = text.body.split("\n\n")[0].strip().splitlines()[0]
    assert first_paragraph.replace("'", "&#x27;") in page
    assert owner_client.get("/products/lending/wording/9/").status_code == 404


def test_the_printable_receipt_has_consents_history_and_the_wording_itself(
    owner_client, lending_story, lending
):
    with time_machine.travel(at(101), tick=False):
        response = owner_client.get("/consents/receipt/")
    words = text_of(response.content.decode())

    assert response.status_code == 200
    assert "Consent receipt for Acme Ltd" in words
    assert "Lending" in words and "Agreed on 2 March 2026" in words
    assert "Plaid (banking): Access expired" in words
    assert "The wording you agreed to" in words
    assert ConsentText.objects.get(product=lending).sha256 in words
    assert 'href="/consents/receipt.json"' in response.content.decode()


def test_the_json_receipt_has_documented_keys_labels_and_connection_history(
    owner_client, lending_story
):
    with time_machine.travel(at(101), tick=False):
        response = owner_client.get("/consents/receipt.json")
        receipt = json.loads(response.getvalue())

    assert receipt["schema_version"] == 1
    lending = next(c for c in receipt["consents"] if c["product"] == "lending")
    assert lending["status"] == "Waiting for a connection"  # Xero, which it needs, is gone
    assert "Invoices" in lending["data_type_labels"]
    assert lending["bank_data_until"].startswith("2026-09-03")
    granted = receipt["history"][0]
    assert granted["action"] == "grant" and granted["action_label"] == "Granted"
    assert granted["data_type_labels"][0] == "Invoices"
    assert [(e["platform"], e["event"]) for e in receipt["connection_history"]] == [
        ("Plaid", "linked"),
        ("Plaid", "expired"),
        ("Plaid", "reconnected"),
        ("Xero", "disconnected"),
    ]
    documented = (Path(settings.BASE_DIR) / "docs" / "receipt.md").read_text(encoding="utf-8")
    for key in ("schema_version", "consents", "history", "connection_history", "texts"):
        assert f"`{key}`" in documented
    for section in ("consents", "history", "connection_history", "texts"):
        for key in receipt[section][0]:
            assert f"`{key}`" in documented, (section, key)


def test_another_companys_consent_page_is_not_shown(outsider_client, owner_client, lending):
    grant(owner_client, "lending")

    response = outsider_client.get("/consents/lending/")

    assert response.status_code == 302 and response["Location"] == "/products/lending/"


def test_a_withdrawn_consent_keeps_its_page_and_history(owner_client, lending):
    grant(owner_client, "lending")
    withdraw(owner_client, "lending")

    words = text_of(owner_client.get("/consents/lending/").content.decode())

    assert "Withdrawn on" in words
    assert words.index("Granted by") < words.index("Withdrawn by")
