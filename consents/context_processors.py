"""Banners every page shows about the customer's access, in terms of products: an expired
connection and what it stops, and a banking consent whose 90-day confirmation is ending."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from companies.selectors import request_company
from consents import pages


def _banners(request: HttpRequest) -> pages.Banners | None:
    company = request_company(request)
    return pages.banners(request, company) if company is not None else None


def access_banners(request: HttpRequest) -> dict:
    # Lazy: pages that never render the banners (the sandbox's, JSON) cost nothing. The rest
    # read them from what the company's pages keep (consents.pages), built from the facts the
    # page read when it has read them.
    return {"access_banners": SimpleLazyObject(lambda: _banners(request))}
