"""Reading customer data (docs/codat.md §11), client side: each read names its product, the
gate answers for that product alone, and the observer hears of every read, refused or not."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx
import pytest

from codat.client import DataRead
from codat.errors import CodatNotFound, CodatUnavailable, DataTypeNotConsented
from tests.codat import BASE_URL, COMPANY_ID, CONNECTION_ID, make_client, page_of

pytestmark = pytest.mark.respx(base_url=BASE_URL, assert_all_called=False)

PNL = {
    "reports": [
        {
            "fromDate": "2026-04-01T00:00:00",
            "toDate": "2026-04-30T00:00:00",
            "income": {
                "name": "Income",
                "value": 1000.1,
                "items": [{"name": "Sales", "value": 1000.1}],
            },
            "costOfSales": {"name": "Cost of Sales", "value": 400},
            "grossProfit": 600.1,
            "expenses": {"name": "Expenses", "value": 500},
            "netOperatingProfit": 100.1,
            "netOtherIncome": -0.1,
            "netProfit": 100,
        }
    ],
    "reportBasis": "Accrual",
    "currency": "GBP",
    "mostRecentAvailableMonth": "2026-04-01T00:00:00",
}


def gate(**products: list[str]):
    """A read gate: each product's own consented types, for every company."""
    return lambda company_id, product: frozenset(products.get(product, ()))


def test_a_read_for_one_product_cannot_use_another_products_consent(respx_mock):
    route = respx_mock.get(f"/companies/{COMPANY_ID}/data/financials/profitAndLoss")
    heard: list[DataRead] = []
    client = make_client(
        read_gate=gate(lending=["profitAndLoss"], insights=["balanceSheet"]),
        read_observer=heard.append,
    )

    with pytest.raises(DataTypeNotConsented):
        client.get_profit_and_loss(
            COMPANY_ID, product="insights", period_length=1, periods_to_compare=12
        )

    assert not route.called
    assert heard == [DataRead(COMPANY_ID, "insights", "profitAndLoss", DataRead.REFUSED)]


def test_without_a_read_gate_every_read_is_refused(respx_mock):
    route = respx_mock.get(f"/companies/{COMPANY_ID}/data/info")

    with pytest.raises(DataTypeNotConsented):
        make_client().get_company_info(COMPANY_ID, product="insights")

    assert not route.called


def test_the_older_data_type_gate_does_not_open_reads(respx_mock):
    # Sync settings are allowed by any consent; reads need the product's own.
    route = respx_mock.get(f"/companies/{COMPANY_ID}/data/info")
    client = make_client(data_type_gate=lambda company_id: frozenset({"company"}))

    with pytest.raises(DataTypeNotConsented):
        client.get_company_info(COMPANY_ID, product="insights")

    assert not route.called


def test_a_statement_is_read_with_its_periods_and_parsed_to_the_penny(respx_mock):
    route = respx_mock.get(f"/companies/{COMPANY_ID}/data/financials/profitAndLoss").respond(
        200, json=PNL
    )
    heard: list[DataRead] = []
    client = make_client(read_gate=gate(insights=["profitAndLoss"]), read_observer=heard.append)

    report = client.get_profit_and_loss(
        COMPANY_ID,
        product="insights",
        period_length=1,
        periods_to_compare=12,
        start_month=date(2026, 4, 17),
    )

    params = route.calls.last.request.url.params
    assert dict(params) == {
        "periodLength": "1",
        "periodsToCompare": "12",
        "startMonth": "2026-04-01",
    }
    [april] = report.periods
    assert april.income is not None and april.income.value == Decimal("1000.1")
    assert april.income.find("sales") is not None
    assert april.net_profit == Decimal(100)
    assert april.from_date == date(2026, 4, 1)
    assert report.currency == "GBP"
    assert report.most_recent_available_month == date(2026, 4, 1)
    assert heard == [DataRead(COMPANY_ID, "insights", "profitAndLoss", DataRead.READ)]


def test_a_read_codat_has_no_data_for_is_heard_as_failed(respx_mock):
    respx_mock.get(f"/companies/{COMPANY_ID}/data/financials/balanceSheet").respond(
        404, json={"statusCode": 404, "error": "No data available for balanceSheet"}
    )
    heard: list[DataRead] = []
    client = make_client(read_gate=gate(lending=["balanceSheet"]), read_observer=heard.append)

    with pytest.raises(CodatNotFound):
        client.get_balance_sheet(
            COMPANY_ID, product="lending", period_length=1, periods_to_compare=1
        )

    assert heard == [
        DataRead(COMPANY_ID, "lending", "balanceSheet", DataRead.FAILED, "CodatNotFound")
    ]


