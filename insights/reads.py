"""What the two products read, each through its own consent (consents.data_use), and the
figures they make of it (insights.figures).

- The Business insights dashboard, for the customer: 12 months of profit and loss and of cash
  flow, the latest balance sheet, company details, and from each bank connection its accounts
  and their balances.
- The Lending review, for staff: the last 12 months' profit and loss as one period, the latest
  balance sheet, and from each bank connection its accounts and transactions.

A type the product's live consent does not cover is not read, and the page says so; a type
Codat has not finished fetching is shown as still syncing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

from django.contrib.auth.models import User
from django.db.models import Max

from codat.client import CodatClient
from codat.errors import CodatError, CodatNotFound, DataTypeNotConsented
from codat.financials import BankAccount, BankBalance, BankTransaction, CompanyInfo
from companies.models import Company
from connections.models import Connection, DataSync, SourceType
from consents import selectors
from consents.data_types import DataType, describe
from consents.data_use import (
    DataUseSession,
    UseBeingLogged,
    cached_read,
    data_use,
    data_use_from_copy,
)
from consents.models import DataUse, Product
from insights import figures

T = TypeVar("T")

INSIGHTS = "business-insights"
LENDING = "lending"
MONTHS_SHOWN = 12

DASHBOARD_PURPOSE = "Show the Business insights dashboard"
LENDING_PURPOSE = "Lending review of the applicant's key figures"


@dataclass
class Reading:
    """How a page's reads went, type by type, in words a page can show."""

    not_covered: list[str] = field(default_factory=list)
    not_ready: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    read: list[str] = field(default_factory=list)

    def described(self, which: str) -> list[DataType]:
        return describe(getattr(self, which))

    @staticmethod
    def _add(types: list[str], data_type: str) -> None:
        if data_type not in types:
            types.append(data_type)


class _Reader:
    """One page's reads for one product, each through `cached_read`, sorted into `Reading`."""

    def __init__(self, use: DataUseSession, company: Company) -> None:
        self.use = use
        self.codat_id = str(company.codat_company_id)
        self.allowed = use.allowed()
        self.reading = Reading()

    def get(
        self,
        data_type: str,
        fetch: Callable[[CodatClient], T],
        *,
        key: str = "",
        connection_id: str | None = None,
    ) -> T | None:
        if data_type not in self.allowed:
            Reading._add(self.reading.not_covered, data_type)
            return None
        try:
            result = cached_read(self.use, data_type, fetch, key=key, connection_id=connection_id)
        except DataTypeNotConsented:
            # The consent changed between the page starting and this read; logged as refused.
            Reading._add(self.reading.not_covered, data_type)
            return None
        except CodatNotFound:
            Reading._add(self.reading.not_ready, data_type)
            return None
        except CodatError as exc:
            # 409: Codat is still fetching it. Anything else: Codat could not give it now.
            target = self.reading.not_ready if exc.status_code == 409 else self.reading.failed
            Reading._add(target, data_type)
            return None
        Reading._add(self.reading.read, data_type)
        return result


def _bank_connections(company: Company) -> list[Connection]:
    """Bank connections Codat may hold data from: any not deleted (an expired one keeps what
    was fetched before it expired)."""
    return list(
        Connection.objects.for_company(company)
        .filter(source_type=SourceType.BANKING, deleted_at__isnull=True)
        .exclude(status=Connection.Status.PENDING_AUTH)
        .order_by("created_at")
    )


def _accounts(
    client: CodatClient, *, company_id: str, connection_id: str, product: str
) -> list[BankAccount]:
    return client.list_bank_accounts(company_id, connection_id, product=product)


def _balances(
    client: CodatClient, *, company_id: str, connection_id: str, product: str
) -> list[BankBalance]:
    return client.list_bank_balances(company_id, connection_id, product=product)


