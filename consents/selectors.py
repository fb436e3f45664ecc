"""Reads about consents. `allowed_data_types` is the single gate for every use of Codat data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import models
from django.db.models import CharField, Subquery, Value
from django.http import HttpRequest
from django.utils import timezone

from codat.types import source_type_of
from companies.models import Company
from connections.models import Connection, ConnectionEvent, DataSync, LinkAttempt, WebhookEvent
from connections.selectors import FAILED_SYNC_STATES
from consents.data_types import DataType, describe
from consents.models import (
    Consent,
    ConsentEvent,
    ConsentText,
    DataUse,
    DeletionRecord,
    Product,
    ScheduledDeletion,
)


def allowed_data_types(company: Company) -> frozenset[str]:
    """Every data type some active consent of this company covers — and nothing else.

    Every Codat refresh, sync-settings update and data read goes through this (C5: a withdrawal
    takes effect the moment it is committed).
    """
    return _allowed_by(
        Consent.objects.for_company(company)
        .active()
        .with_banking_clock()
        .only("state", "data_types", "granted_at", "banking_confirmed_at")
    )


def _allowed_by(consents) -> frozenset[str]:
    """The gate's answer from the company's consents, already read (those not active count
    for nothing)."""
    now = timezone.now()
    types: set[str] = set()
    for consent in consents:
        if not consent.is_active:
            continue
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
    return _read_from(connection, allowed_data_types(connection.company))


def _read_from(connection: Connection, allowed: frozenset[str]) -> list[DataType]:
    return describe(sorted(t for t in allowed if source_type_of(t) == connection.source_type))


@dataclass(frozen=True)
class ConnectionUse:
    """What a connection's page says about use: the products an active consent lets read
    from its kind of data, and the data types the consents let us read from it."""

    products: list[ProductStatus]
    data_types: list[DataType]


def connection_use(connection: Connection, facts: AccessFacts | None = None) -> ConnectionUse:
    """The company's consents read once for both (four queries in all, one with the facts)."""
    facts = facts or access_facts(connection.company)
    consents = facts.consents
    statuses = _statuses(consents, facts.known)
    return ConnectionUse(
        products=[
            s for s in statuses if s.is_active and connection.source_type in s.product.source_types
        ],
        data_types=_read_from(connection, _allowed_by(consents)),
    )


@dataclass(frozen=True)
class ExpiredConnection:
    connection: Connection
    products: list[str]


def expired_connections_with_products(
    company: Company, facts: AccessFacts | None = None
) -> list[ExpiredConnection]:
    """Connections whose access lapsed (Open Banking's 90 days, a revoked token), with the
    products that can't get fresh data from them until the customer reconnects. No query when
    the facts come read."""
    if facts is not None:
        expired = [c for c in facts.known.current if c.status == Connection.Status.DEAUTHORIZED]
        active = [c for c in facts.consents if c.is_active]
    else:
        expired = list(
            Connection.objects.for_company(company).filter(status=Connection.Status.DEAUTHORIZED)
        )
        if not expired:
            return []
        active = list(Consent.objects.for_company(company).active().select_related("product"))
    return [
        ExpiredConnection(
            connection=connection,
            products=[
                c.product.name for c in active if connection.source_type in c.product.source_types
            ],
        )
        for connection in expired
    ]


def retention_promises() -> list[ConsentText]:
    """Each active product's current wording, whose retention period is what customers agree
    to now (the privacy page's retention section)."""
    latest: dict[int, ConsentText] = {}
    # One query: every version of the active products' wording, the newest first per product.
    for text in (
        ConsentText.objects.filter(product__active=True)
        .select_related("product")
        .order_by("product__display_order", "product__name", "product_id", "-version")
    ):
        latest.setdefault(text.product_id, text)
    return list(latest.values())


def text_version(product: Product, version: int) -> ConsentText | None:
    return ConsentText.objects.filter(product=product, version=version).first()


def current_text(product: Product) -> ConsentText | None:
    """The wording customers agree to now; None until staff publish the product's first."""
    return ConsentText.objects.filter(product=product).order_by("-version").first()


