"""Consent decisions as a customer makes them, through the pages."""

from __future__ import annotations

from django.test import Client


def grant(client: Client, slug: str, data: dict | None = None, **headers):
    """Open the review page (which remembers the wording shown), then agree."""
    review = client.get(f"/products/{slug}/consent/")
    assert review.status_code == 200, review.content.decode()[:500]
    return client.post(f"/products/{slug}/consent/", {"agree": "on", **(data or {})}, **headers)


def withdraw(client: Client, slug: str, choice: str = "withdraw"):
    return client.post(f"/products/{slug}/withdraw/", {"choice": choice})
