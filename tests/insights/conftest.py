"""A customer as the products find them: signed up, consented, connected through the sandbox,
and Codat's first reads finished and announced by webhook."""

from __future__ import annotations

import pytest

from tests.connections.test_journey import sign_up
from tests.insights.steps import agree, connect, let_syncs_finish


@pytest.fixture
def customer(client, codat_account_set_up, django_capture_on_commit_callbacks):
    """Signed in, consented to Business insights, accounting and bank connected, not synced."""
    company = sign_up(client)
    callbacks = django_capture_on_commit_callbacks
    agree(client, "business-insights", callbacks)
    connect(client, "mqjo", callbacks)
    connect(client, "qhnd", callbacks)
    company.refresh_from_db()
    return company


@pytest.fixture
def synced(customer, time_machine, django_capture_on_commit_callbacks):
    let_syncs_finish(time_machine, django_capture_on_commit_callbacks)
    return customer