def test_an_amount_that_is_not_a_number_is_a_bad_answer(respx_mock):
    broken = {**PNL, "reports": [{**PNL["reports"][0], "netProfit": "lots"}]}
    respx_mock.get(f"/companies/{COMPANY_ID}/data/financials/profitAndLoss").respond(
        200, json=broken
    )
    client = make_client(read_gate=gate(insights=["profitAndLoss"]))

    with pytest.raises(CodatUnavailable):
        client.get_profit_and_loss(
            COMPANY_ID, product="insights", period_length=1, periods_to_compare=1
        )


def test_bank_transactions_are_read_per_connection_every_page(respx_mock):
    path = f"/companies/{COMPANY_ID}/connections/{CONNECTION_ID}/data/banking-transactions"
    first = [
        {"id": f"t{i}", "accountId": "a1", "amount": -1.5, "currency": "GBP"} for i in range(100)
    ]
    respx_mock.get(path, params={"page": "1"}).respond(200, json=page_of(first, page=1, total=101))
    respx_mock.get(path, params={"page": "2"}).respond(
        200,
        json=page_of(
            [
                {
                    "id": "t100",
                    "accountId": "a1",
                    "amount": 20,
                    "currency": "GBP",
                    "postedDate": "2026-04-03T00:00:00",
                }
            ],
            page=2,
            total=101,
        ),
    )
    heard: list[DataRead] = []
    client = make_client(
        read_gate=gate(lending=["banking-transactions"]), read_observer=heard.append
    )

    transactions = client.list_bank_transactions(COMPANY_ID, CONNECTION_ID, product="lending")

    assert len(transactions) == 101
    assert sum(t.amount for t in transactions) == Decimal("-130.0")
    assert transactions[-1].posted is not None
    assert [read.outcome for read in heard] == [DataRead.READ, DataRead.READ]


def test_bank_accounts_and_balances_parse(respx_mock):
    base = f"/companies/{COMPANY_ID}/connections/{CONNECTION_ID}/data"
    respx_mock.get(f"{base}/banking-accounts").respond(
        200,
        json=page_of(
            [
                {
                    "id": "a1",
                    "name": "Current",
                    "type": "Debit",
                    "currency": "GBP",
                    "balance": {"current": 12.34, "available": None},
                    "institution": {"name": "Sandbox Bank"},
                }
            ]
        ),
    )
    respx_mock.get(f"{base}/banking-accountBalances").respond(
        200,
        json=page_of(
            [{"accountId": "a1", "date": "2026-04-30T00:00:00", "balance": {"current": 12.34}}]
        ),
    )
    client = make_client(read_gate=gate(insights=["banking-accounts", "banking-accountBalances"]))

    [account] = client.list_bank_accounts(COMPANY_ID, CONNECTION_ID, product="insights")
    [balance] = client.list_bank_balances(COMPANY_ID, CONNECTION_ID, product="insights")

    assert account.current_balance == Decimal("12.34")
    assert account.available_balance is None
    assert account.institution == "Sandbox Bank"
    assert balance.date == date(2026, 4, 30)
    assert balance.current == Decimal("12.34")


def test_company_info_parses(respx_mock):
    respx_mock.get(f"/companies/{COMPANY_ID}/data/info").respond(
        200, json={"companyName": "Bramble", "baseCurrency": "GBP", "registrationNumber": "123"}
    )
    client = make_client(read_gate=gate(insights=["company"]))

    info = client.get_company_info(COMPANY_ID, product="insights")

    assert (info.company_name, info.base_currency, info.registration_number) == (
        "Bramble",
        "GBP",
        "123",
    )


def test_ids_cannot_change_the_path(respx_mock):
    route = respx_mock.get(url__regex=r".*").respond(200, json={"companyName": "x"})
    client = make_client(read_gate=gate(insights=["company"]))

    client.get_company_info("../profile", product="insights")

    assert isinstance(route.calls.last.request, httpx.Request)
    assert route.calls.last.request.url.raw_path.startswith(b"/companies/..%2Fprofile/data/info")
