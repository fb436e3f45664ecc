"""The sandbox's data reads: company info, the financial statements and bank data.

Codat hands over only what it has fetched: a type whose fetch never finished well has no data,
and Codat answers 404 (never fetched) or 409 (a fetch still running) instead (docs/codat.md
§11). So does the sandbox, from its pull history. What it hands over is `books.books_for` the
company, as of the month its newest good fetch finished in.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from . import books as ledger
from .api import _company_now, _connection, endpoint
from .errors import CodatApiError
from .models import SandboxCompany, SandboxConnection, SandboxDataset
from .querying import paged_body, parse_paging

# Codat's limits on the statements' periods: each up to a year, up to 12 of them at once.
MAX_PERIOD_LENGTH = 12
MAX_PERIODS = 12


def _fetched_at(
    company: SandboxCompany, data_type: str, connection: SandboxConnection | None = None
) -> datetime:
    """When the newest good fetch of `data_type` finished, or Codat's error if none has."""
    now = timezone.now()
    datasets = SandboxDataset.objects.filter(company=company, data_type=data_type)
    if connection is not None:
        datasets = datasets.filter(connection=connection)
    done = (
        datasets.filter(outcome=SandboxDataset.Outcome.COMPLETE, finished_at__lte=now)
        .order_by("-finished_at")
        .first()
    )
    if done is not None:
        return done.finished_at
    if datasets.filter(finished_at__gt=now).exists():
        raise CodatApiError(409, f"The {data_type} data for company {company.id} is not ready.")
    raise CodatApiError(404, f"No data available for {data_type} for ID {company.id}")


def _books(company: SandboxCompany, fetched: datetime) -> ledger.Books:
    return ledger.books_for(company.id, today=timezone.localdate(fetched))


def _money(pennies: int) -> Decimal:
    return Decimal(pennies) / 100