@dataclass(frozen=True)
class ProductStatus:
    NOT_STARTED = "not_started"
    WAITING = "waiting"
    LIVE = "live"
    NEEDS_ATTENTION = "attention"
    WITHDRAWN = "withdrawn"
    LABELS = {
        NOT_STARTED: "Not started",
        WAITING: "Waiting for a connection",
        LIVE: "Live",
        NEEDS_ATTENTION: "Needs attention",
        WITHDRAWN: "Withdrawn",
    }
    # For the Help page's glossary, beside the labels (see Connection.STATUS_MEANINGS).
    MEANINGS = {
        NOT_STARTED: "You haven't agreed to share anything with it.",
        WAITING: "You've agreed; it starts once the kinds of data it needs are connected.",
        LIVE: "It reads the data you agreed to, and nothing else.",
        NEEDS_ATTENTION: "A connection it needs has expired or is paused, or some of its data "
        "couldn't be fetched. Its page says what to do.",
        WITHDRAWN: "You withdrew your consent: it reads nothing.",
    }

    product: Product
    consent: Consent | None
    state: str
    missing_source_types: list[str] = field(default_factory=list)
    # Why it needs attention, in words, each with what to do about it.
    problems: list[Problem] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.LABELS[self.state]

    @property
    def badge(self) -> str:
        return self.badge_for(self.state)

    @classmethod
    def badge_for(cls, state: str) -> str:
        """The badge's style; the words come from LABELS."""
        styles = {cls.LIVE: "linked", cls.WAITING: "pending", cls.NEEDS_ATTENTION: "deauthorized"}
        return styles.get(state, "deleted")

    @property
    def is_active(self) -> bool:
        return self.consent is not None and self.consent.is_active


@dataclass(frozen=True)
class Problem:
    """Something stopping a product from getting fresh data, and the connection to fix."""

    connection: Connection
    what: str  # "Your access to Plaid has expired."
    data_types: list[DataType] = field(default_factory=list)  # those that failed to sync


@dataclass(frozen=True)
class _CompanyConnections:
    """What the product statuses need to know about a company's connections: two queries."""

    current: list[Connection]
    failed_syncs: list[DataSync]

    @property
    def linked_source_types(self) -> set[str]:
        return {c.source_type for c in self.current if c.is_linked}


def _company_connections(company: Company) -> _CompanyConnections:
    current = list(Connection.objects.for_company(company).current().shown_to_customer())
    failed = list(
        DataSync.objects.filter(
            connection__company=company,
            connection__status=Connection.Status.LINKED,
            status__in=FAILED_SYNC_STATES,
        ).select_related("connection")
    )
    return _CompanyConnections(current=current, failed_syncs=failed)


def _problems(product: Product, consent: Consent, known: _CompanyConnections) -> list[Problem]:
    """The product's connections that have lost access, and the consented data types whose
    last sync failed: while any is so, the product is not getting everything it should."""
    problems = [
        Problem(
            connection=c,
            what=(
                f"Your access to {c.platform_name} has expired."
                if c.status == Connection.Status.DEAUTHORIZED
                else f"{c.platform_name} is paused."
            ),
        )
        for c in known.current
        if c.source_type in product.source_types
        and c.status in (Connection.Status.DEAUTHORIZED, Connection.Status.UNLINKED)
    ]
    by_connection: dict[Connection, list[str]] = {}
    for sync in known.failed_syncs:
        if sync.data_type in consent.data_types and sync.data_type in product.all_data_types:
            by_connection.setdefault(sync.connection, []).append(sync.data_type)
    problems += [
        Problem(
            connection=connection,
            what=f"Some data couldn't be fetched from {connection.platform_name}.",
            data_types=describe(sorted(types)),
        )
        for connection, types in by_connection.items()
    ]
    return problems


def _status(product: Product, consent: Consent | None, known: _CompanyConnections) -> ProductStatus:
    if consent is None:
        return ProductStatus(product, None, ProductStatus.NOT_STARTED)
    if not consent.is_active:
        return ProductStatus(product, consent, ProductStatus.WITHDRAWN)
    linked = known.linked_source_types
    missing = [t for t in product.required_source_types if t not in linked]
    problems = _problems(product, consent, known)
    if problems:
        state = ProductStatus.NEEDS_ATTENTION
    else:
        state = ProductStatus.WAITING if missing else ProductStatus.LIVE
    return ProductStatus(product, consent, state, missing, problems)


