from __future__ import annotations

import logging
import re
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.cache import never_cache
from django.views.decorators.http import (
    require_GET,
    require_http_methods,
    require_POST,
    require_safe,
)
from django_ratelimit.decorators import ratelimit

from codat.errors import CodatError, CodatRateLimited, CodatUnavailable
from companies.models import Company
from companies.page_cache import Built, Fragment, Part, fragment_html, render_fragment
from companies.selectors import current_company, signed_in_user
from connections import selectors, services
from connections.forms import LinkReturnForm, PickerFilterForm
from connections.logos import LOGO_VERSION_LENGTH, logo_url
from connections.models import Connection, Integration, LinkAttempt, PlatformLogo
from consents import pages as consent_pages
from consents import services as consent_services
from consents.models import Product
from consents.notifications import access_notices_send
from consents.selectors import (
    connection_use,
    data_types_for_product,
    data_types_read_from,
    disconnect_impact,
    request_access_facts,
    source_types_still_needed,
)

logger = logging.getLogger("connections")
security_log = logging.getLogger("consent_portal.security")

PLATFORM_KEY = re.compile(r"^[a-z]{4}$")


# Served with each SVG logo: should someone open its URL directly, nothing in it may run or
# load (as an <img> it could not anyway).
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
ONE_YEAR = 365 * 24 * 3600


@require_safe
def platform_logo(request: HttpRequest, platform_key: str, digest: str) -> HttpResponse:
    """A stored platform logo (connections/logos.py). Brand artwork, no customer's data, so
    no sign-in; its URL carries the image's digest, so it may be cached for ever."""
    logo = get_object_or_404(PlatformLogo, platform_key=platform_key)
    if digest != logo.digest[:LOGO_VERSION_LENGTH]:
        # A page cached before the logo changed: send it to the current one.
        response: HttpResponse = redirect(logo_url(platform_key, logo.digest))
        response["Cache-Control"] = "no-cache"
        return response
    response = HttpResponse(bytes(logo.content), content_type=logo.content_type)
    response["Cache-Control"] = f"public, max-age={ONE_YEAR}, immutable"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = "inline"
    if logo.content_type == "image/svg+xml":
        response["Content-Security-Policy"] = SVG_POLICY
    return response


def _codat_failure(request: HttpRequest, exc: CodatError, *, action: str) -> HttpResponse:
    """One page for every Codat failure a customer can meet; the log keeps the details."""
    logger.warning(
        "Codat failed while %s: %s (correlationId=%s)",
        action,
        type(exc).__name__,
        exc.correlation_id,
    )
    unavailable = isinstance(exc, CodatUnavailable | CodatRateLimited)
    return render(
        request,
        "connections/codat_error.html",
        {"unavailable": unavailable, "correlation_id": exc.correlation_id},
        status=503 if unavailable else 502,
    )


def _not_found(
    request: HttpRequest, company: Company, model: type[Connection | LinkAttempt], object_id
) -> Http404:
    """The 404 for an id the customer's company doesn't have, logged if another company has it
    (T4): a mistyped or stale id is not an attack, reaching for another tenant's row may be."""
    target_company_id = selectors.owning_company_id(model, object_id)
    if target_company_id is not None:
        security_log.warning(
            "Cross-tenant %s access: user=%s company=%s target=%s target_company=%s",
            model._meta.verbose_name,
            request.user.pk,
            company.id,
            object_id,
            target_company_id,
        )
    return Http404(f"No such {model._meta.verbose_name}")


def _connection_or_404(request: HttpRequest, connection_id) -> Connection:
    company = current_company(request)
    try:
        return selectors.connection_for_company(company, connection_id)
    except Connection.DoesNotExist:
        raise _not_found(request, company, Connection, connection_id) from None


CONNECTION_LIST = Part("connections")


@login_required
@require_GET
def connection_list(request: HttpRequest) -> HttpResponse:
    company = current_company(request)

    def build() -> Built[Fragment]:
        lists = selectors.connections_for_company(company)
        context = {
            "connections": lists.current,
            "history": lists.disconnected,
            "more_disconnected": lists.more_disconnected,
            "platform_logos": selectors.platform_logo_versions(),
        }
        return Built(render_fragment("connections/_list.html", context))

    body = consent_pages.parts(request, company, CONNECTION_LIST).get(CONNECTION_LIST, build)
    return render(request, "connections/list.html", {"body": fragment_html(request, body)})


