"""Fill the database with a bank's worth of customers, for measuring pages and the admin at scale.

    manage.py seed_scale                        # 10,000 companies, 30,000 connections,
                                                # 20,000 consents, 300,000 consent events
    manage.py seed_scale --companies 100        # the other counts scale with it

Everything is written with bulk inserts in batches, in one transaction, so a failure leaves
nothing behind. It refuses to run on a database that already holds its customers (their emails
end in @scale.example), so running it twice is an error, not a double.

What it writes looks like what customers leave behind:
- the platforms it uses in our copy of Codat's catalogue (Integration), when missing;
- per company an owner (and every fifth company a second member), all with one password
  (`--password`, hashed once) so a seeded customer can log in to look around;
- connections spread over the catalogue's platforms, mostly Linked, some waiting, expired or
  disconnected, with a data sync per data type for the Linked ones;
- consents to the shipped products, each with its history of decisions as consent events:
  grants, reconfirmations and withdrawals that end in the consent's current state, each with
  the wording's hash, the data types, the address and browser it came from. Events are
  inserted, never changed: the evidence tables refuse UPDATE and DELETE (consents/db.py);
- each company's Codat sync settings state, applied.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import TypeVar

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models, transaction
from django.utils import timezone

from codat.types import source_type_of
from companies.models import Company, Membership
from companies.scoping import scopes_disabled
from connections.models import Connection, DataSync, Integration, SourceType
from consents.models import CodatSyncState, Consent, ConsentEvent, ConsentText, Product

EMAIL_DOMAIN = "scale.example"
DEFAULT_PASSWORD = "seeded-customer-password"  # noqa: S105 - a throwaway database's customers

# Per company, by default: 3 connections, 2 consents, 15 consent events per consent.
CONNECTIONS_PER_COMPANY = 3
CONSENTS_PER_COMPANY = 2
EVENTS_PER_CONSENT = 15

# The platforms the sandbox's catalogue has (key, name, kind), the ones a customer picks.
PLATFORMS = {
    SourceType.ACCOUNTING: [("gbol", "Xero"), ("qhyg", "QuickBooks Online"), ("tgff", "Sage")],
    SourceType.BANKING: [("suuo", "Plaid"), ("upvr", "TrueLayer")],
    SourceType.COMMERCE: [("fztf", "Shopify"), ("exgd", "Stripe"), ("zsth", "Square")],
}
# How the connections' statuses are spread (Linked most), cumulative weights.
STATUSES = [
    (Connection.Status.LINKED, 80),
    (Connection.Status.PENDING_AUTH, 8),
    (Connection.Status.DEAUTHORIZED, 6),
    (Connection.Status.UNLINKED, 2),
    (Connection.Status.DELETED, 4),
]
USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 Version/18.1 Safari/605",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
]
HISTORY = timedelta(days=730)

T = TypeVar("T")


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


class Command(BaseCommand):
    help = (
        "Seed a large database (10,000 companies by default) with bulk inserts, for "
        "measuring at scale. Refuses to run twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--companies", type=int, default=10_000, help="(10,000)")
        parser.add_argument(
            "--connections",
            type=int,
            default=None,
            help=f"(default {CONNECTIONS_PER_COMPANY} per company)",
        )
        parser.add_argument(
            "--consents",
            type=int,
            default=None,
            help=f"at most one per company and product (default {CONSENTS_PER_COMPANY} per "
            "company)",
        )
        parser.add_argument(
            "--events",
            type=int,
            default=None,
            help=f"consent events, at least one per consent (default {EVENTS_PER_CONSENT} per "
            "consent)",
        )
        parser.add_argument("--batch-size", type=int, default=2000, help="rows per INSERT (2000)")
        parser.add_argument(
            "--password", default=DEFAULT_PASSWORD, help="every seeded customer's password"
        )
        parser.add_argument("--seed", type=int, default=13, help="random seed (13)")

    @scopes_disabled()  # writes every company's rows
    def handle(self, *args, **options) -> None:
        companies = options["companies"]
        connections = options["connections"]
        if connections is None:
            connections = companies * CONNECTIONS_PER_COMPANY
        consents = options["consents"]
        if consents is None:
            consents = companies * CONSENTS_PER_COMPANY
        events = options["events"]
        if events is None:
            events = consents * EVENTS_PER_CONSENT
        products = list(Product.objects.active())
        if companies < 1 or connections < 0 or options["batch_size"] < 1:
            raise CommandError("--companies and --batch-size must be at least 1.")
        if consents > companies * len(products):
            raise CommandError(
                f"--consents {consents} is more than one per company and product "
                f"({companies} x {len(products)})."
            )
        if events < consents:
            raise CommandError("--events must be at least --consents: each consent has a grant.")
        User = get_user_model()
        if User.objects.filter(email__endswith=f"@{EMAIL_DOMAIN}").exists():
            raise CommandError(
                f"This database is seeded already (it has customers @{EMAIL_DOMAIN}); seed a "
                "fresh one."
            )
        seeder = _Seeder(
            rng=random.Random(options["seed"]),
            batch=options["batch_size"],
            password=make_password(options["password"]),
            products=products,
            out=self.stdout,
        )
        with transaction.atomic():
            seeder.run(
                companies=companies, connections=connections, consents=consents, events=events
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {companies} companies, {connections} connections, {consents} consents "
                f"and {events} consent events. Customers log in as "
                f"scale-00001@{EMAIL_DOMAIN} … with --password."
            )
        )


class _Seeder:
    def __init__(self, *, rng: random.Random, batch: int, password: str, products, out) -> None:
        self.rng = rng
        self.batch = batch
        self.password = password
        self.products: list[Product] = products
        self.out = out
        self.now = timezone.now()
        # Each product's current wording: ascending versions, so the newest is kept.
        self.texts = {
            text.product_id: text
            for text in ConsentText.objects.filter(product__in=products).order_by("version")
        }

    def insert(self, model: type[models.Model], rows: Iterable[models.Model]) -> int:
        count = 0
        for batch in chunks(rows, self.batch):
            model._default_manager.bulk_create(batch)
            count += len(batch)
        self.out.write(f"  {model._meta.verbose_name_plural}: {count}")
        return count

    def moment(self) -> datetime:
        return self.now - HISTORY * self.rng.random()

    def run(self, *, companies: int, connections: int, consents: int, events: int) -> None:
        self.ensure_integrations()
        company_rows = [
            Company(
                id=uuid.uuid4(),
                name=f"Scale Trading {number:05d} Ltd",
                codat_company_id=uuid.uuid4(),
            )
            for number in range(1, companies + 1)
        ]
        self.insert(Company, company_rows)
        owners = self.seed_members(company_rows)
        self.seed_connections(company_rows, connections)
        consent_rows = self.seed_consents(company_rows, owners, consents)
        self.seed_events(consent_rows, owners, events)
        self.seed_sync_states(consent_rows)

    def ensure_integrations(self) -> None:
        """The platforms the connections name, in our copy of the catalogue if missing, dated
        old enough that the picker refreshes the whole catalogue from Codat when first shown."""
        for kind, platforms in PLATFORMS.items():
            for key, name in platforms:
                Integration.objects.get_or_create(
                    key=key,
                    defaults={
                        "name": name,
                        "source_type": kind,
                        "refreshed_at": self.now - HISTORY,
                    },
                )

    def seed_members(self, companies: list[Company]) -> dict[uuid.UUID, models.Model]:
        User = get_user_model()
        users = []
        plan = []  # (company, role)
        for index, company in enumerate(companies, start=1):
            plan.append((company, Membership.Role.OWNER))
            if index % 5 == 0:
                plan.append((company, Membership.Role.MEMBER))
        for number, (company, _role) in enumerate(plan, start=1):
            email = f"scale-{number:05d}@{EMAIL_DOMAIN}"
            users.append(
                User(
                    username=email,
                    email=email,
                    first_name=f"Customer {number}",
                    password=self.password,
                    date_joined=company.created_at or self.now,
                )
            )
        self.insert(User, users)
        # bulk_create sets primary keys on PostgreSQL and SQLite alike (RETURNING).
        self.insert(
            Membership,
            (
                Membership(user=user, company=company, role=role)
                for user, (company, role) in zip(users, plan, strict=True)
            ),
        )
        return {
            company.pk: user
            for user, (company, role) in zip(users, plan, strict=True)
            if role == Membership.Role.OWNER
        }

    def seed_connections(self, companies: list[Company], total: int) -> None:
        kinds = list(PLATFORMS)
        statuses = [status for status, _ in STATUSES]
        weights = [weight for _, weight in STATUSES]
        rows = []
        for index in range(total):
            company = companies[index % len(companies)]
            # Each company's first connections are one of each kind, then more of them.
            kind = kinds[(index // len(companies)) % len(kinds)]
            key, name = self.rng.choice(PLATFORMS[kind])
            status = self.rng.choices(statuses, weights)[0]
            created = self.moment()
            linked = status != Connection.Status.PENDING_AUTH
            rows.append(
                Connection(
                    company=company,
                    codat_connection_id=uuid.uuid4(),
                    platform_key=key,
                    platform_name=name,
                    source_type=kind,
                    status=status,
                    created_at=created,
                    linked_at=created + timedelta(minutes=2) if linked else None,
                    authorised_at=created + timedelta(minutes=2) if linked else None,
                    last_sync=self.now - timedelta(hours=self.rng.randint(1, 48))
                    if status == Connection.Status.LINKED
                    else None,
                    status_changed_at=created + timedelta(minutes=2),
                    deleted_at=created + timedelta(days=30)
                    if status == Connection.Status.DELETED
                    else None,
                )
            )
        self.insert(Connection, rows)
        data_types: dict[str, list[str]] = {
            str(kind): sorted(
                {t for p in self.products for t in p.all_data_types if source_type_of(t) == kind}
            )
            for kind in kinds
        }
        self.insert(
            DataSync,
            (
                DataSync(
                    connection=connection,
                    data_type=data_type,
                    status=DataSync.Status.COMPLETE,
                    records_modified=True,
                    last_event_at=connection.last_sync or self.now,
                    last_success_at=connection.last_sync,
                )
                for connection in rows
                if connection.status == Connection.Status.LINKED
                for data_type in data_types[connection.source_type]
            ),
        )

    def seed_consents(self, companies, owners, total: int) -> list[Consent]:
        # The first product for every company, then the second, …: company × product is unique.
        pairs = ((c, p) for p in self.products for c in companies)
        rows = []
        for company, product in itertools.islice(pairs, total):
            text = self.texts[product.pk]
            rows.append(
                Consent(
                    company=company,
                    product=product,
                    data_types=product.all_data_types,
                    text=text,
                    granted_by=owners[company.pk],
                    granted_at=self.now,  # set from the events below
                )
            )
        return rows

    def seed_events(self, consents: list[Consent], owners, total: int) -> None:
        """Each consent's history: grant, then reconfirmations and withdrawals (each withdrawal
        followed by a new grant), oldest first; the consent's state is where it ends."""
        base, extra = divmod(total, len(consents)) if consents else (0, 0)
        histories = []
        for index, consent in enumerate(consents):
            count = base + (1 if index < extra else 0)
            actions = [ConsentEvent.Action.GRANT]
            while len(actions) < count:
                previous = actions[-1]
                if previous == ConsentEvent.Action.WITHDRAW:
                    actions.append(ConsentEvent.Action.GRANT)
                else:
                    later = [ConsentEvent.Action.RECONFIRM, ConsentEvent.Action.WITHDRAW]
                    actions.append(self.rng.choice(later))
            start = self.now - HISTORY * (0.5 + self.rng.random() / 2)
            step = (self.now - start) / (count + 1)
            moments = [start + step * n for n in range(count)]
            histories.append((consent, actions, moments))
            actor = owners[consent.company_id]
            consent.state = Consent.State.ACTIVE
            for action, at in zip(actions, moments, strict=True):
                if action == ConsentEvent.Action.GRANT:
                    consent.state = Consent.State.ACTIVE
                    consent.granted_at = consent.banking_confirmed_at = at
                    consent.withdrawn_at = consent.withdrawn_by = None
                elif action == ConsentEvent.Action.RECONFIRM:
                    consent.banking_confirmed_at = at
                else:
                    consent.state = Consent.State.WITHDRAWN
                    consent.withdrawn_at, consent.withdrawn_by = at, actor
        self.insert(Consent, consents)
        self.insert(
            ConsentEvent,
            (
                ConsentEvent(
                    consent=consent,
                    company_id=consent.company_id,
                    product=consent.product,
                    action=action,
                    actor=owners[consent.company_id],
                    occurred_at=at,
                    text=consent.text,
                    text_sha256=consent.text.sha256,
                    data_types=list(consent.data_types),
                    ip_address=f"10.{self.rng.randint(0, 255)}.{self.rng.randint(0, 255)}.7",
                    user_agent=self.rng.choice(USER_AGENTS),
                    request_id=uuid.uuid4().hex,
                    method="web",
                    surface=f"/products/{consent.product.slug}/"
                    + ("withdraw/" if action == ConsentEvent.Action.WITHDRAW else "consent/"),
                    details={"effect": "withdraw", "choice": "withdraw"}
                    if action == ConsentEvent.Action.WITHDRAW
                    else {},
                )
                for consent, actions, moments in histories
                for action, at in zip(actions, moments, strict=True)
            ),
        )

    def seed_sync_states(self, consents: list[Consent]) -> None:
        allowed: dict[uuid.UUID, set[str]] = {}
        for consent in consents:
            types = allowed.setdefault(consent.company_id, set())
            if consent.state == Consent.State.ACTIVE:
                types.update(consent.data_types)
        self.insert(
            CodatSyncState,
            (
                CodatSyncState(
                    company_id=company_id,
                    desired_data_types=sorted(types),
                    applied_data_types=sorted(types),
                    pending=False,
                    applied_at=self.now,
                )
                for company_id, types in allowed.items()
            ),
        )