def linked_source_types(company: Company) -> set[str]:
    """The kinds of connection (Accounting, Banking…) the company has linked now."""
    return set(
        Connection.objects.for_company(company)
        .filter(status=Connection.Status.LINKED)
        .values_list("source_type", flat=True)
    )


@dataclass(frozen=True)
class AccessFacts:
    """A company's consents and current connections, read once for a page and its banners."""

    consents: list[Consent]
    known: _CompanyConnections


def access_facts(company: Company) -> AccessFacts:
    """Three queries: the consents (with their banking clocks), the current connections and
    the failed syncs."""
    consents = (
        Consent.objects.for_company(company).with_banking_clock().select_related("text", "product")
    )
    return AccessFacts(consents=list(consents), known=_company_connections(company))


# Where a request keeps its company's AccessFacts once a page has read them, for the banners.
_FACTS_ATTRIBUTE = "_access_facts"


def request_access_facts(request: HttpRequest, company: Company) -> AccessFacts:
    """The company's AccessFacts, read once per request: the page and the banners every page
    shows (consents.context_processors) share them. For pages that only read (GET)."""
    facts = getattr(request, _FACTS_ATTRIBUTE, None)
    if facts is None:
        facts = access_facts(company)
        setattr(request, _FACTS_ATTRIBUTE, facts)
    return facts


def request_access_facts_read(request: HttpRequest) -> AccessFacts | None:
    """The AccessFacts this request's page has read already, if any."""
    return getattr(request, _FACTS_ATTRIBUTE, None)


def product_statuses(company: Company, facts: AccessFacts | None = None) -> list[ProductStatus]:
    """Each active product and where this company stands with it: four queries in all, one
    when the facts come read."""
    facts = facts or access_facts(company)
    return _statuses(facts.consents, facts.known)


def _statuses(consents: list[Consent], known: _CompanyConnections) -> list[ProductStatus]:
    by_product = {c.product_id: c for c in consents}
    return [_status(p, by_product.get(p.pk), known) for p in Product.objects.active()]


def product_status(
    company: Company, product: Product, facts: AccessFacts | None = None
) -> ProductStatus:
    if facts is None:
        consent = (
            Consent.objects.for_company(company)
            .with_banking_clock()
            .filter(product=product)
            .first()
        )
        return _status(product, consent, _company_connections(company))
    consent = next((c for c in facts.consents if c.product_id == product.pk), None)
    return _status(product, consent, facts.known)


def source_types_still_needed(
    company: Company, product: Product, facts: AccessFacts | None = None
) -> list[str]:
    """The kinds of connection a product could still use: required first, then optional."""
    linked = facts.known.linked_source_types if facts else linked_source_types(company)
    return [t for t in product.source_types if t not in linked]


def data_types_already_shared(company: Company, product: Product) -> set[str]:
    """Of this product's data types, those another active consent already covers."""
    others = Consent.objects.for_company(company).active().exclude(product=product)
    shared: set[str] = set()
    for data_types in others.values_list("data_types", flat=True):
        shared.update(data_types)
    return shared & set(product.all_data_types)


def data_types_for_product(status: ProductStatus, connection: Connection) -> list[DataType]:
    """What the product's consent lets it read from this connection, in plain words."""
    consented = status.consent.data_types if status.consent and status.consent.is_active else []
    return describe([t for t in consented if source_type_of(t) == connection.source_type])


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
        for connection in Connection.objects.for_company(company).current().shown_to_customer()
        if connection.source_type in product.source_types
        and connection.source_type not in still_needed_kinds
    ]
    return WithdrawImpact(stop_reading=stop, keep_reading=keep, orphaned_connections=orphaned)


def deletion_history(company: Company):
    return DeletionRecord.objects.filter(company=company).order_by("deleted_at")


