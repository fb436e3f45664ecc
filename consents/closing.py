"""Closing an account and deleting its data: what the owner is shown first, and the closing.

Closing is one transaction on our side: every live consent withdrawn with evidence, the Codat
company's deletion recorded, the members erased, the company marked closed. Codat is asked
after the commit; when it does not answer, the recorded deletion is retried until it does
(connections.services.codat_company_delete), so closing never waits on Codat and never
half-happens without a record. Consent evidence stays, under the members' pseudonyms, until
EVIDENCE_KEPT_FOR after the closing (docs/promises.md P2).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from companies.models import Company, Membership
from companies.services import company_erase
from connections.models import CodatCompanyDeletion, Connection
from connections.services import codat_company_deletion_request
from consents import pages
from consents.models import EVIDENCE_KEPT_FOR, Consent, ConsentEvent, Product
from consents.services import RequestMeta, consent_withdraw

logger = logging.getLogger("consents")
audit_log = logging.getLogger("consent_portal.security")


class NotOwner(Exception):
    """Only the company's owner may close it."""


class AlreadyClosed(Exception):
    pass


def is_owner(*, company: Company, user: User) -> bool:
    return Membership.objects.filter(
        company=company, user=user, role=Membership.Role.OWNER
    ).exists()


@dataclass(frozen=True)
class ClosingImpact:
    """What closing would do, for the page that asks the owner to confirm."""

    products: list[Product]  # used the data until now; stop at once
    connections: list[Connection]  # deleted at Codat, with all it fetched through them
    members: int  # accounts erased, the owner's included
    evidence_events: int  # records of consent decisions, kept
    evidence_kept_until: datetime

    @property
    def deletes_at_codat(self) -> bool:
        return bool(self.connections)


def account_close_impact(company: Company, *, now=None) -> ClosingImpact:
    now = now or timezone.now()
    return ClosingImpact(
        products=[
            consent.product
            for consent in Consent.objects.for_company(company).active().select_related("product")
        ],
        connections=list(Connection.objects.for_company(company).current()),
        members=company.memberships.count(),
        evidence_events=ConsentEvent.objects.filter(company=company).count(),
        evidence_kept_until=now + EVIDENCE_KEPT_FOR,
    )


@dataclass(frozen=True)
class ClosedAccount:
    company: Company
    withdrawn: list[str]  # product names
    codat_deletion: CodatCompanyDeletion | None
    evidence_kept_until: datetime


def account_close(*, company: Company, actor: User, meta: RequestMeta) -> ClosedAccount:
    """Close the business's account at its owner's request. Raises NotOwner or AlreadyClosed.

    After it returns, nobody can sign in to the account and every session in it has ended
    (the caller should also log out the request it serves)."""
    with transaction.atomic():
        locked = Company.objects.select_for_update().get(pk=company.pk)
        if locked.is_closed:
            raise AlreadyClosed(str(locked.pk))
        if not is_owner(company=locked, user=actor):
            raise NotOwner(str(locked.pk))
        withdrawn = []
        for consent in Consent.objects.for_company(locked).active().select_related("product"):
            consent_withdraw(consent=consent, actor=actor, meta=meta, receipt=False)
            withdrawn.append(consent.product.name)
        deletion = codat_company_deletion_request(
            company=locked, reason=CodatCompanyDeletion.Reason.ACCOUNT_CLOSED
        )
        now = timezone.now()
        members = list(locked.memberships.values_list("user_id", flat=True))
        erased = company_erase(company=locked, now=now)
        # Their names go from every history they appear in, other businesses' included.
        pages.people_changed(members)
        kept_until = now + EVIDENCE_KEPT_FOR
        notice = ClosingNotice(
            business_name=erased.name,
            recipients=[(m.email, m.name) for m in erased.members if m.email],
            withdrawn=withdrawn,
            deletes_at_codat=deletion is not None,
            evidence_kept_until=kept_until,
        )
        transaction.on_commit(notice.send)
    audit_log.info(
        "Account closed: company=%s by user=%s withdrawn=%s codat_deletion=%s",
        locked.pk,
        actor.pk,
        len(withdrawn),
        getattr(deletion, "pk", None),
    )
    company.name, company.closed_at = locked.name, locked.closed_at
    return ClosedAccount(
        company=locked,
        withdrawn=withdrawn,
        codat_deletion=deletion,
        evidence_kept_until=kept_until,
    )


@dataclass(frozen=True)
class ClosingNotice:
    """The confirmation, to the addresses the members had before they were erased; held only
    in memory until it is sent. Best effort: the closing itself is the record."""

    business_name: str
    recipients: list[tuple[str, str]]  # (email, name)
    withdrawn: list[str]
    deletes_at_codat: bool
    evidence_kept_until: datetime

    def send(self) -> None:
        for email, name in self.recipients:
            context = {
                "name": name,
                "notice": self,
                "site_url": settings.SITE_URL,
            }
            try:
                send_mail(
                    "Your Consent Portal account is closed",
                    render_to_string("consents/email/account_closed.txt", context),
                    None,
                    [email],
                )
            except Exception:
                logger.exception("Could not send the account-closed confirmation")
