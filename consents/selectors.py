"""Reads about consents. `allowed_data_types` is the single gate for every use of Codat data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from codat.types import source_type_of
from companies.models import Company
from connections.models import Connection
from consents.data_types import DataType, describe
from consents.models import Consent, ConsentEvent, ConsentText, DataUse, Product


def allowed_data_types(company: Company) -> frozenset[str]:
    """Every data type some active consent of this company covers — and nothing else.

    Every Codat refresh, sync-settings update and data read goes through this (C5: a withdrawal
    takes effect the moment it is committed).
    """
    now = timezone.now()
    types: set[str] = set()
    for consent in (
        Consent.objects.for_company(company)
        .active()
        .with_banking_clock()
        .only("data_types", "granted_at", "banking_confirmed_at")
    ):
        # A lapsed banking clock pauses the bank's data, not the rest of the consent.
        paused = consent.banking_data_types if consent.banking_lapsed(now) else []
        types.update(t for t in consent.data_types if t not in paused)
    return frozenset(types)


def allowed_data_types_for_codat_company(codat_company_id: str) -> frozenset[str]:
    """The gate as the Codat client sees it: keyed by Codat's company id (T4)."""
    company = Company.objects.filter(codat_company_id=codat_company_id).first()
    return allowed_data_types(company) if company else frozenset()


def data_types_read_from(connection: Connection) -> list[DataType]:
    """What the company's consents let us read from this connection, in plain words: the data
    types of its kind of source that some active consent covers."""
    return describe(
        sorted(
            t
            for t in allowed_data_types(connection.company)
            if source_type_of(t) == connection.source_type
        )
    )


@dataclass(frozen=True)
class ExpiredConnection:
    connection: Connection
    products: list[str]


def expired_connections_with_products(company: Company) -> list[ExpiredConnection]:
    """Connections whose access lapsed (Open Banking's 90 days, a revoked token), with the
    products that can't get fresh data from them until the customer reconnects."""
    expired = list(
        Connection.objects.for_company(company).filter(status=Connection.Status.DEAUTHORIZED)
    )
    if not expired:
        return []
    consents = Consent.objects.for_company(company).active().select_related("product")
    return [
        ExpiredConnection(
            connection=connection,
            products=[
                c.product.name for c in consents if connection.source_type in c.product.source_types
            ],
        )
        for connection in expired
    ]


def current_text(product: Product) -> ConsentText | None:
    """The wording customers agree to now; None until staff publish the product's first."""
    return ConsentText.objects.filter(product=product).order_by("-version").first()


@dataclass(frozen=True)
class ProductStatus:
    NOT_STARTED = "not_started"
    WAITING = "waiting"
    LIVE = "live"
    WITHDRAWN = "withdrawn"
    LABELS = {
        NOT_STARTED: "Not started",
        WAITING: "Waiting for a connection",
        LIVE: "Live",
        WITHDRAWN: "Withdrawn",
    }

    product: Product
    consent: Consent | None
    state: str
    missing_source_types: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.LABELS[self.state]

    @property
    def badge(self) -> str:
        return {self.LIVE: "linked", self.WAITING: "pending"}.get(self.state, "deleted")

    @property
    def is_active(self) -> bool:
        return self.consent is not None and self.consent.is_active


def _status(product: Product, consent: Consent | None, linked: set[str]) -> ProductStatus:
    if consent is None:
        return ProductStatus(product, None, ProductStatus.NOT_STARTED)
    if not consent.is_active:
        return ProductStatus(product, consent, ProductStatus.WITHDRAWN)
    missing = [t for t in product.required_source_types if t not in linked]
    state = ProductStatus.WAITING if missing else ProductStatus.LIVE
    return ProductStatus(product, consent, state, missing)


def linked_source_types(company: Company) -> set[str]:
    """The kinds of connection (Accounting, Banking…) the company has linked now."""
    return set(
        Connection.objects.for_company(company)
        .filter(status=Connection.Status.LINKED)
        .values_list("source_type", flat=True)
    )


def product_statuses(company: Company) -> list[ProductStatus]:
    """Each active product and where this company stands with it: three queries in all."""
    consents = {
        c.product_id: c
        for c in Consent.objects.for_company(company).with_banking_clock().select_related("text")
    }
    linked = linked_source_types(company)
    return [_status(p, consents.get(p.pk), linked) for p in Product.objects.active()]


def product_status(company: Company, product: Product) -> ProductStatus:
    consent = (
        Consent.objects.for_company(company).with_banking_clock().filter(product=product).first()
    )
    return _status(product, consent, linked_source_types(company))


def source_types_still_needed(company: Company, product: Product) -> list[str]:
    """The kinds of connection a product could still use: required first, then optional."""
    linked = linked_source_types(company)
    return [t for t in product.source_types if t not in linked]