@login_required
@require_GET
def picker(request: HttpRequest) -> HttpResponse:
    company = current_company(request)
    try:
        services.integrations_ensure_fresh()
    except CodatError as exc:
        return _codat_failure(request, exc, action="loading integrations")
    form = PickerFilterForm(request.GET)
    query, source_types, product = "", [], None
    if form.is_valid():
        query = form.cleaned_data["q"]
        source_types = [form.cleaned_data["type"]] if form.cleaned_data["type"] else []
        product = form.cleaned_data["product"]
    if product is not None and not source_types:
        # Connecting for a product: only the kinds of data it still needs.
        source_types = source_types_still_needed(company, product) or product.source_types
    return render(
        request,
        "connections/picker.html",
        {
            "form": form,
            "groups": selectors.picker_groups(company, query=query, source_types=source_types),
            "linked_accounting": selectors.linked_accounting_connection(company),
            "filtered": bool(query or source_types),
            "product": product,
        },
    )


# The product the customer is connecting for (the picker's ?product=), so that the page they
# come back to from Codat can lead them on to it. A hint for that page only, never a decision.
CONNECTING_FOR_SESSION_KEY = "connecting_for_product"


def _remember_product_connected_for(request: HttpRequest) -> None:
    slug = request.POST.get("product", "")
    if slug and Product.objects.active().filter(slug=slug).exists():
        request.session[CONNECTING_FOR_SESSION_KEY] = slug
    else:
        request.session.pop(CONNECTING_FOR_SESSION_KEY, None)


# Each click may create things at Codat and spends its quota (D5).
CONNECT_RATE = "20/h"


@login_required
@require_POST
@ratelimit(key="user", rate=CONNECT_RATE, method="POST", group="codat-link")
def connect(request: HttpRequest, platform_key: str) -> HttpResponse:
    company = current_company(request)
    if not PLATFORM_KEY.match(platform_key):
        raise Http404("Unknown platform")
    try:
        services.integrations_ensure_fresh()
    except CodatError as exc:
        return _codat_failure(request, exc, action="loading integrations")
    integration = get_object_or_404(Integration, key=platform_key, enabled=True)
    _remember_product_connected_for(request)
    try:
        start = consent_services.connection_start_consented(
            company=company, user=signed_in_user(request), integration=integration
        )
    except services.ConnectionNotAllowed as exc:
        messages.error(request, str(exc))
        return redirect("connections:picker")
    except CodatError as exc:
        return _codat_failure(request, exc, action=f"starting a {platform_key} connection")
    if start.redirect_url is None:
        messages.info(request, f"{start.connection.platform_name} is already connected.")
        return redirect("connections:detail", connection_id=start.connection.id)
    return redirect(start.redirect_url)


def _return_refused(request: HttpRequest, reason: str, *, status: int = 400) -> HttpResponse:
    security_log.warning(
        "Link return refused: %s user=%s ip=%s",
        reason,
        request.user.pk,
        request.META.get("REMOTE_ADDR"),
    )
    return render(request, "connections/return_refused.html", {"reason": reason}, status=status)


@never_cache
@require_GET
def link_return(request: HttpRequest) -> HttpResponse:
    """Where Codat's redirect template sends the customer back (R1–R5).

    With or without our `state` (Codat may drop it, docs/codat.md §4): without one, the return
    must name the signed-in user's own open Link attempt by its companyId and connectionId.
    Without a session we change nothing and ask the customer to log in; the attempt stays open
    until it expires, so the return completes afterwards.
    """
    if not request.user.is_authenticated:
        login_url = f"{reverse('login')}?{urlencode({'next': request.get_full_path()})}"
        security_log.info("Link return without a session; asked to log in")
        return render(
            request, "connections/return_login.html", {"login_url": login_url}, status=401
        )
    form = LinkReturnForm(request.GET)
    if not form.is_valid():
        return _return_refused(request, "malformed return: " + ",".join(sorted(form.errors)))
    data = form.cleaned_data
    connection_id = data["connectionId"]
    try:
        result = services.link_return_complete(
            user=request.user,
            state=data["state"] or None,  # none came back: matched by its ids instead
            company_id=str(data["companyId"]),
            connection_id=str(connection_id) if connection_id else None,
            status_code=data["statusCode"],
            error_message=data["errorMessage"],
            status_text=data["statusText"],
        )
    except services.LinkReturnRefused as exc:
        return _return_refused(request, exc.reason)
    # A bank connection authorised again is news worth an email ("connected again").
    access_notices_send(company=result.connection.company)
    # 303 to a URL without the query string, so the state is neither replayed on refresh
    # nor leaked onwards.
    if result.succeeded:
        target = reverse("connections:detail", kwargs={"connection_id": result.connection.id})
    else:
        target = reverse("connections:attempt", kwargs={"attempt_id": result.attempt.id})
    response = redirect(target)
    response.status_code = 303
    return response


