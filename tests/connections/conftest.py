"""Fixtures for the connect journey: a catalogue, a faked Codat, and the sandbox."""

from __future__ import annotations

import pytest

from connections.models import Integration


@pytest.fixture
def catalogue(db):
    """Our copy of the catalogue, fresh, so the picker and connect need no Codat call."""
    rows = [
        ("mqjo", "Sandbox", "Accounting"),
        ("gbol", "Xero", "Accounting"),
        ("qhyg", "QuickBooks Online", "Accounting"),
        ("qhnd", "Banking Sandbox", "Banking"),
        ("suuo", "Plaid", "Banking"),
        ("aiwb", "Commerce Sandbox", "Commerce"),
        ("fztf", "Shopify", "Commerce"),
    ]
    return {
        key: Integration.objects.create(key=key, name=name, source_type=source_type)
        for key, name, source_type in rows
    }
