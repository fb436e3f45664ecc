"""The sandbox's data reads (docs/codat.md §11): only what it has fetched, a business whose
statements agree with each other and with its bank, and answers in the shape Codat's own
`codat-lending` SDK models accept."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from codat_sandbox import timeline
from codat_sandbox.books import books_for
from codat_sandbox.inprocess import wsgi_app

from .openapi import API_PREFIX
from .steps import AUTH, connect, sync_settings

START = datetime(2026, 5, 6, 9, 0, 0, tzinfo=UTC)
LATER = timedelta(seconds=timeline.SYNC_SECONDS_MAX + 1)
ACCOUNTING = ["company", "profitAndLoss", "balanceSheet", "cashFlowStatement"]
BANKING = ["banking-accounts", "banking-accountBalances", "banking-transactions"]


class DataApi:
    """GETs against the sandbox's data reads. Codat's Platform document does not describe them,
    so the shapes are checked by the `codat-lending` SDK's models below instead."""

    def __init__(self, client) -> None:
        self.client = client

    def get(self, path: str):
        return self.client.get(API_PREFIX + path, HTTP_AUTHORIZATION=AUTH)


@pytest.fixture
def api(db, client) -> DataApi:
    return DataApi(client)


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(START, tick=False)
    return time_machine


@pytest.fixture
def fetched(bakery, clock):
    """The bakery's books and bank, linked and read through once."""
    sync_settings(bakery, *ACCOUNTING, *BANKING)
    books = connect(bakery, "mqjo", linked=True)
    bank = connect(bakery, "qhnd", linked=True)
    clock.shift(LATER)
    return books, bank


def monthly(api, company, statement: str, periods: int = 12, length: int = 1):
    response = api.get(
        f"/companies/{company.id}/data/financials/{statement}"
        f"?periodLength={length}&periodsToCompare={periods}"
    )
    assert response.status_code == 200, response.content
    # Decimal, as a careful client reads money, so that totals compare exactly.
    return json.loads(response.content, parse_float=Decimal)


def every_page(api, path: str) -> list[dict]:
    results, page = [], 1
    while True:
        body = json.loads(api.get(f"{path}?page={page}&pageSize=100").content, parse_float=Decimal)
        results += body["results"]
        if page * body["pageSize"] >= body["totalResults"]:
            return results
        page += 1


# --- only what was fetched ------------------------------------------------------------------


def test_a_type_never_fetched_has_no_data(api, bakery, clock):
    sync_settings(bakery, "invoices")
    connect(bakery, "mqjo", linked=True)
    clock.shift(LATER)

    response = api.get(
        f"/companies/{bakery.id}/data/financials/profitAndLoss?periodLength=1&periodsToCompare=3"
    )

    assert response.status_code == 404
    assert "No data available for profitAndLoss" in response.json()["error"]


def test_a_type_still_being_fetched_is_not_ready(api, bakery, clock):
    sync_settings(bakery, "profitAndLoss")
    connect(bakery, "mqjo", linked=True)

    response = api.get(
        f"/companies/{bakery.id}/data/financials/profitAndLoss?periodLength=1&periodsToCompare=3"
    )

    assert response.status_code == 409


def test_bank_data_is_per_connection(api, bakery, fetched):
    books, bank = fetched

    path = f"/companies/{bakery.id}/connections/{bank.id}/data/banking-accounts"
    assert api.get(path).status_code == 200
    # The books' connection fetched no bank data.
    response = api.get(f"/companies/{bakery.id}/connections/{books.id}/data/banking-accounts")
    assert response.status_code == 404


def test_the_periods_asked_for_are_checked(api, bakery, fetched):
    path = f"/companies/{bakery.id}/data/financials/profitAndLoss"
    assert api.get(f"{path}?periodsToCompare=3").status_code == 400
    assert api.get(f"{path}?periodLength=13&periodsToCompare=1").status_code == 400
    assert api.get(f"{path}?periodLength=1&periodsToCompare=0").status_code == 400


# --- a business whose figures agree ---------------------------------------------------------


def test_the_same_company_shows_the_same_figures_and_another_company_others(bakery):
    first = books_for(bakery.id, today=date(2026, 5, 6))
    again = books_for(bakery.id, today=date(2026, 5, 6))
    other = books_for(bakery.id.__class__(int=bakery.id.int + 1), today=date(2026, 5, 6))

    assert first == again
    assert first.months[-1].sales != other.months[-1].sales


def test_24_months_of_profit_and_loss_with_a_seasonal_swing(api, bakery, fetched):
    report = monthly(api, bakery, "profitAndLoss", periods=12)
    older = api.get(
        f"/companies/{bakery.id}/data/financials/profitAndLoss"
        "?periodLength=1&periodsToCompare=12&startMonth=2025-04-01"
    ).json()

    assert len(report["reports"]) == 12
    assert len(older["reports"]) == 12
    assert report["earliestAvailableMonth"].startswith("2024-05-01")
    assert report["mostRecentAvailableMonth"].startswith("2026-04-01")
    # Newest first, each a calendar month, the last one before today.
    assert report["reports"][0]["fromDate"].startswith("2026-04-01")
    assert report["reports"][0]["toDate"].startswith("2026-04-30")
    assert older["reports"][-1]["fromDate"].startswith("2024-05-01")
    sales = [Decimal(str(period["income"]["value"])) for period in report["reports"]]
    assert max(sales) > min(sales) * Decimal("1.15")  # the seasons show
    for period in report["reports"]:
        income = Decimal(str(period["income"]["value"]))
        costs = Decimal(str(period["costOfSales"]["value"]))
        expenses = Decimal(str(period["expenses"]["value"]))
        other = Decimal(str(period["netOtherIncome"]))
        assert Decimal(str(period["grossProfit"])) == income - costs
        assert Decimal(str(period["netProfit"])) == income - costs - expenses + other