@dataclass(frozen=True)
class HistoryEntry:
    """One line of a customer's history: a consent decision or a change in a connection's
    access, in words, with what it covered."""

    occurred_at: datetime
    what: str  # "Granted", "Access expired" …
    product: Product | None  # for a consent decision
    connection: Connection | None  # for a connection event
    actor: str  # who, in words; "" for the system or the provider
    data_types: list[DataType]
    text: ConsentText | None  # the wording agreed to, for a consent decision
    event: ConsentEvent | ConnectionEvent
    reason: str = ""  # why the bank's staff withdrew at the customer's request

    @property
    def is_connection_event(self) -> bool:
        return self.connection is not None


def _consent_entry(event: ConsentEvent) -> HistoryEntry:
    # Staff acting at the customer's request act for the bank: the label names the bank and
    # the staff member's own name and email stay with the evidence, for staff.
    staff = event.action == ConsentEvent.Action.STAFF
    actor = event.actor.get_full_name() or event.actor.email if event.actor and not staff else ""
    return HistoryEntry(
        occurred_at=event.occurred_at,
        what=event.label_for_customer,
        reason=event.reason,
        product=event.product,
        connection=None,
        actor=actor,
        data_types=describe(event.data_types),
        text=event.text,
        event=event,
    )


def _connection_entry(event: ConnectionEvent) -> HistoryEntry:
    return HistoryEntry(
        occurred_at=event.occurred_at,
        what=event.get_kind_display(),
        product=None,
        connection=event.connection,
        actor="",
        data_types=[],
        text=None,
        event=event,
    )


# Entries on one page of a history; page 1 is the latest.
HISTORY_PAGE_SIZE = 25


@dataclass(frozen=True)
class HistoryPage:
    """One page of a history, oldest first on the page; page 1 holds the latest entries, so
    that a page costs the same however long the history has grown."""

    entries: list[HistoryEntry]
    number: int
    has_earlier: bool

    @property
    def has_later(self) -> bool:
        return self.number > 1


# Beyond any real history; a larger number would overflow the database's OFFSET.
LAST_PAGE_NUMBER = 100_000


def page_number(value: str | None) -> int:
    """A `?page=` value as a page number: 1 for anything that is not a positive integer, and
    at most LAST_PAGE_NUMBER."""
    try:
        number = int(value or 1) if len(value or "") <= 9 else LAST_PAGE_NUMBER
    except ValueError:
        return 1
    return min(max(number, 1), LAST_PAGE_NUMBER)


def history(
    company: Company,
    product: Product | None = None,
    *,
    page: int = 1,
    per_page: int = HISTORY_PAGE_SIZE,
) -> HistoryPage:
    """A page of consent decisions and connection events: the company's, or one product's (its
    decisions, and the events of connections of the kinds it reads since it was first agreed
    to). Three queries of at most a page each, however long the history: the page's keys
    from both tables at once, then each table's rows for those keys."""
    decisions = ConsentEvent.objects.filter(company=company)
    access_changes = ConnectionEvent.objects.filter(company=company)
    if product is not None:
        decisions = decisions.filter(product=product)
        first_agreed = (
            ConsentEvent.objects.filter(company=company, product=product)
            .order_by("occurred_at")
            .values("occurred_at")[:1]
        )
        access_changes = access_changes.filter(
            connection__source_type__in=product.source_types,
            occurred_at__gte=Subquery(first_agreed),
        )
    keys = (
        decisions.order_by()
        .annotate(table=Value("consent", output_field=CharField()))
        .values_list("occurred_at", "id", "table")
        .union(
            access_changes.order_by()
            .annotate(table=Value("connection", output_field=CharField()))
            .values_list("occurred_at", "id", "table"),
            all=True,
        )
        .order_by("-occurred_at", "-id")
    )
    offset = (page - 1) * per_page
    page_keys = list(keys[offset : offset + per_page + 1])
    has_earlier = len(page_keys) > per_page
    page_keys = page_keys[:per_page]
    consent_ids = [pk for _, pk, table in page_keys if table == "consent"]
    connection_ids = [pk for _, pk, table in page_keys if table == "connection"]
    entries = [_consent_entry(e) for e in consent_history(company).filter(pk__in=consent_ids)] + [
        _connection_entry(e)
        for e in ConnectionEvent.objects.filter(pk__in=connection_ids).select_related("connection")
    ]
    entries.sort(key=lambda entry: (entry.occurred_at, str(entry.event.pk)))
    return HistoryPage(entries=entries, number=page, has_earlier=has_earlier)


