"""Consent decisions as the tests make them: through the pages (when the page is the subject),
or straight through the service (when the test only needs the consent to exist)."""

from __future__ import annotations

import uuid

from django.test import Client

from companies.models import Company
from consents.models import Consent, Product
from consents.selectors import current_text
from consents.services import RequestMeta, consent_grant


def grant(client: Client, slug: str, data: dict | None = None, **headers):
    """Open the review page (which remembers the wording shown), then agree."""
    review = client.get(f"/products/{slug}/consent/")
    assert review.status_code == 200, review.content.decode()[:500]
    return client.post(f"/products/{slug}/consent/", {"agree": "on", **(data or {})}, **headers)


def withdraw(client: Client, slug: str, choice: str = "withdraw"):
    return client.post(f"/products/{slug}/withdraw/", {"choice": choice})


def granted(company: Company, slug: str) -> Consent:
    """The company's only member has agreed to `slug`'s current wording, recorded as the review
    page records it (the same service, the same surface), without the two requests: for set-up
    in tests whose subject is not the review page."""
    product = Product.objects.get(slug=slug)
    consent, _ = consent_grant(
        company=company,
        product=product,
        actor=company.memberships.get().user,
        text_shown=current_text(product),
        meta=RequestMeta(surface="consent_review", request_id=uuid.uuid4().hex),
    )
    return consent