def test_the_balance_sheet_balances_and_moves_by_the_profit(api, bakery, fetched):
    sheets = monthly(api, bakery, "balanceSheet", periods=12)["reports"]
    profits = monthly(api, bakery, "profitAndLoss", periods=12)["reports"]

    for sheet in sheets:
        assets, liabilities = sheet["assets"]["value"], sheet["liabilities"]["value"]
        assert sheet["netAssets"] == assets - liabilities == sheet["equity"]["value"]
    for newer, older, profit in zip(sheets, sheets[1:], profits, strict=False):
        assert newer["equity"]["value"] - older["equity"]["value"] == profit["netProfit"]


def test_the_cash_flow_takes_the_balance_sheets_cash_from_month_to_month(api, bakery, fetched):
    sheets = monthly(api, bakery, "balanceSheet", periods=12)["reports"]
    flows = monthly(api, bakery, "cashFlowStatement", periods=12)["reports"]

    def cash(sheet):
        return sheet["assets"]["items"][0]["items"][0]["value"]

    for newer, older, flow in zip(sheets, sheets[1:], flows, strict=False):
        moved = flow["cashReceipts"]["value"] - flow["cashPayments"]["value"]
        assert cash(newer) - cash(older) == moved


def test_a_quarter_adds_up_its_months(api, bakery, fetched):
    months = monthly(api, bakery, "profitAndLoss", periods=3)["reports"]
    quarter = monthly(api, bakery, "profitAndLoss", periods=1, length=3)["reports"][0]

    assert quarter["netProfit"] == sum(month["netProfit"] for month in months)
    assert quarter["fromDate"] == months[-1]["fromDate"]


def test_the_bank_agrees_with_the_cash_flow_and_the_balance_sheet(api, bakery, fetched):
    _, bank = fetched
    base = f"/companies/{bakery.id}/connections/{bank.id}/data"
    [account] = every_page(api, f"{base}/banking-accounts")
    transactions = every_page(api, f"{base}/banking-transactions")
    balances = every_page(api, f"{base}/banking-accountBalances")
    sheets = monthly(api, bakery, "balanceSheet", periods=12)["reports"]
    flows = monthly(api, bakery, "cashFlowStatement", periods=12)["reports"]

    newest_cash = sheets[0]["assets"]["items"][0]["items"][0]["value"]
    assert account["balance"]["current"] == newest_cash
    assert balances[-1]["balance"]["current"] == newest_cash
    april = [t["amount"] for t in transactions if t["postedDate"].startswith("2026-04")]
    assert sum(a for a in april if a > 0) == flows[0]["cashReceipts"]["value"]
    assert -sum(a for a in april if a < 0) == flows[0]["cashPayments"]["value"]
    month_end = next(b for b in balances if b["date"].startswith("2026-03-31"))
    assert month_end["balance"]["current"] == sheets[1]["assets"]["items"][0]["items"][0]["value"]
    assert {t["accountId"] for t in transactions} == {account["id"]}


# --- Codat's own SDK reads every answer --------------------------------------------------------

codat_lending = pytest.importorskip("codat_lending")
shared = pytest.importorskip("codat_lending.models.shared")

SERVER = "http://testserver/sandbox/codat"


@pytest.fixture
def sdk(db):
    with httpx.Client(transport=httpx.WSGITransport(app=wsgi_app), base_url=SERVER) as http:
        yield codat_lending.CodatLending(
            security=shared.Security(auth_header=AUTH), server_url=SERVER, client=http
        )


def test_codat_lendings_models_accept_every_read(sdk, bakery, fetched):
    _, bank = fetched
    company = str(bakery.id)
    periods = {"company_id": company, "period_length": 1, "periods_to_compare": 12}
    statements = sdk.financial_statements

    info = sdk.company_info.get_accounting_profile(request={"company_id": company})
    profit = statements.profit_and_loss.get(request=periods)
    sheet = statements.balance_sheet.get(request=periods)
    flow = statements.cash_flow.get(request=periods)
    listing = {"company_id": company, "connection_id": str(bank.id), "page_size": 100}
    accounts = sdk.banking.accounts.list(request=listing)
    balances = sdk.banking.account_balances.list(request=listing)
    transactions = sdk.banking.transactions.list(request=listing)

    assert info.company_name == "Bramble Bakery"
    assert len(profit.reports) == len(sheet.reports) == len(flow.reports) == 12
    assert sheet.reports[0].net_assets == sheet.reports[0].equity.value
    assert profit.reports[0].net_profit == (
        profit.reports[0].gross_profit
        - profit.reports[0].expenses.value
        + profit.reports[0].net_other_income
    )
    assert accounts.results[0].balance.current == balances.results[-1].balance.current or (
        balances.total_results > 100
    )
    assert transactions.total_results > 100
    assert all(t.account_id == accounts.results[0].id for t in transactions.results)
