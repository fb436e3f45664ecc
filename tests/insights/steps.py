"""Insights tests' helpers: agreeing to a product, letting the sandbox's reads finish, money as the
pages write it. Plain helpers; the fixtures are in conftest.py."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from codat_sandbox.webhooks import deliver_due
from tests.connections.test_journey import finish_at_codat, local, start_link

# The sandbox's first reads finish within a minute of linking (codat_sandbox.timeline).
SYNCED = timedelta(minutes=2)


def agree(client, slug: str, callbacks) -> None:
    assert client.get(f"/products/{slug}/consent/").status_code == 200
    with callbacks(execute=True):
        response = client.post(f"/products/{slug}/consent/", {"agree": "on"})
    assert response.status_code == 302


def connect(client, key: str, callbacks) -> None:
    with callbacks(execute=True):
        back = finish_at_codat(client, start_link(client, key))
        assert client.get(local(back)).status_code == 303


def let_syncs_finish(clock, callbacks, after: timedelta = SYNCED) -> None:
    """Move the clock past the sandbox's reads (it stays there for the rest of the test) and
    deliver the webhooks announcing them."""
    clock.move_to(timezone.now() + after, tick=False)
    with callbacks(execute=True):
        deliver_due()


def pounds(pennies: int) -> str:
    """An amount of the sandbox's books as the pages write it: whole pounds, the sign first."""
    amount = Decimal(pennies) / 100
    return f"{'-' if amount < 0 else ''}£{abs(amount):,.0f}"
