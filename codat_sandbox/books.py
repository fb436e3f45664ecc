"""A small business's books, made up but consistent, for the sandbox's data reads.

Deterministic per company: every figure comes from a generator seeded with the company's id
and the month the data runs to, so the same company fetched in the same month always shows
the same business. Amounts are whole pennies until they leave as JSON, so every total adds up
exactly, and the statements agree with one another:

- profit and loss: 24 months of sales with a seasonal swing, cost of sales, running costs and
  loan interest;
- balance sheet at each month end: cash, what customers owe, equipment; what is owed to
  suppliers and the bank; share capital and retained earnings — assets less liabilities is
  always equity, and retained earnings move by exactly each month's profit;
- cash flow statement: money in from customers, money out to suppliers, staff and the bank,
  month by month, taking the balance sheet's cash from one month end to the next;
- one bank account whose transactions are those cash movements and whose daily balances end
  each month at the balance sheet's cash.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

MONTHS = 24


@dataclass(frozen=True)
class Month:
    start: date
    end: date
    # Profit and loss, in pennies.
    sales: int
    cost_of_sales: int
    wages: int
    rent: int
    marketing: int
    general: int
    interest: int
    # Cash moved in the month.
    receipts: int
    supplier_payments: int
    # Balances at the month end.
    cash: int
    receivables: int
    payables: int
    retained_earnings: int

    @property
    def expenses(self) -> int:
        return self.wages + self.rent + self.marketing + self.general

    @property
    def gross_profit(self) -> int:
        return self.sales - self.cost_of_sales

    @property
    def operating_profit(self) -> int:
        return self.gross_profit - self.expenses

    @property
    def net_profit(self) -> int:
        return self.operating_profit - self.interest

    @property
    def payments(self) -> int:
        return self.supplier_payments + self.wages + self.rent + self.interest


@dataclass(frozen=True)
class Books:
    company_id: uuid.UUID
    months: tuple[Month, ...]  # oldest first
    equipment: int
    loan: int
    share_capital: int
    opening_cash: int


def _month_start(day: date, back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def _month_end(start: date) -> date:
    return _month_start(start, -1) - timedelta(days=1)


def last_complete_month(today: date) -> date:
    """The first day of the last month that has ended by `today`."""
    return _month_start(today, 1)


def books_for(company_id: uuid.UUID, *, today: date) -> Books:
    """The company's 24 months up to the last complete month before `today`."""
    last = last_complete_month(today)
    rng = random.Random(f"{company_id}:{last.isoformat()}")
    base = rng.randint(30_000, 120_000) * 100
    growth = rng.uniform(-0.005, 0.02)
    swing = rng.uniform(0.15, 0.3)
    peak_month = rng.randint(1, 12)
    cost_ratio = rng.uniform(0.3, 0.5)
    wages = round(base * rng.uniform(0.25, 0.35))
    rent = round(base * rng.uniform(0.05, 0.08))
    debtor_share = rng.uniform(0.3, 0.6)  # of a month's sales still unpaid at its end
    creditor_share = rng.uniform(0.3, 0.5)  # of a month's supplies still unpaid at its end
    equipment = round(base * rng.uniform(0.5, 2))
    loan = int(round(base * rng.uniform(0, 1.5), -4))
    share_capital = 10_000

    starts = [_month_start(last, back) for back in range(MONTHS - 1, -1, -1)]
    plans: list[dict[str, Any]] = []
    for index, start in enumerate(starts):
        season = 1 + swing * math.cos(2 * math.pi * (start.month - peak_month) / 12)
        sales = round(base * (1 + growth) ** index * season * rng.uniform(0.95, 1.05))
        cost_of_sales = round(sales * cost_ratio)
        plans.append(
            {
                "start": start,
                "sales": sales,
                "cost_of_sales": cost_of_sales,
                "wages": wages,
                "rent": rent,
                "marketing": round(sales * 0.04),
                "general": round(base * rng.uniform(0.02, 0.04)),
                "interest": round(loan * 0.06 / 12),
                "receivables": round(sales * debtor_share),
                "payables": round(cost_of_sales * creditor_share),
            }
        )

    opening_receivables = round(plans[0]["sales"] * debtor_share)
    opening_payables = round(plans[0]["cost_of_sales"] * creditor_share)
    # Cash as if the business started with none, then lifted so that it never dips below a
    # couple of weeks' takings: a made-up business with an overdraft would only confuse.
    cash, lowest = 0, 0
    receivables, payables = opening_receivables, opening_payables
    for plan in plans:
        receipts = plan["sales"] + receivables - plan["receivables"]
        supplies = plan["cost_of_sales"] + plan["marketing"] + plan["general"]
        supplier_payments = supplies + payables - plan["payables"]
        plan["receipts"], plan["supplier_payments"] = receipts, supplier_payments
        cash += receipts - supplier_payments - plan["wages"] - plan["rent"] - plan["interest"]
        lowest = min(lowest, cash)
        receivables, payables = plan["receivables"], plan["payables"]
    opening_cash = -lowest + round(base * rng.uniform(0.5, 2))

    # Equity at the start is whatever makes the opening balance sheet balance.
    retained = (
        opening_cash + opening_receivables + equipment - opening_payables - loan - share_capital
    )
    cash = opening_cash
    months = []
    for plan in plans:
        start = plan.pop("start")
        month = Month(
            start=start,
            end=_month_end(start),
            cash=0,
            retained_earnings=0,
            **plan,
        )
        cash += month.receipts - month.payments
        retained += month.net_profit
        months.append(replace(month, cash=cash, retained_earnings=retained))
    return Books(
        company_id=company_id,
        months=tuple(months),
        equipment=equipment,
        loan=loan,
        share_capital=share_capital,
        opening_cash=opening_cash,
    )