def _transactions(
    client: CodatClient, *, company_id: str, connection_id: str, product: str
) -> list[BankTransaction]:
    return client.list_bank_transactions(company_id, connection_id, product=product)


def last_synced(company: Company, data_types: list[str]) -> datetime | None:
    """When Codat last finished fetching any of these types for the company."""
    return DataSync.objects.filter(connection__company=company, data_type__in=data_types).aggregate(
        newest=Max("last_success_at")
    )["newest"]


# --- the Business insights dashboard --------------------------------------------------------


@dataclass
class Dashboard:
    reading: Reading
    currency: str = "GBP"
    company: CompanyInfo | None = None
    months: list[figures.MonthFigures] = field(default_factory=list)
    position: figures.Position | None = None
    cash_months: list[figures.CashMonth] = field(default_factory=list)
    runway: figures.Runway | None = None
    cash_source: str = ""
    bank_accounts: list[BankAccount] = field(default_factory=list)
    bank_balances: list[tuple[date, Decimal]] = field(default_factory=list)
    last_updated: datetime | None = None

    @property
    def cash(self) -> Decimal | None:
        if self.bank_accounts and all(a.current_balance is not None for a in self.bank_accounts):
            return sum((a.current_balance or Decimal(0) for a in self.bank_accounts), Decimal(0))
        return self.position.cash if self.position else None


def dashboard_read(*, company: Company, product: Product, user: User) -> Dashboard:
    """Read and work out the dashboard for the signed-in customer, logged as their use."""
    with data_use(
        company=company,
        product=product,
        purpose=DASHBOARD_PURPOSE,
        reader_kind=DataUse.Reader.CUSTOMER,
        reader=user,
    ) as use:
        reader = _Reader(use, company)
        codat_id, slug = reader.codat_id, product.slug
        board = Dashboard(reading=reader.reading)
        board.company = reader.get("company", lambda c: c.get_company_info(codat_id, product=slug))
        pnl = reader.get(
            "profitAndLoss",
            lambda c: c.get_profit_and_loss(
                codat_id, product=slug, period_length=1, periods_to_compare=MONTHS_SHOWN
            ),
            key="1x12",
        )
        sheet = reader.get(
            "balanceSheet",
            lambda c: c.get_balance_sheet(
                codat_id, product=slug, period_length=1, periods_to_compare=MONTHS_SHOWN
            ),
            key="1x12",
        )
        flow = reader.get(
            "cashFlowStatement",
            lambda c: c.get_cash_flow_statement(
                codat_id, product=slug, period_length=1, periods_to_compare=MONTHS_SHOWN
            ),
            key="1x12",
        )
        if pnl is not None:
            board.currency = pnl.currency or board.currency
            board.months = figures.profit_by_month(pnl.periods)
        if sheet is not None:
            newest = figures.latest(sheet.periods)
            board.position = figures.position(newest) if newest else None
        if flow is not None:
            board.cash_months = figures.cash_by_month(flow.periods)
        _read_banks(reader, company, slug, board)
        cash = board.cash
        board.cash_source = (
            "bank"
            if board.bank_accounts and cash is not None
            else ("balanceSheet" if cash is not None else "")
        )
        if cash is not None and board.cash_months:
            board.runway = figures.runway(cash, board.cash_months)
        board.last_updated = last_synced(company, reader.reading.read)
    return board


def dashboard_shown_again(
    *, company: Company, product_id: int, user: User, data_types: tuple[str, ...]
) -> UseBeingLogged:
    """The dashboard shown again from what it kept (insights.views.dashboard): the customer
    saw these types once more, from our copy, with no Codat call. Logged as any view is:
    `wait()` on the result before the page is answered."""
    return data_use_from_copy(
        company=company,
        product_id=product_id,
        purpose=DASHBOARD_PURPOSE,
        reader_kind=DataUse.Reader.CUSTOMER,
        reader=user,
        data_types=list(data_types),
    )