def consent_history(company: Company):
    return (
        ConsentEvent.objects.filter(company=company)
        .select_related("product", "actor", "text", "text__product")
        .order_by("occurred_at")
    )


def access_changes(company: Company):
    """Every change in the company's connections' access, oldest first."""
    return (
        ConnectionEvent.objects.filter(company=company)
        .select_related("connection")
        .order_by("occurred_at")
    )


def texts_agreed_to(company: Company) -> list[ConsentText]:
    """Every wording version some decision of the company refers to, by product and version:
    one query, however many decisions."""
    referred = ConsentEvent.objects.filter(company=company, text__isnull=False).values("text_id")
    return list(
        ConsentText.objects.filter(pk__in=referred)
        .select_related("product")
        .order_by("product__name", "version")
    )


def banking_clocks(company: Company, facts: AccessFacts | None = None) -> list[Consent]:
    """Active consents of bank data, each with its banking clock (`banking_expires_at`). No
    query when the facts come read."""
    consents = (
        [c for c in facts.consents if c.is_active]
        if facts is not None
        else Consent.objects.for_company(company)
        .active()
        .with_banking_clock()
        .select_related("product")
    )
    return [c for c in consents if c.banking_data_types]


@dataclass(frozen=True)
class DisconnectLoss:
    """What one live product loses when a connection goes: all of it (`stops`), or the data
    that came from that connection while it carries on with the rest."""

    product: Product
    stops: bool
    loses: list[DataType]


def disconnect_impact(company: Company, connection: Connection) -> list[DisconnectLoss]:
    """Each product an active consent lets read from this connection, and what it loses."""
    others_linked = set(
        Connection.objects.for_company(company)
        .filter(status=Connection.Status.LINKED)
        .exclude(pk=connection.pk)
        .values_list("source_type", flat=True)
    )
    losses = []
    for consent in Consent.objects.for_company(company).active().select_related("product"):
        types = [t for t in consent.data_types if source_type_of(t) == connection.source_type]
        if not types:
            continue
        product = consent.product
        stops = (
            connection.source_type in product.required_source_types
            and connection.source_type not in others_linked
        )
        losses.append(DisconnectLoss(product=product, stops=stops, loses=describe(types)))
    return losses


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


def data_use_history(
    company: Company, *, shown: int = 20, statuses: list[ProductStatus] | None = None
) -> list[UseHistory]:
    """Per product the company has decided on, its newest uses and decisions, newest first.
    `statuses`: the page's own, when it has read them already (each fact once a request)."""
    histories = []
    for status in statuses if statuses is not None else product_statuses(company):
        if status.consent is None:
            continue
        uses = list(data_uses(company, status.product, limit=shown + 1))
        # The newest decisions only: the page must not grow with the history (the receipt
        # and the history pages hold the rest).
        decisions = ConsentEvent.objects.filter(company=company, product=status.product)
        newest = decisions.select_related("actor").order_by("-occurred_at")[:shown]
        entries = [UseEntry(u.occurred_at, use=u) for u in uses[:shown]] + [
            UseEntry(d.occurred_at, decision=d) for d in newest
        ]
        entries.sort(key=lambda e: e.occurred_at, reverse=True)
        total = data_uses(company, status.product).count() if len(uses) > shown else len(uses)
        histories.append(
            UseHistory(product=status.product, entries=entries, earlier=total - len(uses[:shown]))
        )
    return histories


# --- the staff's timeline of a company ---------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a company's timeline for staff: a record of any kind, in words."""

    occurred_at: datetime
    source: str  # "Consent", "Connection", "Link attempt", "Webhook", "Deletion" …
    what: str
    who: str  # a person's email, "Codat", "the system" or ""
    record: models.Model  # the row itself, for a link to its own page


@dataclass(frozen=True)
class Timeline:
    entries: list[TimelineEntry]
    more: bool  # older entries exist beyond `entries`


