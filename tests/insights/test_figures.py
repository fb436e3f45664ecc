"""The figures the pages show, worked out from typed statements (insights.figures)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from codat.financials import (
    BalanceSheetPeriod,
    BankAccount,
    BankBalance,
    BankTransaction,
    ReportLine,
)
from insights import figures
from insights.figures import CashMonth


def line(name: str, value: str, *items: ReportLine) -> ReportLine:
    return ReportLine(name=name, value=Decimal(value), items=items)


def test_cash_owed_and_owned_are_found_by_name_at_any_depth():
    sheet = BalanceSheetPeriod(
        date=date(2026, 4, 30),
        assets=line(
            "Assets",
            "1500",
            line("Current Assets", "1000", line("Business Bank", "600"), line("Debtors", "400")),
            line("Fixed Assets", "500", line("Van", "500")),
        ),
        liabilities=line("Liabilities", "300", line("Trade Creditors", "300")),
        equity=None,
        net_assets=Decimal(1200),
    )

    found = figures.position(sheet)

    assert found.cash == Decimal(600)
    assert found.owed_to_you == Decimal(400)
    assert found.you_owe_suppliers == Decimal(300)
    assert (found.owned, found.owed, found.net_assets) == (Decimal(1500), Decimal(300), 1200)


def test_runway_is_cash_over_the_recent_average_outflow():
    months = [
        CashMonth(date(2026, m, 1), money_in=Decimal(100), money_out=Decimal(out))
        for m, out in [(1, 500), (2, 200), (3, 300), (4, 400)]
    ]

    found = figures.runway(Decimal(1000), months)

    assert found is not None
    assert found.monthly_burn == Decimal(200)  # the last three months: 100, 200, 300 out net
    assert found.months == Decimal("5.0")


def test_a_business_taking_in_more_than_it_spends_has_no_runway_limit():
    months = [CashMonth(date(2026, 1, 1), money_in=Decimal(500), money_out=Decimal(100))]

    found = figures.runway(Decimal(1000), months)

    assert found is not None and found.growing


def test_month_end_balances_add_up_accounts_at_their_last_report_in_each_month():
    balances = [
        BankBalance("a", date(2026, 3, 10), Decimal(5)),
        BankBalance("a", date(2026, 3, 31), Decimal(10)),
        BankBalance("b", date(2026, 3, 30), Decimal(1)),
        BankBalance("a", date(2026, 4, 30), Decimal(20)),
    ]

    assert figures.month_end_balances(balances) == [
        (date(2026, 3, 1), Decimal(11)),
        (date(2026, 4, 1), Decimal(20)),
    ]


def test_the_average_daily_balance_works_back_from_todays_balance():
    account = BankAccount("a", "Current", "GBP", "Debit", current_balance=Decimal(100))
    # 50 came in on the last day; before that the balance was 50 for the other 9 days.
    paid_in = BankTransaction(
        "t", "a", Decimal(50), "GBP", datetime(2026, 4, 30, tzinfo=UTC), "Customer"
    )

    average = figures.average_daily_balance([account], [paid_in], days=10)

    assert average == Decimal("55.00")
