"""Two returns without a state at the same moment, on PostgreSQL: one Link trip, one success
(R1). SQLite serialises writers anyway, so this needs a real database server."""

from __future__ import annotations

import itertools
import time

import pytest
from django.db import connection as db_connection
from django.db.models import QuerySet

from connections import services
from connections.models import Connection, LinkAttempt
from tests.concurrency import race
from tests.fakes import codat_connection

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        db_connection.vendor != "postgresql", reason="real concurrency needs PostgreSQL"
    ),
    pytest.mark.django_db(transaction=True),
]

CODAT_COMPANY = "c0d83fa2-bfc6-4d8e-a39d-276051ad48df"
CODAT_CONNECTION = "f3c45050-1827-4223-840c-a4a85792ab66"


def test_two_simultaneous_returns_without_a_state_succeed_once(
    owner, acme, fake_codat, monkeypatch
):
    acme.codat_company_id = CODAT_COMPANY
    acme.save()
    pending = Connection.objects.create(
        company=acme,
        codat_connection_id=CODAT_CONNECTION,
        platform_key="gbol",
        platform_name="Xero",
        source_type="Accounting",
    )
    # Two clicks on Connect: two open attempts that a state-less return cannot tell apart.
    for _ in range(2):
        services.link_attempt_create(user=owner, company=acme, connection=pending)
    fake_codat.get(f"/companies/{CODAT_COMPANY}/connections/{CODAT_CONNECTION}").respond(
        200, json=codat_connection(CODAT_COMPANY, CODAT_CONNECTION, status="Linked")
    )

    # Widen the gap after each write to the attempts, and let the second return read them
    # while the first is inside it.
    original_update = QuerySet.update

    def slow_update(self, **kwargs):
        rows = original_update(self, **kwargs)
        if self.model is LinkAttempt and rows:
            time.sleep(0.4)
        return rows

    monkeypatch.setattr(QuerySet, "update", slow_update)
    arrivals = itertools.count()

    def come_back() -> None:
        if next(arrivals):
            time.sleep(0.2)
        services.link_return_complete(
            user=owner,
            state=None,
            company_id=CODAT_COMPANY,
            connection_id=CODAT_CONNECTION,
            status_code="200",
        )

    errors = race(come_back)

    assert len(errors) == 1, errors
    assert isinstance(errors[0], services.LinkReturnRefused)
    assert LinkAttempt.objects.filter(used_at__isnull=True).count() == 0
    assert LinkAttempt.objects.filter(status_code="200").count() == 1
