"""Customers see, per product, how their data was used: on My consents ("How your data was
used", with the withdrawal that stopped it) and in the consent receipt."""

from __future__ import annotations

import json
import re

import pytest

from tests.consents.steps import withdraw

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def test_my_consents_shows_each_read_and_the_withdrawal_that_stopped_them(
    client, synced, time_machine
):
    client.get("/insights/")
    time_machine.shift(60)
    withdraw(client, "business-insights")

    page = text(client.get("/consents/"))

    section = page[page.index("How your data was used") :]
    assert 'id="use-business-insights"' in section
    assert "Show the Business insights dashboard, for Bea Baker: <strong>Read</strong>" in section
    assert "profit and loss" in section
    assert "Consent <strong>withdrawn</strong>" in section
    assert "from this moment Business insights dashboard reads nothing" in section
    # Newest first: the withdrawal, then the read before it.
    assert section.index("withdrawn") < section.index("Show the Business insights dashboard")


def test_the_receipt_lists_every_use(client, synced):
    client.get("/insights/")

    receipt = json.loads(client.get("/consents/receipt.json").getvalue())

    [use] = receipt["data_use"]
    assert use["product"] == "business-insights"
    assert use["reader"] == "customer"
    assert use["outcome"] == "read"
    assert "profitAndLoss" in use["data_types"]
    assert use["from_codat"] is True


def test_another_companys_uses_are_not_shown(client, synced, outsider_client):
    client.get("/insights/")

    page = text(outsider_client.get("/consents/"))
    receipt = json.loads(outsider_client.get("/consents/receipt.json").getvalue())

    assert "Show the Business insights dashboard" not in page
    assert receipt["data_use"] == []