# --- bank account ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BankLine:
    id: str
    posted: date
    amount: int  # pennies; money out is negative
    description: str


def bank_account_id(company_id: uuid.UUID, connection_id: uuid.UUID) -> str:
    return str(uuid.uuid5(connection_id, f"{company_id}:current-account"))


def bank_lines(books: Books, connection_id: uuid.UUID) -> list[BankLine]:
    """Every movement on the current account, oldest first, month by month adding up to the
    cash flow statement's receipts and payments."""
    rng = random.Random(f"{books.company_id}:{connection_id}:bank")
    lines: list[BankLine] = []
    for month in books.months:
        days = (month.end - month.start).days + 1

        def on(
            day: int, amount: int, description: str, month: Month = month, days: int = days
        ) -> None:
            posted = month.start + timedelta(days=min(day, days) - 1)
            number = len(lines)
            lines.append(
                BankLine(
                    id=str(uuid.uuid5(connection_id, f"{posted.isoformat()}:{number}")),
                    posted=posted,
                    amount=amount,
                    description=description,
                )
            )

        for day, part in _split(rng, month.receipts, rng.randint(3, 6), days):
            on(day, part, f"Customer payment {rng.randint(1000, 9999)}")
        on(1, -month.rent, "Rent")
        if month.interest:
            on(15, -month.interest, "Loan interest")
        on(25, -month.wages, "Salaries")
        for day, part in _split(rng, month.supplier_payments, rng.randint(2, 4), days):
            on(day, -part, "Supplier payment")
    lines.sort(key=lambda line: (line.posted, line.id))
    return lines


def _split(rng: random.Random, total: int, parts: int, days: int) -> list[tuple[int, int]]:
    """`total` in `parts` pieces on random days of the month; the pieces add up exactly."""
    weights = [rng.uniform(0.5, 1.5) for _ in range(parts)]
    pieces = [round(total * weight / sum(weights)) for weight in weights]
    pieces[-1] = total - sum(pieces[:-1])
    return [(rng.randint(1, days), piece) for piece in pieces]


def daily_balances(books: Books, lines: list[BankLine]) -> list[tuple[date, int]]:
    """The balance at the end of each day the account moved, and at each month end."""
    balance = books.opening_cash
    by_day: dict[date, int] = {}
    month_ends = {month.end for month in books.months}
    first = books.months[0].start
    day = first
    movements: dict[date, int] = {}
    for line in lines:
        movements[line.posted] = movements.get(line.posted, 0) + line.amount
    last = books.months[-1].end
    while day <= last:
        if day in movements:
            balance += movements[day]
            by_day[day] = balance
        elif day in month_ends:
            by_day[day] = balance
        day += timedelta(days=1)
    return sorted(by_day.items())
