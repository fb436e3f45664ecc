"""Typed results for the data the products read: company info, the three financial statements
and, per bank connection, accounts, balances and transactions (docs/codat.md §11).

Tolerant in the way of `codat.parsing`: unknown fields are ignored and missing optional ones get
defaults. Money is `Decimal`, never float, so that totals add up to the penny. A body of the
wrong shape raises KeyError, TypeError, ValueError or AttributeError, which the client reports
as CodatUnavailable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

from codat.parsing import parse_datetime

P = TypeVar("P")

ZERO = Decimal(0)


@dataclass(frozen=True)
class ReportLine:
    """One line of a statement, with the lines it adds up (Codat's `ReportLine`)."""

    name: str
    value: Decimal
    account_id: str | None = None
    items: tuple[ReportLine, ...] = ()

    def find(self, name: str) -> ReportLine | None:
        """The first line at any depth whose name is `name` (case-insensitive)."""
        wanted = name.casefold()
        for item in self.items:
            if item.name.casefold() == wanted:
                return item
            found = item.find(name)
            if found is not None:
                return found
        return None


@dataclass(frozen=True)
class ProfitAndLossPeriod:
    from_date: date | None
    to_date: date | None
    income: ReportLine | None
    cost_of_sales: ReportLine | None
    expenses: ReportLine | None
    other_income: ReportLine | None
    other_expenses: ReportLine | None
    gross_profit: Decimal
    net_operating_profit: Decimal
    net_other_income: Decimal
    net_profit: Decimal


@dataclass(frozen=True)
class BalanceSheetPeriod:
    date: date | None
    assets: ReportLine | None
    liabilities: ReportLine | None
    equity: ReportLine | None
    net_assets: Decimal


@dataclass(frozen=True)
class CashFlowPeriod:
    from_date: date | None
    to_date: date | None
    cash_receipts: ReportLine | None
    cash_payments: ReportLine | None


@dataclass(frozen=True)
class FinancialReport(Generic[P]):
    """A statement over consecutive periods, newest first as Codat sends them."""

    currency: str
    periods: tuple[P, ...]
    earliest_available_month: date | None = None
    most_recent_available_month: date | None = None


@dataclass(frozen=True)
class CompanyInfo:
    company_name: str
    legal_name: str = ""
    registration_number: str = ""
    base_currency: str = ""
    financial_year_start: date | None = None


@dataclass(frozen=True)
class BankAccount:
    id: str
    name: str
    currency: str
    type: str
    current_balance: Decimal | None
    available_balance: Decimal | None = None
    institution: str = ""


@dataclass(frozen=True)
class BankBalance:
    """One account's balance at the end of one day."""

    account_id: str
    date: date | None
    current: Decimal | None
    available: Decimal | None = None


@dataclass(frozen=True)
class BankTransaction:
    id: str
    account_id: str
    amount: Decimal
    currency: str
    posted: datetime | None
    description: str = ""


# --- parsing ------------------------------------------------------------------------------------


def _decimal(value: Any) -> Decimal:
    if value is None or value == "":
        return ZERO
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"not an amount: {value!r}")
    try:
        # Through str, so that a JSON float like 0.1 becomes 0.1 and not its binary neighbour.
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    return amount


def _optional_decimal(value: Any) -> Decimal | None:
    return None if value is None or value == "" else _decimal(value)


def _date(value: Any) -> date | None:
    parsed = parse_datetime(value)
    return parsed.date() if parsed else None


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return "" if value is None else str(value)


def parse_report_line(data: Mapping[str, Any] | None) -> ReportLine | None:
    if data is None:
        return None
    return ReportLine(
        name=_text(data, "name"),
        value=_decimal(data.get("value")),
        account_id=data.get("accountId") or None,
        items=tuple(
            line
            for line in (parse_report_line(item) for item in data.get("items") or ())
            if line is not None
        ),
    )


def _report(data: Mapping[str, Any], periods: tuple[P, ...]) -> FinancialReport[P]:
    return FinancialReport(
        currency=_text(data, "currency"),
        periods=periods,
        earliest_available_month=_date(data.get("earliestAvailableMonth")),
        most_recent_available_month=_date(data.get("mostRecentAvailableMonth")),
    )


def parse_profit_and_loss(data: Mapping[str, Any]) -> FinancialReport[ProfitAndLossPeriod]:
    periods = tuple(
        ProfitAndLossPeriod(
            from_date=_date(item.get("fromDate")),
            to_date=_date(item.get("toDate")),
            income=parse_report_line(item.get("income")),
            cost_of_sales=parse_report_line(item.get("costOfSales")),
            expenses=parse_report_line(item.get("expenses")),
            other_income=parse_report_line(item.get("otherIncome")),
            other_expenses=parse_report_line(item.get("otherExpenses")),
            gross_profit=_decimal(item.get("grossProfit")),
            net_operating_profit=_decimal(item.get("netOperatingProfit")),
            net_other_income=_decimal(item.get("netOtherIncome")),
            net_profit=_decimal(item.get("netProfit")),
        )
        for item in data["reports"]
    )
    return _report(data, periods)


def parse_balance_sheet(data: Mapping[str, Any]) -> FinancialReport[BalanceSheetPeriod]:
    periods = tuple(
        BalanceSheetPeriod(
            date=_date(item.get("date")),
            assets=parse_report_line(item.get("assets")),
            liabilities=parse_report_line(item.get("liabilities")),
            equity=parse_report_line(item.get("equity")),
            net_assets=_decimal(item.get("netAssets")),
        )
        for item in data["reports"]
    )
    return _report(data, periods)


def parse_cash_flow_statement(data: Mapping[str, Any]) -> FinancialReport[CashFlowPeriod]:
    periods = tuple(
        CashFlowPeriod(
            from_date=_date(item.get("fromDate")),
            to_date=_date(item.get("toDate")),
            cash_receipts=parse_report_line(item.get("cashReceipts")),
            cash_payments=parse_report_line(item.get("cashPayments")),
        )
        for item in data["reports"]
    )
    return _report(data, periods)


def parse_company_info(data: Mapping[str, Any]) -> CompanyInfo:
    return CompanyInfo(
        company_name=_text(data, "companyName"),
        legal_name=_text(data, "companyLegalName"),
        registration_number=_text(data, "registrationNumber"),
        base_currency=_text(data, "baseCurrency"),
        financial_year_start=_date(data.get("financialYearStartDate")),
    )


def parse_bank_account(data: Mapping[str, Any]) -> BankAccount:
    balance = data.get("balance") or {}
    institution = data.get("institution") or {}
    return BankAccount(
        id=str(data["id"]),
        name=_text(data, "name"),
        currency=_text(data, "currency"),
        type=_text(data, "type"),
        current_balance=_optional_decimal(balance.get("current")),
        available_balance=_optional_decimal(balance.get("available")),
        institution=_text(institution, "name"),
    )


def parse_bank_balance(data: Mapping[str, Any]) -> BankBalance:
    balance = data.get("balance") or {}
    return BankBalance(
        account_id=str(data["accountId"]),
        date=_date(data.get("date")),
        current=_optional_decimal(balance.get("current")),
        available=_optional_decimal(balance.get("available")),
    )


def parse_bank_transaction(data: Mapping[str, Any]) -> BankTransaction:
    return BankTransaction(
        id=str(data["id"]),
        account_id=str(data["accountId"]),
        amount=_decimal(data.get("amount")),
        currency=_text(data, "currency"),
        posted=parse_datetime(data.get("postedDate")),
        description=_text(data, "description"),
    )
