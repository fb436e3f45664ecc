"""Emails to a company's members about their connections' access, in terms of the products it
affects: once when access is lost (an Open Banking connection's 90 days, a revoked token), and
once when it is back.

Driven by state, not by the moment a status changed: a connection that is `Deauthorized` and
not yet announced gets the "expired" mail, and one that is `Linked` again after that
announcement gets "connected again". Whatever changed the status (a webhook, the Link return,
"check again", reconciliation) calls `access_notices_send` explicitly afterwards, and a notice
missed because a process died is sent by the next call. Claiming each notice is one
conditional UPDATE, so two callers never send the same notice twice.

Best effort: the banner on every page says the same, so a mail that fails is logged, not
retried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from uuid import UUID

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from companies.models import Company
from companies.selectors import member_emails
from connections.models import Connection
from consents.models import ScheduledDeletion
from consents.selectors import expired_connections_with_products
from consents.services import deletion_mail_send

logger = logging.getLogger("consents.notifications")


def access_notices_send(*, company: Company | None = None) -> int:
    """Send every access notice that is due, for one company or (with scopes disabled, as in
    tasks and cron) for all; returns how many were claimed."""
    rows: QuerySet[Connection] = (
        Connection.objects.for_company(company) if company is not None else Connection.objects.all()
    )
    lost = _claim(
        rows,
        status=Connection.Status.DEAUTHORIZED,
        announced=False,
        mark=timezone.now(),
        send=_access_lost,
    )
    back = _claim(
        rows, status=Connection.Status.LINKED, announced=True, mark=None, send=_access_restored
    )
    return lost + back


def _claim(
    rows: QuerySet[Connection],
    *,
    status: str,
    announced: bool,
    mark: datetime | None,
    send: Callable[[UUID], None],
) -> int:
    """Claim each connection in `status` whose loss was (or was not yet) announced, by setting
    the mark in one conditional UPDATE, and send its mail after the commit."""
    due = rows.filter(status=status, access_lost_notified_at__isnull=not announced)
    claimed = 0
    for connection_id in list(due.values_list("pk", flat=True)):
        if due.filter(pk=connection_id).update(access_lost_notified_at=mark):
            claimed += 1
            transaction.on_commit(partial(send, connection_id))
    return claimed


def _send(connection: Connection, subject: str, template: str, context: dict) -> None:
    recipients = member_emails(connection.company)
    if not recipients:
        return
    context = {"connection": connection, "site_url": settings.SITE_URL, **context}
    try:
        send_mail(subject, render_to_string(template, context), None, recipients)
    except Exception:
        logger.exception("Could not send %r for connection %s", subject, connection.pk)


def _connection(connection_id: UUID) -> Connection | None:
    return Connection.objects.select_related("company").filter(pk=connection_id).first()


def _access_lost(connection_id: UUID) -> None:
    connection = _connection(connection_id)
    if connection is None or connection.status != Connection.Status.DEAUTHORIZED:
        return  # reconnected before the mail went: nothing to say
    products = next(
        (
            e.products
            for e in expired_connections_with_products(connection.company)
            if e.connection.pk == connection.pk
        ),
        [],
    )
    _send(
        connection,
        f"Your connection to {connection.platform_name} has expired",
        "connections/email/access_lost.txt",
        {"products": products},
    )


def _access_restored(connection_id: UUID) -> None:
    connection = _connection(connection_id)
    if connection is None or connection.status != Connection.Status.LINKED:
        return
    _send(
        connection,
        f"{connection.platform_name} is connected again",
        "connections/email/access_restored.txt",
        {},
    )


def deletion_notices_send() -> int:
    """Tell each business about every scheduled deletion done at Codat and not yet announced:
    each claimed by one conditional UPDATE, so it is told once. Returns how many."""
    due = ScheduledDeletion.objects.filter(done_at__isnull=False, notified_at__isnull=True)
    claimed = 0
    for row_id in list(due.values_list("pk", flat=True)):
        if due.filter(pk=row_id).update(notified_at=timezone.now()):
            claimed += 1
            transaction.on_commit(partial(_deletion_done, row_id))
    return claimed


def _deletion_done(row_id: UUID) -> None:
    row = ScheduledDeletion.objects.select_related("company", "connection").get(pk=row_id)
    deletion_mail_send(
        what=row.connection.platform_name if row.connection else "",
        deleted_at=row.done_at,
        reason=row.reason,
        by_customer=False,
        recipients=member_emails(row.company),
    )