@login_required
@require_GET
def attempt_outcome(request: HttpRequest, attempt_id) -> HttpResponse:
    company = current_company(request)
    try:
        attempt = LinkAttempt.objects.select_related("connection").get(
            pk=attempt_id, company=company
        )
    except LinkAttempt.DoesNotExist:
        raise _not_found(request, company, LinkAttempt, attempt_id) from None
    connection = attempt.connection
    alternatives = []
    if attempt.status_code == "501":
        alternatives = selectors.alternatives_for(connection.platform_key, connection.source_type)
    return render(
        request,
        "connections/attempt.html",
        {"attempt": attempt, "connection": connection, "alternatives": alternatives},
    )


@login_required
@require_GET
def connection_detail(request: HttpRequest, connection_id) -> HttpResponse:
    company = current_company(request)
    slug = request.session.get(CONNECTING_FOR_SESSION_KEY) or ""
    # Only ever built for a connection of this company (the lookup below 404s for any
    # other), so finding it kept under the company's key is proof enough that it is its own.
    part = Part("connection", (connection_id, slug))

    def build() -> Built[Fragment]:
        connection = _connection_or_404(request, connection_id)
        facts = request_access_facts(request, company)
        use = connection_use(connection, facts)
        progress = services.sync_progress_current(connection=connection, data_types=use.data_types)
        products = use.products
        live = connection.is_linked and not progress.done
        context = {
            "connection": connection,
            "products": products,
            "reads": [(status, data_types_for_product(status, connection)) for status in products],
            "next_for": next((s for s in products if s.product.slug == slug), None),
            "progress": progress,
            "platform_logos": selectors.platform_logo_versions(),
        }
        title = connection.platform_name
        if connection.is_linked:
            title = format_html("You're connected to {}", title)
        return Built(
            render_fragment("connections/_detail.html", context, title=title, live=live),
            until=consent_pages.clocks_end(facts.consents),
            # While a sync runs the page follows it, and may ask Codat how it is going.
            keep=not live,
        )

    body = consent_pages.parts(request, company, part).get(part, build)
    return render(
        request,
        "connections/detail.html",
        {**body.meta, "body": fragment_html(request, body)},
    )


@login_required
@require_GET
def connection_progress(request: HttpRequest, connection_id) -> HttpResponse:
    """The live part of the connection page, for htmx to poll; the whole page otherwise."""
    connection = _connection_or_404(request, connection_id)
    if request.headers.get("HX-Request") != "true":
        return redirect("connections:detail", connection_id=connection.id)
    progress = services.sync_progress_current(
        connection=connection, data_types=data_types_read_from(connection)
    )
    return render(
        request,
        "connections/_progress.html",
        {"connection": connection, "progress": progress},
    )


# "Check again" is one Codat read per click, from the same daily quota; a person waiting for
# Codat's confirmation needs a few, a script or a stuck key needs stopping (L4).
CHECK_RATE = "30/h"


@login_required
@require_POST
@ratelimit(key="user", rate=CHECK_RATE, method="POST", group="codat-check")
def connection_check(request: HttpRequest, connection_id) -> HttpResponse:
    connection = _connection_or_404(request, connection_id)
    if not services.connection_refresh(connection=connection):
        messages.warning(request, "Codat isn't answering right now. Please try again shortly.")
    access_notices_send(company=connection.company)
    return redirect("connections:detail", connection_id=connection.id)


@login_required
@require_POST
@ratelimit(key="user", rate=CONNECT_RATE, method="POST", group="codat-link")
def connection_reconnect(request: HttpRequest, connection_id) -> HttpResponse:
    connection = _connection_or_404(request, connection_id)
    try:
        start = services.connection_reconnect_start(
            company=connection.company, user=signed_in_user(request), connection=connection
        )
    except services.ConnectionNotAllowed as exc:
        messages.info(request, str(exc))
        return redirect("connections:detail", connection_id=connection.id)
    except CodatError as exc:
        return _codat_failure(request, exc, action="reconnecting")
    if start.redirect_url is None:
        access_notices_send(company=connection.company)
        messages.success(request, f"{connection.platform_name} is connected again.")
        return redirect("connections:detail", connection_id=connection.id)
    return redirect(start.redirect_url)


@login_required
@require_http_methods(["GET", "POST"])
def connection_disconnect(request: HttpRequest, connection_id) -> HttpResponse:
    connection = _connection_or_404(request, connection_id)
    if connection.is_deleted:
        messages.info(request, f"{connection.platform_name} is already disconnected.")
        return redirect("connections:list")
    if request.method == "POST":
        try:
            consent_services.connection_disconnect_recorded(
                connection=connection, actor=signed_in_user(request)
            )
        except CodatError as exc:
            return _codat_failure(request, exc, action="disconnecting")
        messages.success(
            request,
            f"{connection.platform_name} is disconnected. We no longer have access to it "
            "through Codat.",
        )
        return redirect("connections:list")
    return render(
        request,
        "connections/disconnect.html",
        {
            "connection": connection,
            "losses": disconnect_impact(connection.company, connection),
            "today": timezone.now(),
        },
    )
