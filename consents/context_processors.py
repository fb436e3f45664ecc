"""Banners every page shows about the customer's access, in terms of products: an expired
connection and what it stops, and a banking consent whose 90-day confirmation is ending."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from companies.selectors import request_company
from consents.selectors import (
    banking_consents_needing_reconfirmation,
    expired_connections_with_products,
    request_access_facts_read,
)


def _banners(request: HttpRequest) -> dict:
    company = request_company(request)
    if company is None:
        return {"expired": [], "reconfirm": []}
    # Free when the page has read its company's consents and connections already; two
    # queries otherwise.
    facts = request_access_facts_read(request)
    return {
        "expired": expired_connections_with_products(company, facts),
        "reconfirm": banking_consents_needing_reconfirmation(company, facts=facts),
    }


def access_banners(request: HttpRequest) -> dict:
    # Lazy: pages that never render the banners (the sandbox's, JSON) cost no query.
    return {"access_banners": SimpleLazyObject(lambda: _banners(request))}