def _read_banks(reader: _Reader, company: Company, slug: str, board: Dashboard) -> None:
    balances: list[BankBalance] = []
    for connection in _bank_connections(company):
        cid = str(connection.codat_connection_id)
        accounts = reader.get(
            "banking-accounts",
            partial(_accounts, company_id=reader.codat_id, connection_id=cid, product=slug),
            connection_id=cid,
        )
        board.bank_accounts += accounts or []
        balances += (
            reader.get(
                "banking-accountBalances",
                partial(_balances, company_id=reader.codat_id, connection_id=cid, product=slug),
                connection_id=cid,
            )
            or []
        )
    board.bank_balances = figures.month_end_balances(balances)[-MONTHS_SHOWN:]


# --- the Lending review ---------------------------------------------------------------------


@dataclass
class LendingReview:
    product: Product
    status: selectors.ProductStatus
    figures: figures.LendingFigures | None = None
    reading: Reading | None = None
    last_updated: datetime | None = None
    bank_accounts: list[BankAccount] = field(default_factory=list)
    use: DataUse | None = None

    @property
    def consented(self) -> bool:
        return self.status.is_active


def lending_review(*, company: Company, staff: User) -> LendingReview:
    """The applicant's key figures, read for Lending under the staff member's name; without a
    live Lending consent nothing is read."""
    product = Product.objects.get(slug=LENDING)
    review = LendingReview(product=product, status=selectors.product_status(company, product))
    if not review.consented or company.codat_company_id is None:
        return review
    with data_use(
        company=company,
        product=product,
        purpose=LENDING_PURPOSE,
        reader_kind=DataUse.Reader.STAFF,
        reader=staff,
    ) as use:
        reader = _Reader(use, company)
        review.reading = reader.reading
        review.figures = _lending_figures(reader, company, product.slug, review)
        review.last_updated = last_synced(company, reader.reading.read)
    review.use = use.recorded
    return review


def _lending_figures(
    reader: _Reader, company: Company, slug: str, review: LendingReview
) -> figures.LendingFigures:
    codat_id = reader.codat_id
    found = figures.LendingFigures()
    year = reader.get(
        "profitAndLoss",
        lambda c: c.get_profit_and_loss(
            codat_id, product=slug, period_length=12, periods_to_compare=1
        ),
        key="12x1",
    )
    if year is not None and year.periods:
        period = year.periods[0]
        found.currency = year.currency
        found.revenue_12m = period.income.value if period.income else Decimal(0)
        found.profit_12m = period.net_profit
        found.period = (period.from_date, period.to_date)
    sheet = reader.get(
        "balanceSheet",
        lambda c: c.get_balance_sheet(
            codat_id, product=slug, period_length=1, periods_to_compare=1
        ),
        key="1x1",
    )
    newest = figures.latest(sheet.periods) if sheet is not None else None
    if newest is not None:
        position = figures.position(newest)
        found.net_assets = position.net_assets
        found.cash = position.cash
        found.balance_date = position.date
    transactions: list[BankTransaction] = []
    for connection in _bank_connections(company):
        cid = str(connection.codat_connection_id)
        accounts = reader.get(
            "banking-accounts",
            partial(_accounts, company_id=codat_id, connection_id=cid, product=slug),
            connection_id=cid,
        )
        review.bank_accounts += accounts or []
        transactions += (
            reader.get(
                "banking-transactions",
                partial(_transactions, company_id=codat_id, connection_id=cid, product=slug),
                connection_id=cid,
            )
            or []
        )
    if review.bank_accounts:
        found.average_bank_balance = figures.average_daily_balance(
            review.bank_accounts, transactions
        )
    return found


def describe_reading(reading: Reading | None) -> dict[str, Any]:
    if reading is None:
        return {}
    return {
        "not_covered": reading.described("not_covered"),
        "not_ready": reading.described("not_ready"),
        "failed": reading.described("failed"),
        "read": reading.described("read"),
    }
