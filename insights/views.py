"""The Business insights dashboard (customers) and the Lending review (staff)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from companies.models import Company
from companies.page_cache import Built, Fragment, Part, fragment_html, render_fragment
from companies.scoping import scopes_disabled
from companies.selectors import current_company, signed_in_user
from consents import pages, selectors
from consents.data_types import describe
from consents.models import ConsentEvent, Product
from insights import charts, reads


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """What the dashboard showed is kept for the company and the month (consents.pages):
    the figures change only with what they are built from, the consent, the connections
    and a new pull (read.completed), each of which makes it be built again. A view served
    from it costs no Codat call and no figure work, and is logged as the customer's use all
    the same, as a read of our copy (P3)."""
    company = current_company(request)
    part = Part("dashboard", (f"{timezone.localdate():%Y-%m}",))
    built_now = False

    def build() -> Built[Fragment]:
        nonlocal built_now
        built_now = True
        return _dashboard_built(request, company)

    body = pages.parts(request, company, part).get(part, build)
    if built_now or not body.meta["read"]:
        return render(request, "insights/dashboard.html", {"body": fragment_html(request, body)})
    # The use is logged while the page is rendered, and the page answered once it is.
    logged = reads.dashboard_shown_again(
        company=company,
        product_id=body.meta["product_id"],
        user=signed_in_user(request),
        data_types=body.meta["read"],
    )
    context = {"body": fragment_html(request, body)}
    try:
        response = render(request, "insights/dashboard.html", context)
    finally:
        logged.wait()
    return response


def _dashboard_built(request: HttpRequest, company: Company) -> Built[Fragment]:
    product = get_object_or_404(Product.objects.active(), slug=reads.INSIGHTS)
    facts = selectors.request_access_facts(request, company)
    status = selectors.product_status(company, product, facts)
    until = pages.clocks_end([status.consent])
    context: dict = {"product": product, "status": status}
    if status.state == status.WITHDRAWN:
        context["withdrawal"] = (
            ConsentEvent.objects.filter(
                company=company,
                product=product,
                action__in=[ConsentEvent.Action.WITHDRAW, ConsentEvent.Action.STAFF],
            )
            .order_by("-occurred_at")
            .first()
        )
    if status.state != status.LIVE:
        # Nothing is read without a live consent and the connections it needs.
        return Built(_dashboard_fragment(context, product, ()), until=until)
    board = reads.dashboard_read(company=company, product=product, user=signed_in_user(request))
    context.update(
        board=board,
        reading=reads.describe_reading(board.reading),
        charts=_charts(board),
        sources={
            "profit": describe(["profitAndLoss"]),
            "position": describe(["balanceSheet"]),
            "cash_flow": describe(["cashFlowStatement"]),
            "cash": describe(
                ["banking-accounts"] if board.cash_source == "bank" else ["balanceSheet"]
            ),
            "bank": describe(["banking-accountBalances"]),
        },
    )
    return Built(
        _dashboard_fragment(context, product, tuple(board.reading.read)),
        until=until,
        # Kept only once everything covered was read: what is still syncing, or what Codat
        # could not give, is asked for again on the next view.
        keep=not board.reading.not_ready and not board.reading.failed,
    )


def _dashboard_fragment(context: dict, product: Product, read: tuple[str, ...]) -> Fragment:
    return render_fragment("insights/_dashboard.html", context, product_id=product.pk, read=read)


def _charts(board: reads.Dashboard) -> dict[str, charts.Chart]:
    found: dict[str, charts.Chart] = {}
    if board.months:
        months = [m.month for m in board.months]
        best = max(board.months, key=lambda m: m.revenue)
        found["revenue"] = charts.bar_chart(
            id="chart-revenue",
            title="Revenue and costs by month",
            summary=(
                f"{len(months)} months from {months[0]:%B %Y} to {months[-1]:%B %Y}. "
                f"Revenue was highest in {best.month:%B %Y}."
            ),
            months=months,
            series=[
                charts.Series("Revenue", "revenue", [m.revenue for m in board.months]),
                charts.Series("Costs", "costs", [m.costs for m in board.months]),
            ],
        )
        losses = sum(1 for m in board.months if m.profit < 0)
        found["profit"] = charts.bar_chart(
            id="chart-profit",
            title="Profit by month",
            summary=(
                f"A loss in {losses} of {len(months)} months."
                if losses
                else "A profit every month."
            ),
            months=months,
            series=[charts.Series("Profit", "profit", [m.profit for m in board.months])],
        )
    if board.cash_months:
        months = [m.month for m in board.cash_months]
        found["cash_flow"] = charts.bar_chart(
            id="chart-cash-flow",
            title="Money in and out by month",
            summary=f"Cash received and paid out in each month to {months[-1]:%B %Y}.",
            months=months,
            series=[
                charts.Series("Money in", "money-in", [m.money_in for m in board.cash_months]),
                charts.Series("Money out", "money-out", [m.money_out for m in board.cash_months]),
            ],
        )
    if board.bank_balances:
        last_month, last_value = board.bank_balances[-1]
        found["bank"] = charts.line_chart(
            id="chart-bank",
            title="Bank balances over time",
            summary=(
                f"All accounts together at each month end; "
                f"{charts.money_short(float(last_value))} at the end of {last_month:%B %Y}."
            ),
            points=board.bank_balances,
            name="Bank balance",
        )
    return found


def _lending_review(request: HttpRequest, company_id) -> HttpResponse:
    # Staff work across companies, so the tenant scope is lifted here, as in the rest of the
    # admin; the consent gate still reads only this company's Lending consent.
    with scopes_disabled():
        company = get_object_or_404(Company, pk=company_id)
        review = reads.lending_review(company=company, staff=request.user)  # type: ignore[arg-type]
        uses = list(selectors.data_uses(company, review.product, limit=10))
        context = {
            **admin.site.each_context(request),
            "title": f"Lending review: {company.name}",
            "company": company,
            "review": review,
            "reading": reads.describe_reading(review.reading),
            "uses": uses,
            "data_types": describe(review.product.data_types),
        }
        return render(request, "insights/lending_review.html", context)


# Staff only, as every admin page: admin_view sends anyone else to the admin's login.
lending_review = require_GET(admin.site.admin_view(_lending_review))
