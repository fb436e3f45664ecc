"""What customers' pages keep between views (companies.page_cache), and the banners every
page shows around its own content.

A page asks for its own parts through `parts()`, which reads the banners' facts in the same
round trip to the cache; the banners then cost no query and no second round trip.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.http import HttpRequest
from django.utils import timezone

from companies import page_cache
from companies.models import Company, Membership
from companies.page_cache import Built, Lookup, Part
from consents import selectors
from consents.models import Consent, ConsentEvent, DataUse

BANNERS = Part("banners")

# A banking clock this close to its end asks for a "Yes, keep sharing" on every page.
RECONFIRM_WITHIN = timedelta(days=7)


def parts(request: HttpRequest, company: Company | None, *wanted: Part) -> Lookup:
    """The request's cached parts: `wanted` and, for a company, the banners' facts."""
    return page_cache.lookup(request, company, *wanted, *([BANNERS] if company else []))


def clocks_end(consents: Iterable[Consent | None]) -> datetime | None:
    """When the first of these consents' banking clocks still running ends: a page showing
    them says "paused" from then on, and reads less (`Built.until`). None if none runs."""
    now = timezone.now()
    ends = [
        consent.banking_expires_at
        for consent in consents
        if consent is not None
        and consent.is_active
        and consent.banking_expires_at is not None
        and consent.banking_expires_at > now
    ]
    return min(ends, default=None)


@dataclass(frozen=True)
class ExpiredConnection:
    """A connection whose access lapsed, and the products that get no fresh data from it."""

    connection_id: UUID
    platform_name: str
    kind: str  # its kind of data, in words: "banking"
    products: tuple[str, ...]


@dataclass(frozen=True)
class BankingClock:
    """An active consent's bank data, and when its 90 days end."""

    product_name: str
    product_slug: str
    expires_at: datetime

    def lapsed(self, now: datetime) -> bool:
        return self.expires_at <= now


@dataclass(frozen=True)
class BannerFacts:
    """What the banners show, as the company's facts stand: kept between views. Which clocks
    are close to their end is worked out on each view (`Banners`), so it needs no expiry."""

    expired: tuple[ExpiredConnection, ...]
    clocks: tuple[BankingClock, ...]


def banner_facts(company: Company, facts: selectors.AccessFacts | None) -> BannerFacts:
    """No query when the page has read the facts already; two or three otherwise."""
    return BannerFacts(
        expired=tuple(
            ExpiredConnection(
                connection_id=item.connection.id,
                platform_name=item.connection.platform_name,
                kind=item.connection.get_source_type_display().lower(),
                products=tuple(item.products),
            )
            for item in selectors.expired_connections_with_products(company, facts)
        ),
        clocks=tuple(
            BankingClock(c.product.name, c.product.slug, c.banking_expires_at)
            for c in selectors.banking_clocks(company, facts)
            if c.banking_expires_at is not None
        ),
    )


@dataclass(frozen=True)
class ClockBanner:
    product_name: str
    product_slug: str
    expires_at: datetime
    lapsed: bool


@dataclass(frozen=True)
class Banners:
    expired: tuple[ExpiredConnection, ...]
    reconfirm: list[ClockBanner]


def banners(request: HttpRequest, company: Company) -> Banners:
    """The banners for this view: the kept facts, and the clocks ending within
    RECONFIRM_WITHIN of now."""
    kept = parts(request, company).get(
        BANNERS,
        lambda: Built(banner_facts(company, selectors.request_access_facts_read(request))),
    )
    now = timezone.now()
    return Banners(
        expired=kept.expired,
        reconfirm=[
            ClockBanner(c.product_name, c.product_slug, c.expires_at, c.lapsed(now))
            for c in kept.clocks
            if c.expires_at <= now + RECONFIRM_WITHIN
        ],
    )


def people_changed(user_ids: list[int]) -> None:
    """These people's names changed (staff edited them, or an account was closed): they
    appear in the histories of the businesses they belong or belonged to (who agreed, whom a
    read was for), which show the new names from now on."""
    companies = set(Membership.objects.filter(user_id__in=user_ids).values_list("company_id"))
    companies |= set(
        ConsentEvent.objects.with_scopes_disabled()
        .filter(actor_id__in=user_ids)
        .values_list("company_id")
        .distinct()
    )
    companies |= set(
        DataUse.objects.with_scopes_disabled()
        .filter(reader_id__in=user_ids)
        .values_list("company_id")
        .distinct()
    )
    for (company_id,) in companies:
        page_cache.facts_changed(company_id, page_cache.ACCESS, page_cache.USES)