def company_timeline(company: Company, *, limit: int = 50) -> Timeline:
    """Everything that happened to a company, newest first, capped at `limit`: consent
    decisions, changes in connections' access, trips to Codat's Link page, webhooks, and
    deletions at Codat done or scheduled. Six queries whatever the history's length: each kind
    fetches at most `limit + 1` of its newest rows, which is all the merge can use."""
    take = limit + 1
    entries = [
        *(
            _timeline_consent(e)
            for e in _newest(
                ConsentEvent.objects.filter(company=company).select_related("product", "actor"),
                "occurred_at",
                take,
            )
        ),
        *(
            _timeline_connection(e)
            for e in _newest(
                ConnectionEvent.objects.filter(company=company).select_related("connection"),
                "occurred_at",
                take,
            )
        ),
        *(
            _timeline_link(a)
            for a in _newest(
                LinkAttempt.objects.filter(company=company).select_related("connection", "user"),
                "created_at",
                take,
            )
        ),
        *(
            _timeline_webhook(w)
            for w in _newest(
                WebhookEvent.objects.filter(company=company).defer("body"), "received_at", take
            )
        ),
        *(
            _timeline_deletion(d)
            for d in _newest(
                DeletionRecord.objects.filter(company=company).select_related("actor"),
                "deleted_at",
                take,
            )
        ),
        *(
            _timeline_scheduled(d)
            for d in _newest(
                ScheduledDeletion.objects.filter(company=company).select_related("connection"),
                "scheduled_at",
                take,
            )
        ),
    ]
    entries.sort(key=lambda entry: entry.occurred_at, reverse=True)
    return Timeline(entries=entries[:limit], more=len(entries) > limit)


def _newest(queryset, field_name: str, take: int) -> list:
    return list(queryset.order_by(f"-{field_name}")[:take])


def _timeline_consent(event: ConsentEvent) -> TimelineEntry:
    what = f"{event.product.name}: {event.label_for_staff}"
    if event.reason:
        what += f" ({event.reason})"
    return TimelineEntry(
        occurred_at=event.occurred_at,
        source="Consent",
        what=what,
        who=event.actor.email if event.actor else "the system",
        record=event,
    )


def _timeline_connection(event: ConnectionEvent) -> TimelineEntry:
    connection = event.connection
    return TimelineEntry(
        occurred_at=event.occurred_at,
        source="Connection",
        what=f"{connection.platform_name} ({connection.get_source_type_display().lower()}): "
        f"{event.get_kind_display()}",
        who="",
        record=event,
    )


def _timeline_link(attempt: LinkAttempt) -> TimelineEntry:
    if attempt.used_at is not None:
        outcome = "came back"
        said = attempt.status_code or ""
        if attempt.error_message or attempt.status_text:
            said = f"{said} {attempt.error_message or attempt.status_text}".strip()
        if said:
            outcome += f", Codat said {said}"
    elif attempt.expires_at <= timezone.now():
        outcome = "never came back"
    else:
        outcome = "still open"
    return TimelineEntry(
        occurred_at=attempt.created_at,
        source="Link attempt",
        what=f"{attempt.connection.platform_name}: sent to Codat's Link page; {outcome}",
        who=attempt.user.email,
        record=attempt,
    )


def _timeline_webhook(event: WebhookEvent) -> TimelineEntry:
    what = f"{event.event_type or 'unreadable event'}: {event.get_status_display()}"
    if event.outcome:
        what += f" ({event.outcome})"
    return TimelineEntry(
        occurred_at=event.received_at, source="Webhook", what=what, who="Codat", record=event
    )


def _timeline_deletion(record: DeletionRecord) -> TimelineEntry:
    return TimelineEntry(
        occurred_at=record.deleted_at,
        source="Deletion",
        what=f"Deleted at Codat: {record.platform_name or 'the Codat company'} "
        f"({record.get_cause_display().lower()})",
        who=record.actor.email if record.actor else "the system",
        record=record,
    )


def _timeline_scheduled(deletion: ScheduledDeletion) -> TimelineEntry:
    what = deletion.connection.platform_name if deletion.connection else "the Codat company"
    state = (
        f"done {deletion.done_at:%d %b %Y}"
        if deletion.done_at
        else f"due after {deletion.delete_after:%d %b %Y}"
    )
    return TimelineEntry(
        occurred_at=deletion.scheduled_at,
        source="Scheduled deletion",
        what=f"Deletion at Codat scheduled: {what}, {state}",
        who="the system",
        record=deletion,
    )
