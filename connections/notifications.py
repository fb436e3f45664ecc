"""Emails to a company's members about their connections' access. Best effort: the banner on
every page says the same, so a mail that fails is logged, not retried."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from companies.selectors import member_emails
from connections.models import Connection
from connections.selectors import expired_connections_with_products

logger = logging.getLogger("connections")


def _send(connection: Connection, subject: str, template: str, context: dict) -> None:
    recipients = member_emails(connection.company)
    if not recipients:
        return
    context = {"connection": connection, "site_url": settings.SITE_URL, **context}
    try:
        send_mail(subject, render_to_string(template, context), None, recipients)
    except Exception:
        logger.exception("Could not send %r for connection %s", subject, connection.pk)


def access_lost(*, connection_id) -> None:
    connection = Connection.objects.select_related("company").filter(pk=connection_id).first()
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


def access_restored(*, connection_id) -> None:
    connection = Connection.objects.select_related("company").filter(pk=connection_id).first()
    if connection is None or connection.status != Connection.Status.LINKED:
        return
    _send(
        connection,
        f"{connection.platform_name} is connected again",
        "connections/email/access_restored.txt",
        {},
    )