def _line(name: str, pennies: int, items: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    line: dict[str, Any] = {"name": name, "value": _money(pennies)}
    if items is not None:
        line["items"] = items
        line["value"] = sum((item["value"] for item in items), Decimal(0))
    return line


def _iso_day(day: date) -> str:
    return f"{day.isoformat()}T00:00:00"


def _json(body: Any) -> JsonResponse:
    # DjangoJSONEncoder writes Decimal as a string; Codat sends numbers.
    return JsonResponse(body, safe=False, json_dumps_params={"default": float})


# --- the statements ------------------------------------------------------------------------


def _periods(request: HttpRequest, books: ledger.Books) -> list[list[ledger.Month]]:
    """The months of each period asked for, newest period first, as Codat orders them.

    `startMonth` names the newest period's first month (default: the newest month on the
    books); periods before the books begin are left out."""
    length = _bounded(request, "periodLength", MAX_PERIOD_LENGTH)
    count = _bounded(request, "periodsToCompare", MAX_PERIODS)
    months = list(books.months)
    newest = len(months) - 1
    raw_start = request.GET.get("startMonth", "")
    if raw_start:
        try:
            start = datetime.fromisoformat(raw_start).date().replace(day=1)
        except ValueError:
            raise CodatApiError(
                400, "Error processing request - startMonth is not a date."
            ) from None
        found = [i for i, month in enumerate(months) if month.start == start]
        if not found:
            raise CodatApiError(
                404, f"No data available for the period starting {start.isoformat()}"
            )
        newest = found[0] + length - 1
    periods = []
    for index in range(count):
        last = newest - index * length
        first = last - length + 1
        if first < 0 or last >= len(months):
            break
        periods.append(months[first : last + 1])
    return periods


def _bounded(request: HttpRequest, name: str, maximum: int) -> int:
    raw = request.GET.get(name, "")
    if not raw:
        raise CodatApiError(400, f"Error processing request - {name} is required.")
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= maximum:
        raise CodatApiError(
            400, f"Error processing request - {name} must be between 1 and {maximum}."
        )
    return value


def _available(report: dict[str, Any], books: ledger.Books) -> dict[str, Any]:
    report["currency"] = "GBP"
    report["earliestAvailableMonth"] = _iso_day(books.months[0].start)
    report["mostRecentAvailableMonth"] = _iso_day(books.months[-1].start)
    return report


def get_profit_and_loss(request: HttpRequest, company_id: str) -> HttpResponse:
    company = _company_now(company_id)
    books = _books(company, _fetched_at(company, "profitAndLoss"))
    reports = []
    for months in _periods(request, books):

        def total(field: str, months: list[ledger.Month] = months) -> int:
            return sum(getattr(month, field) for month in months)

        income = _line("Income", 0, [_line("Sales", total("sales"))])
        costs = _line("Cost of Sales", 0, [_line("Purchases", total("cost_of_sales"))])
        expenses = _line(
            "Expenses",
            0,
            [
                _line("Wages and Salaries", total("wages")),
                _line("Rent", total("rent")),
                _line("Advertising and Marketing", total("marketing")),
                _line("General Expenses", total("general")),
            ],
        )
        other_expenses = _line("Other Expenses", 0, [_line("Interest Paid", total("interest"))])
        reports.append(
            {
                "fromDate": _iso_day(months[0].start),
                "toDate": _iso_day(months[-1].end),
                "income": income,
                "costOfSales": costs,
                "grossProfit": _money(total("gross_profit")),
                "expenses": expenses,
                "netOperatingProfit": _money(total("operating_profit")),
                "otherIncome": _line("Other Income", 0, []),
                "otherExpenses": other_expenses,
                "netOtherIncome": -_money(total("interest")),
                "netProfit": _money(total("net_profit")),
            }
        )
    return _json(_available({"reports": reports, "reportBasis": "Accrual"}, books))


def get_balance_sheet(request: HttpRequest, company_id: str) -> HttpResponse:
    company = _company_now(company_id)
    books = _books(company, _fetched_at(company, "balanceSheet"))
    reports = []
    for months in _periods(request, books):
        month = months[-1]
        assets = _line(
            "Assets",
            0,
            [
                _line(
                    "Current Assets",
                    0,
                    [
                        _line("Cash at Bank", month.cash),
                        _line("Accounts Receivable", month.receivables),
                    ],
                ),
                _line("Fixed Assets", 0, [_line("Office Equipment", books.equipment)]),
            ],
        )
        liabilities = _line(
            "Liabilities",
            0,
            [
                _line("Current Liabilities", 0, [_line("Accounts Payable", month.payables)]),
                _line("Non-current Liabilities", 0, [_line("Bank Loan", books.loan)]),
            ],
        )
        equity = _line(
            "Equity",
            0,
            [
                _line("Share Capital", books.share_capital),
                _line("Retained Earnings", month.retained_earnings),
            ],
        )
        reports.append(
            {
                "date": _iso_day(month.end),
                "assets": assets,
                "liabilities": liabilities,
                "equity": equity,
                "netAssets": assets["value"] - liabilities["value"],
            }
        )
    return _json(_available({"reports": reports}, books))


def get_cash_flow_statement(request: HttpRequest, company_id: str) -> HttpResponse:
    company = _company_now(company_id)
    books = _books(company, _fetched_at(company, "cashFlowStatement"))
    reports = []
    for months in _periods(request, books):

        def total(field: str, months: list[ledger.Month] = months) -> int:
            return sum(getattr(month, field) for month in months)

        reports.append(
            {
                "fromDate": _iso_day(months[0].start),
                "toDate": _iso_day(months[-1].end),
                "cashReceipts": _line(
                    "Cash Receipts", 0, [_line("Receipts from Customers", total("receipts"))]
                ),
                "cashPayments": _line(
                    "Cash Payments",
                    0,
                    [
                        _line("Payments to Suppliers", total("supplier_payments")),
                        _line("Wages and Salaries", total("wages")),
                        _line("Rent", total("rent")),
                        _line("Interest Paid", total("interest")),
                    ],
                ),
            }
        )
    body = {"reports": reports, "reportBasis": "Accrual", "reportInput": "Direct"}
    return _json(_available(body, books))


def get_company_info(request: HttpRequest, company_id: str) -> HttpResponse:
    company = _company_now(company_id)
    fetched = _fetched_at(company, "company")
    books = _books(company, fetched)
    return _json(
        {
            "companyName": company.name,
            "companyLegalName": f"{company.name} Ltd",
            "registrationNumber": f"{company.id.int % 10**8:08d}",
            "baseCurrency": "GBP",
            "financialYearStartDate": _iso_day(date(books.months[-1].start.year, 4, 1)),
            "createdDate": _iso_day(books.months[0].start),
            "addresses": [],
            "phoneNumbers": [],
            "webLinks": [],
            "sourceUrls": {},
        }
    )


# --- bank data, per connection -------------------------------------------------------------


def _bank(company_id: str, connection_id: str, data_type: str):
    connection = _connection(company_id, connection_id)
    company = _company_now(company_id)
    books = _books(company, _fetched_at(company, data_type, connection))
    return connection, books


def _paged(
    request: HttpRequest,
    connection: SandboxConnection,
    data_type: str,
    records: list[dict[str, Any]],
) -> HttpResponse:
    paging = parse_paging(request)
    path = f"/companies/{connection.company_id}/connections/{connection.id}/data/{data_type}"
    return _json(paged_body(request, self_href=path, results=records, paging=paging))


def _amounts(pennies: int) -> dict[str, Any]:
    return {"available": _money(pennies), "current": _money(pennies), "limit": None}


def list_bank_accounts(request: HttpRequest, company_id: str, connection_id: str) -> HttpResponse:
    connection, books = _bank(company_id, connection_id, "banking-accounts")
    account = {
        "id": ledger.bank_account_id(books.company_id, connection.id),
        "name": "Business Current Account",
        "informalName": "Current",
        "holder": connection.company.name,
        "type": "Debit",
        "balance": _amounts(books.months[-1].cash),
        "identifiers": {
            "type": "Account",
            "number": f"{connection.id.int % 10**8:08d}",
            "bankCode": "401234",
        },
        "currency": "GBP",
        "institution": {"id": "sandbox-bank", "name": "Sandbox Bank"},
    }
    return _paged(request, connection, "banking-accounts", [account])


def list_bank_balances(request: HttpRequest, company_id: str, connection_id: str) -> HttpResponse:
    connection, books = _bank(company_id, connection_id, "banking-accountBalances")
    account_id = ledger.bank_account_id(books.company_id, connection.id)
    lines = ledger.bank_lines(books, connection.id)
    records = [
        {"accountId": account_id, "balance": _amounts(balance), "date": _iso_day(day)}
        for day, balance in ledger.daily_balances(books, lines)
    ]
    return _paged(request, connection, "banking-accountBalances", records)


def list_bank_transactions(
    request: HttpRequest, company_id: str, connection_id: str
) -> HttpResponse:
    connection, books = _bank(company_id, connection_id, "banking-transactions")
    account_id = ledger.bank_account_id(books.company_id, connection.id)
    records = [
        {
            "id": line.id,
            "accountId": account_id,
            "description": line.description,
            "amount": _money(line.amount),
            "currency": "GBP",
            "postedDate": _iso_day(line.posted),
            "authorizedDate": _iso_day(line.posted),
            "code": "Credit" if line.amount > 0 else "Payment",
        }
        for line in ledger.bank_lines(books, connection.id)
    ]
    return _paged(request, connection, "banking-transactions", records)


def _get(handler: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    return endpoint({"GET": handler})


company_info = _get(get_company_info)
profit_and_loss = _get(get_profit_and_loss)
balance_sheet = _get(get_balance_sheet)
cash_flow_statement = _get(get_cash_flow_statement)
bank_accounts = _get(list_bank_accounts)
bank_balances = _get(list_bank_balances)
bank_transactions = _get(list_bank_transactions)

__all__ = [
    "balance_sheet",
    "bank_accounts",
    "bank_balances",
    "bank_transactions",
    "cash_flow_statement",
    "company_info",
    "profit_and_loss",
]
