"""A customer closes their account in the browser: the business is gone from Codat (the
sandbox), nobody can sign in to it, and the consent evidence stays, naming no one."""

from __future__ import annotations

import base64

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from companies.models import Company
from consents.models import ConsentEvent
from tests.browser.steps import BUSINESS, EMAIL, NAME, PASSWORD, agree_to_share, connect, sign_up

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SANDBOX_AUTH = "Basic " + base64.b64encode(settings.CODAT_SANDBOX_KEY.encode()).decode()


def test_a_customer_closes_their_account_and_their_data_goes(page: Page, live_site):
    sign_up(page)
    agree_to_share(page, "Lending")
    connect(page, "Xero")
    company = Company.objects.get(name=BUSINESS)
    codat_company = f"{live_site}/sandbox/codat/companies/{company.codat_company_id}"
    assert page.request.get(codat_company, headers={"Authorization": SANDBOX_AUTH}).status == 200

    page.goto("/consents/")
    page.get_by_role("link", name="Close my account and delete my data").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Close your account and delete your data"
    )
    stopping = page.get_by_role("region", name="Products that stop")
    expect(stopping).to_contain_text("Lending")
    expect(page.get_by_role("region", name="Connections that go")).to_contain_text("Xero")
    expect(page.get_by_role("region", name="What we must keep, and until when")).to_contain_text(
        "under a reference that does not name anyone"
    )
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_label("I understand that closing cannot be undone").check()
    page.get_by_role("button", name="Close account and delete data").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Your account is closed")
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Log in")
    ).to_be_visible()
    # Codat no longer knows the business.
    assert page.request.get(codat_company, headers={"Authorization": SANDBOX_AUTH}).status == 404
    # Nobody can sign in to it any more.
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("main")).to_contain_text("do not match an account")
    # The evidence of both decisions stays, and names nobody.
    events = list(ConsentEvent.objects.filter(company=company).select_related("actor", "company"))
    assert [e.action for e in events] == ["grant", "withdraw"]
    for event in events:
        kept = " ".join(
            str(value)
            for value in (
                event.actor.username,
                event.actor.email,
                event.actor.get_full_name(),
                event.company.name,
                event.details,
            )
        )
        assert EMAIL not in kept and NAME.split()[0] not in kept and BUSINESS not in kept