def data_types_already_shared(company: Company, product: Product) -> set[str]:
    """Of this product's data types, those another active consent already covers."""
    others = Consent.objects.for_company(company).active().exclude(product=product)
    shared: set[str] = set()
    for data_types in others.values_list("data_types", flat=True):
        shared.update(data_types)
    return shared & set(product.all_data_types)


def products_using(company: Company, connection: Connection) -> list[ProductStatus]:
    """The products an active consent lets read from this connection's kind of data."""
    return [
        status
        for status in product_statuses(company)
        if status.is_active and connection.source_type in status.product.source_types
    ]


@dataclass(frozen=True)
class WithdrawImpact:
    stop_reading: list  # DataType: no other active consent reads it
    keep_reading: list[tuple]  # (DataType, [product names still using it])
    orphaned_connections: list[Connection]  # serve no other active product


def withdraw_impact(company: Company, product: Product) -> WithdrawImpact:
    others = list(
        Consent.objects.for_company(company)
        .active()
        .exclude(product=product)
        .select_related("product")
    )
    stop, keep = [], []
    for data_type in describe(product.all_data_types):
        users = [c.product.name for c in others if data_type.key in c.data_types]
        (keep.append((data_type, users)) if users else stop.append(data_type))
    still_needed_kinds = {source_type_of(t) for c in others for t in c.data_types}
    orphaned = [
        connection
        for connection in Connection.objects.for_company(company).current()
        if connection.source_type in product.source_types
        and connection.source_type not in still_needed_kinds
    ]
    return WithdrawImpact(stop_reading=stop, keep_reading=keep, orphaned_connections=orphaned)


def consent_history(company: Company):
    return (
        ConsentEvent.objects.filter(company=company)
        .select_related("product", "actor", "text", "text__product")
        .order_by("occurred_at")
    )


def banking_consents_needing_reconfirmation(company: Company, *, within=None) -> list[Consent]:
    """Active consents whose banking clock has lapsed or ends within `within` (default 7 days)."""
    horizon = timezone.now() + (within or timedelta(days=7))
    return [
        c
        for c in Consent.objects.for_company(company)
        .active()
        .with_banking_clock()
        .select_related("product")
        if c.banking_expires_at is not None and c.banking_expires_at <= horizon
    ]


def product_data_types(company: Company, product: Product | str) -> frozenset[str]:
    """The data types one product may read for this company: those its own active consent
    covers, less bank data while the banking clock has lapsed. Another product's consent
    never counts (P3): each read names its product (consents.data_use)."""
    slug = product if isinstance(product, str) else product.slug
    consent = (
        Consent.objects.for_company(company)
        .active()
        .with_banking_clock()
        .filter(product__slug=slug)
        .first()
    )
    if consent is None:
        return frozenset()
    paused = consent.banking_data_types if consent.banking_lapsed() else []
    return frozenset(t for t in consent.data_types if t not in paused)


def product_data_types_for_codat_company(codat_company_id: str, product: str) -> frozenset[str]:
    """The read gate as the Codat client sees it: keyed by Codat's company id (T4)."""
    company = Company.objects.filter(codat_company_id=codat_company_id).first()
    return product_data_types(company, product) if company else frozenset()


def data_uses(company: Company, product: Product | None = None, *, limit: int | None = None):
    """How the company's data was used, newest first; one product's, or every product's."""
    uses = DataUse.objects.filter(company=company).select_related("product", "reader")
    if product is not None:
        uses = uses.filter(product=product)
    return uses[:limit] if limit else uses


@dataclass(frozen=True)
class UseEntry:
    """One line of "How your data was used": a use of the data, or a decision that changed
    what may be used (a grant or a withdrawal), so the customer sees when reading stopped."""

    occurred_at: datetime
    use: DataUse | None = None
    decision: ConsentEvent | None = None


@dataclass(frozen=True)
class UseHistory:
    product: Product
    entries: list[UseEntry]
    earlier: int  # uses older than the ones shown


def data_use_history(company: Company, *, shown: int = 20) -> list[UseHistory]:
    """Per product the company has decided on, its newest uses and decisions, newest first."""
    histories = []
    for status in product_statuses(company):
        if status.consent is None:
            continue
        uses = list(data_uses(company, status.product, limit=shown + 1))
        decisions = ConsentEvent.objects.filter(company=company, product=status.product)
        entries = [UseEntry(u.occurred_at, use=u) for u in uses[:shown]] + [
            UseEntry(d.occurred_at, decision=d) for d in decisions.select_related("actor")
        ]
        entries.sort(key=lambda e: e.occurred_at, reverse=True)
        total = data_uses(company, status.product).count() if len(uses) > shown else len(uses)
        histories.append(
            UseHistory(product=status.product, entries=entries, earlier=total - len(uses[:shown]))
        )
    return histories
