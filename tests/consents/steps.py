"""Consent decisions as the tests make them: through the pages (when the page is the subject),
or straight through the service (when the test only needs the consent to exist)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.test import Client

from companies import page_cache
from companies.models import Company
from connections.models import Connection, ConnectionEvent
from consents.models import Consent, ConsentEvent, Product
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


def history_add(
    company: Company, *, decisions: int, disconnected: int, start, step=timedelta(minutes=1)
) -> None:
    """In bulk: `decisions` more consent decisions (copies of the company's first, as
    reconfirmations, since events are append-only), as many "connected again" events on its
    bank connection, and `disconnected` connections gone, all spread from `start` on by `step`.
    For pages that must cost the same however long the history (tests and `make bench`)."""
    first = ConsentEvent.objects.filter(company=company).order_by("occurred_at").first()
    assert first is not None, "the company needs a decision to copy"
    bank = Connection.objects.get(company=company, source_type="Banking", deleted_at=None)
    ConsentEvent.objects.bulk_create(
        ConsentEvent(
            consent=first.consent,
            company=company,
            product=first.product,
            action=ConsentEvent.Action.RECONFIRM,
            actor=first.actor,
            occurred_at=start + step * i,
            text=first.text,
            text_sha256=first.text_sha256,
            data_types=first.data_types,
            method="web",
        )
        for i in range(decisions)
    )
    ConnectionEvent.objects.bulk_create(
        ConnectionEvent(
            company=company,
            connection=bank,
            kind=ConnectionEvent.Kind.RECONNECTED,
            occurred_at=start + step * i + step / 2,
        )
        for i in range(decisions)
    )
    Connection.objects.bulk_create(
        Connection(
            company=company,
            codat_connection_id=uuid.uuid4(),
            platform_key="gbol",
            platform_name=f"Old Xero {i}",
            source_type="Accounting",
            status=Connection.Status.DELETED,
            authorised_at=start,
            deleted_at=start + step * i,
        )
        for i in range(disconnected)
    )
    # Written in bulk, past the services: say what they would have said.
    page_cache.facts_changed(company)
