"""The figures the products show, worked out from what Codat handed over. No I/O here.

Each figure says what it is built from (`sources`), so that a page can tell the customer, and
staff, which data a number rests on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from codat.financials import (
    BalanceSheetPeriod,
    BankAccount,
    BankBalance,
    BankTransaction,
    CashFlowPeriod,
    ProfitAndLossPeriod,
    ReportLine,
)

ZERO = Decimal(0)
# Runway is the cash divided by the average monthly outflow over this many recent months.
RUNWAY_MONTHS_AVERAGED = 3
# Words in a line's name that mark it as money in the bank (accounting software names vary).
CASH_WORDS = ("cash", "bank")
RECEIVABLE_WORDS = ("receivable", "debtor")
PAYABLE_WORDS = ("payable", "creditor")


@dataclass(frozen=True)
class MonthFigures:
    month: date
    revenue: Decimal
    costs: Decimal
    profit: Decimal


def profit_by_month(periods: Iterable[ProfitAndLossPeriod]) -> list[MonthFigures]:
    """Revenue, costs and profit per month, oldest first. Costs are everything the profit and
    loss takes off revenue (cost of sales, running costs, other income and costs)."""
    months = []
    for period in periods:
        if period.from_date is None:
            continue
        revenue = period.income.value if period.income else ZERO
        months.append(
            MonthFigures(
                month=period.from_date,
                revenue=revenue,
                costs=revenue - period.net_profit,
                profit=period.net_profit,
            )
        )
    return sorted(months, key=lambda m: m.month)


def _leaves(line: ReportLine | None) -> Iterable[ReportLine]:
    if line is None:
        return
    if not line.items:
        yield line
    for item in line.items:
        yield from _leaves(item)


def _sum_named(line: ReportLine | None, words: Sequence[str]) -> Decimal | None:
    found = [leaf.value for leaf in _leaves(line) if any(w in leaf.name.lower() for w in words)]
    return sum(found, ZERO) if found else None


@dataclass(frozen=True)
class Position:
    """What the business owns and owes at a balance sheet date."""

    date: date | None
    owned: Decimal  # total assets
    owed: Decimal  # total liabilities
    net_assets: Decimal
    cash: Decimal | None
    owed_to_you: Decimal | None  # by customers
    you_owe_suppliers: Decimal | None


def position(sheet: BalanceSheetPeriod) -> Position:
    return Position(
        date=sheet.date,
        owned=sheet.assets.value if sheet.assets else ZERO,
        owed=sheet.liabilities.value if sheet.liabilities else ZERO,
        net_assets=sheet.net_assets,
        cash=_sum_named(sheet.assets, CASH_WORDS),
        owed_to_you=_sum_named(sheet.assets, RECEIVABLE_WORDS),
        you_owe_suppliers=_sum_named(sheet.liabilities, PAYABLE_WORDS),
    )


def latest(periods: Sequence[BalanceSheetPeriod]) -> BalanceSheetPeriod | None:
    dated = [p for p in periods if p.date is not None]
    return max(dated, key=lambda p: p.date or date.min) if dated else None


@dataclass(frozen=True)
class CashMonth:
    month: date
    money_in: Decimal
    money_out: Decimal

    @property
    def net(self) -> Decimal:
        return self.money_in - self.money_out


def cash_by_month(periods: Iterable[CashFlowPeriod]) -> list[CashMonth]:
    months = [
        CashMonth(
            month=period.from_date,
            money_in=period.cash_receipts.value if period.cash_receipts else ZERO,
            money_out=period.cash_payments.value if period.cash_payments else ZERO,
        )
        for period in periods
        if period.from_date is not None
    ]
    return sorted(months, key=lambda m: m.month)


@dataclass(frozen=True)
class Runway:
    cash: Decimal
    monthly_burn: Decimal  # average net outflow; 0 or less means cash is not shrinking
    months: Decimal | None  # None: no end in sight at this rate

    @property
    def growing(self) -> bool:
        return self.months is None


def runway(cash: Decimal, months: Sequence[CashMonth]) -> Runway | None:
    recent = months[-RUNWAY_MONTHS_AVERAGED:]
    if not recent:
        return None
    burn = -sum((m.net for m in recent), ZERO) / len(recent)
    if burn <= 0:
        return Runway(cash=cash, monthly_burn=burn, months=None)
    return Runway(cash=cash, monthly_burn=burn, months=(cash / burn).quantize(Decimal("0.1")))


def month_end_balances(balances: Iterable[BankBalance]) -> list[tuple[date, Decimal]]:
    """All accounts' balances added up at each month end, oldest first: the last balance each
    account reported in each month."""
    last: dict[tuple[date, str], tuple[date, Decimal]] = {}
    for balance in balances:
        if balance.date is None or balance.current is None:
            continue
        month = balance.date.replace(day=1)
        key = (month, balance.account_id)
        if key not in last or last[key][0] <= balance.date:
            last[key] = (balance.date, balance.current)
    totals: dict[date, Decimal] = {}
    for (month, _), (_, amount) in last.items():
        totals[month] = totals.get(month, ZERO) + amount
    return sorted(totals.items())


def average_daily_balance(
    accounts: Sequence[BankAccount], transactions: Iterable[BankTransaction], *, days: int = 90
) -> Decimal | None:
    """The average end-of-day balance over the last `days` days of transactions, all accounts
    together, worked back from each account's current balance through its transactions."""
    known = [a for a in accounts if a.current_balance is not None]
    if not known:
        return None
    dated = [t for t in transactions if t.posted is not None]
    if not dated:
        return sum((a.current_balance or ZERO for a in known), ZERO)
    end = max(t.posted for t in dated if t.posted is not None).date()
    start = end - timedelta(days=days - 1)
    ids = {a.id for a in known}
    moved: dict[date, Decimal] = {}
    for t in dated:
        if t.account_id in ids and t.posted is not None:
            day = t.posted.date()
            moved[day] = moved.get(day, ZERO) + t.amount
    balance = sum((a.current_balance or ZERO for a in known), ZERO)
    total = ZERO
    day = end
    while day >= start:
        total += balance  # the balance at the end of `day`
        balance -= moved.get(day, ZERO)
        day -= timedelta(days=1)
    return (total / days).quantize(Decimal("0.01"))


@dataclass
class LendingFigures:
    """An applicant's key figures, each None when its data is not covered or not there."""

    revenue_12m: Decimal | None = None
    profit_12m: Decimal | None = None
    period: tuple[date | None, date | None] | None = None
    net_assets: Decimal | None = None
    cash: Decimal | None = None
    balance_date: date | None = None
    average_bank_balance: Decimal | None = None
    currency: str = ""
    notes: list[str] = field(default_factory=list)
