from __future__ import annotations

import json
import logging
from collections.abc import Iterator

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from companies import page_cache
from companies.models import Membership
from companies.page_cache import Built, Fragment, Part, fragment_html, render_fragment
from companies.selectors import current_company, request_membership, signed_in_user
from connections.models import Connection, ConnectionEvent
from consents import pages, retention, selectors, services
from consents.closing import is_owner
from consents.data_types import describe
from consents.forms import GrantForm, WithdrawForm
from consents.models import Consent, ConsentEvent, ConsentText, DataUse, Product

logger = logging.getLogger("consents")

# Bumped when a key of the JSON receipt changes meaning or goes; adding a key does not.
RECEIPT_SCHEMA_VERSION = 1

# The wording a customer was shown is remembered server-side, per product (C3): what they
# agree to is what we rendered, never what a form says.
SHOWN_TEXT_SESSION_KEY = "consent_text_shown:{slug}"


def _product_or_404(slug: str) -> Product:
    return get_object_or_404(Product.objects.active(), slug=slug)


def _page(request: HttpRequest, template_name: str, body: Fragment, **context) -> HttpResponse:
    """A page around a part it keeps (consents.pages): the part's meta (its title …), this
    request's own CSRF token in it, and the base template's chrome."""
    return render(
        request,
        template_name,
        {**body.meta, **context, "body": fragment_html(request, body)},
    )


@login_required
@require_GET
def product_detail(request: HttpRequest, slug: str) -> HttpResponse:
    company = current_company(request)
    part = Part("product", (slug,))

    def build() -> Built[Fragment]:
        product = _product_or_404(slug)
        facts = selectors.request_access_facts(request, company)
        status = selectors.product_status(company, product, facts)
        context = {
            "product": product,
            "status": status,
            "data_types": describe(product.data_types),
            "optional_data_types": describe(product.optional_data_types),
            "still_needed": selectors.source_types_still_needed(company, product, facts),
        }
        return Built(
            render_fragment("consents/_product.html", context, title=product.name),
            until=pages.clocks_end([status.consent]),
        )

    body = pages.parts(request, company, part).get(part, build)
    return _page(request, "consents/product.html", body)


def _render_review(
    request: HttpRequest, company, product: Product, form: GrantForm, *, status: int = 200
) -> HttpResponse:
    text = selectors.current_text(product)
    if text is None:
        # A product added in the admin before its wording is published: nothing to agree to.
        raise Http404("No consent wording published for this product")
    request.session[SHOWN_TEXT_SESSION_KEY.format(slug=product.slug)] = text.pk
    shared = selectors.data_types_already_shared(company, product)
    new_types = [t for t in product.all_data_types if t not in shared]
    return render(
        request,
        "consents/review.html",
        {
            "product": product,
            "text": text,
            "form": form,
            "additional": bool(shared),
            "data_types": describe([t for t in product.data_types if t in new_types]),
            "optional_data_types": describe(
                [t for t in product.optional_data_types if t in new_types]
            ),
            "already_shared": describe(sorted(shared)),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def consent_review(request: HttpRequest, slug: str) -> HttpResponse:
    company = current_company(request)
    product = _product_or_404(slug)
    status = selectors.product_status(company, product)
    if status.is_active:
        messages.info(request, f"You're already sharing data with {product.name}.")
        return redirect("consents:product", slug=slug)
    if request.method == "GET":
        return _render_review(request, company, product, GrantForm())

    form = GrantForm(request.POST)
    shown_pk = request.session.get(SHOWN_TEXT_SESSION_KEY.format(slug=slug))
    shown = (
        ConsentText.objects.filter(pk=shown_pk, product=product).first()
        if shown_pk is not None
        else None
    )
    if not form.is_valid() or shown is None:
        return _render_review(request, company, product, form, status=400)
    try:
        services.consent_grant(
            company=company,
            product=product,
            actor=signed_in_user(request),
            text_shown=shown,
            meta=services.RequestMeta.from_request(request, surface="consent_review"),
        )
    except DatabaseError:
        # C4: without its record a decision does not happen; say so rather than pretend.
        logger.exception("Could not record a consent grant for %s", product.slug)
        return render(request, "consents/not_recorded.html", {"product": product}, status=503)
    except services.TextChanged:
        messages.warning(
            request, "We've updated the wording since you opened this page. Please read it again."
        )
        return _render_review(request, company, product, GrantForm(), status=409)
    request.session.pop(SHOWN_TEXT_SESSION_KEY.format(slug=slug), None)

    needed = selectors.source_types_still_needed(company, product)
    missing_required = [t for t in product.required_source_types if t in needed]
    if missing_required:
        messages.success(
            request,
            f"Thank you. Now connect your {' and '.join(k.lower() for k in missing_required)} "
            f"so {product.name} can start.",
        )
        return redirect(f"{reverse('connections:picker')}?product={product.slug}")
    messages.success(request, f"Thank you. {product.name} is live — no need to sign in again.")
    return redirect("consents:product", slug=slug)


def _after_withdrawal_words(connection: Connection) -> str:
    """What became of a connection the customer chose to let go with a withdrawal, in the
    words its status shows on the connections page: "Paused" (access revoked at Codat, the
    connection kept and can be authorised again) or "Disconnected" (deleted at Codat)."""
    name = connection.platform_name
    if connection.status == Connection.Status.UNLINKED:
        return (
            f"{name} is paused: we no longer have access to it, and Codat keeps what it had "
            "already fetched. You can connect it again, or disconnect it for good, from "
            "Your connections."
        )
    return f"{name} is disconnected: we no longer have access to it through Codat."


@login_required
@require_http_methods(["GET", "POST"])
def consent_withdraw(request: HttpRequest, slug: str) -> HttpResponse:
    company = current_company(request)
    product = _product_or_404(slug)
    consent = Consent.objects.for_company(company).filter(product=product).first()
    if consent is None or not consent.is_active:
        messages.info(request, f"You're not sharing any data with {product.name} right now.")
        return redirect("consents:product", slug=slug)
    impact = selectors.withdraw_impact(company, product)
    can_disconnect = bool(impact.orphaned_connections)
    form = WithdrawForm(
        request.POST if request.method == "POST" else None, can_disconnect=can_disconnect
    )
    if request.method == "POST" and form.is_valid():
        try:
            result = services.consent_withdraw(
                consent=consent,
                actor=signed_in_user(request),
                meta=services.RequestMeta.from_request(request, surface="consent_withdraw"),
                choice=form.cleaned_data["choice"],
            )
        except DatabaseError:
            logger.exception("Could not record a consent withdrawal for %s", product.slug)
            return render(request, "consents/not_recorded.html", {"product": product}, status=503)
        except services.AlreadyWithdrawn:
            messages.info(request, f"Your consent for {product.name} was already withdrawn.")
            return redirect("consents:product", slug=slug)
        messages.success(request, f"{product.name} no longer uses your data, from this moment.")
        for connection in result.disconnected:
            messages.success(request, _after_withdrawal_words(connection))
        for connection in result.failed:
            messages.warning(
                request,
                f"Codat isn't answering, so {connection.platform_name} is still connected. "
                "Your consent is withdrawn all the same; you can disconnect it from "
                "Connections later.",
            )
        return redirect("consents:product", slug=slug)
    return render(
        request,
        "consents/withdraw.html",
        {
            "product": product,
            "impact": impact,
            "form": form,
            "consent": consent,
            "data_held": retention.data_held_for(consent),
        },
        status=400 if form.is_bound else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def keep_sharing(request: HttpRequest, slug: str) -> HttpResponse:
    """One click, no bank login: restart the 90-day clock for this product's bank data."""
    company = current_company(request)
    product = _product_or_404(slug)
    consent = Consent.objects.for_company(company).filter(product=product).first()
    if consent is None or not consent.is_active or not consent.banking_data_types:
        messages.info(request, f"{product.name} isn't using any bank data to confirm.")
        return redirect("consents:product", slug=slug)
    if request.method == "POST":
        services.consent_reconfirm(
            consent=consent,
            actor=signed_in_user(request),
            meta=services.RequestMeta.from_request(request, surface="keep_sharing"),
        )
        messages.success(
            request, f"Thank you. {product.name} will keep using your bank data for 90 days."
        )
        return redirect("consents:product", slug=slug)
    return render(
        request,
        "consents/keep_sharing.html",
        {
            "product": product,
            "consent": consent,
            "data_types": describe(consent.banking_data_types),
            "lapsed": consent.banking_lapsed(),
        },
    )


def _is_owner(request: HttpRequest, company) -> bool:
    # The request's membership, read for the page's company already: no second lookup.
    membership = request_membership(request)
    if membership is not None and membership.company_id == company.pk:
        return membership.role == Membership.Role.OWNER
    return is_owner(company=company, user=signed_in_user(request))


@login_required
@require_GET
def my_consents(request: HttpRequest) -> HttpResponse:
    company = current_company(request)
    page = selectors.page_number(request.GET.get("page"))
    is_owner = _is_owner(request, company)
    # Its data-use log too (USES); the owner sees one more link than other members.
    part = Part("mine", (page, is_owner), topics=(page_cache.ACCESS, page_cache.USES))

    def build() -> Built[Fragment]:
        statuses = selectors.product_statuses(
            company, selectors.request_access_facts(request, company)
        )
        context = {
            "statuses": statuses,
            "history": selectors.history(company, page=page),
            "is_owner": is_owner,
            "deletions": selectors.deletion_history(company),
            "data_use": selectors.data_use_history(company, statuses=statuses),
        }
        return Built(
            render_fragment("consents/_mine.html", context),
            until=pages.clocks_end(s.consent for s in statuses),
        )

    body = pages.parts(request, company, part).get(part, build)
    return _page(request, "consents/mine.html", body)


@login_required
@require_GET
def consent_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """One consent: when it was agreed, to which wording, for which data, and everything that
    happened to it and to the connections it reads from."""
    company = current_company(request)
    page = selectors.page_number(request.GET.get("page"))
    part = Part("consent", (slug, page))

    def build() -> Built[Fragment | None]:
        product = _product_or_404(slug)
        status = selectors.product_status(
            company, product, selectors.request_access_facts(request, company)
        )
        if status.consent is None:
            return Built(None)  # never agreed to: the product's page says what it reads
        context = {
            "product": product,
            "status": status,
            "consent": status.consent,
            "data_types": describe(status.consent.data_types),
            "history": selectors.history(company, product, page=page),
        }
        return Built(
            render_fragment("consents/_consent.html", context, product_name=product.name),
            until=pages.clocks_end([status.consent]),
        )

    body = pages.parts(request, company, part).get(part, build)
    if body is None:
        return redirect("consents:product", slug=slug)
    return _page(request, "consents/consent.html", body)


@login_required
@require_GET
def wording(request: HttpRequest, slug: str, version: int) -> HttpResponse:
    """A version of a product's consent wording, exactly as customers were shown it."""
    product = get_object_or_404(Product, slug=slug)
    text = selectors.text_version(product, version)
    if text is None:
        raise Http404("No such wording version")
    return render(
        request,
        "consents/wording.html",
        {"product": product, "text": text, "current": selectors.current_text(product)},
    )


def _receipt_consents(company) -> list[dict]:
    return [
        {
            "product": s.product.slug,
            "product_name": s.product.name,
            "state": s.consent.state if s.consent else "not_started",
            "status": s.label,
            "granted_at": s.consent.granted_at.isoformat() if s.consent else None,
            "withdrawn_at": (
                s.consent.withdrawn_at.isoformat() if s.consent and s.consent.withdrawn_at else None
            ),
            "data_types": s.consent.data_types if s.consent else [],
            "data_type_labels": [t.label for t in describe(s.consent.data_types)]
            if s.consent
            else [],
            "text_version": s.consent.text.version if s.consent else None,
            "text_sha256": s.consent.text.sha256 if s.consent else None,
            "bank_data_until": (
                s.consent.banking_expires_at.isoformat()
                if s.consent and s.consent.is_active and s.consent.banking_expires_at
                else None
            ),
        }
        for s in selectors.product_statuses(company)
    ]


@login_required
@require_GET
def consent_receipt_page(request: HttpRequest) -> HttpResponse:
    """The receipt as a page a person can read, print and keep: the history a page at a time
    (the latest first), with every wording version the business ever agreed to."""
    company = current_company(request)
    page = selectors.page_number(request.GET.get("page"))
    part = Part("receipt", (page,))

    def build() -> Built[Fragment]:
        statuses = selectors.product_statuses(
            company, selectors.request_access_facts(request, company)
        )
        context = {
            "statuses": statuses,
            "history": selectors.history(company, page=page),
            "texts": selectors.texts_agreed_to(company),
        }
        return Built(
            render_fragment("consents/_receipt.html", context),
            until=pages.clocks_end(s.consent for s in statuses),
        )

    # What it shows has not changed since it was built (companies.page_cache): it holds as of
    # now.
    body = pages.parts(request, company, part).get(part, build)
    return _page(
        request, "consents/receipt.html", body, company=company, generated_at=timezone.now()
    )


def _receipt_decision(e: ConsentEvent) -> dict:
    return {
        "id": str(e.id),
        "action": e.action,
        "action_label": e.label_for_customer,
        "product": e.product.slug,
        "occurred_at": e.occurred_at.isoformat(),
        # Staff withdrawing at the customer's request act for the bank (`action_label`).
        "actor": e.actor.email if e.actor and e.action != e.Action.STAFF else None,
        "reason": e.reason or None,
        "data_types": e.data_types,
        "data_type_labels": [t.label for t in describe(e.data_types)],
        "text_version": e.text.version if e.text else None,
        "text_sha256": e.text_sha256,
        "method": e.method,
        "details": e.details,
    }


def _receipt_access_change(e: ConnectionEvent) -> dict:
    return {
        "id": str(e.id),
        "event": e.kind,
        "event_label": e.get_kind_display(),
        "platform": e.connection.platform_name,
        "kind_of_data": e.connection.source_type,
        "occurred_at": e.occurred_at.isoformat(),
    }


def _receipt_data_use(u: DataUse) -> dict:
    # How the data was used (P3): every read through the consent gate, refused ones too.
    return {
        "id": str(u.id),
        "product": u.product.slug,
        "occurred_at": u.occurred_at.isoformat(),
        "purpose": u.purpose,
        "reader": u.reader_kind,
        "reader_name": u.reader_name,
        "outcome": u.outcome,
        "data_types": u.data_types,
        "refused_data_types": u.refused_data_types,
        "unavailable_data_types": u.unavailable_data_types,
        "from_codat": u.codat_calls > 0,
    }


def _receipt_text(t: ConsentText) -> dict:
    return {
        "product": t.product.slug,
        "version": t.version,
        "sha256": t.sha256,
        "published_at": t.published_at.isoformat(),
        "body": t.body,
    }


# Rows read from the database at a time while the JSON receipt streams.
RECEIPT_BATCH_SIZE = 500


def _json_array(items) -> Iterator[str]:
    """A JSON array written an item at a time, indented as the rest of the receipt."""
    separator = "\n    "
    for item in items:
        yield separator + json.dumps(item, ensure_ascii=False)
        separator = ",\n    "
    yield "\n  ]" if separator != "\n    " else "]"


def _receipt_json(head: dict, decisions, access_changes, data_uses) -> Iterator[str]:
    # The head without its closing brace, then each long list as it is read: memory stays the
    # same however long the history (docs/receipt.md). The querysets come made: the body is
    # written after the view has returned, outside the tenant scope, which would refuse them.
    yield json.dumps(head, indent=2, ensure_ascii=False)[: -len("\n}")]
    texts: dict = {}

    def decision_items() -> Iterator[dict]:
        for event in decisions.iterator(chunk_size=RECEIPT_BATCH_SIZE):
            if event.text is not None:
                texts.setdefault(event.text_id, event.text)
            yield _receipt_decision(event)

    yield ',\n  "history": ['
    yield from _json_array(decision_items())
    yield ',\n  "connection_history": ['
    yield from _json_array(
        _receipt_access_change(e) for e in access_changes.iterator(chunk_size=RECEIPT_BATCH_SIZE)
    )
    yield ',\n  "texts": ['
    yield from _json_array(_receipt_text(t) for t in texts.values())
    yield ',\n  "data_use": ['
    yield from _json_array(
        _receipt_data_use(u) for u in data_uses.iterator(chunk_size=RECEIPT_BATCH_SIZE)
    )
    yield "\n}\n"


@login_required
@require_GET
def consent_receipt(request: HttpRequest) -> StreamingHttpResponse:
    """Every decision this business made, with the exact wording each time, and every change
    in its connections' access: a consent receipt the customer can keep. The keys are stable
    and documented in docs/receipt.md. Streamed, so that a long history costs no memory."""
    company = current_company(request)
    head = {
        "schema_version": RECEIPT_SCHEMA_VERSION,
        "company": {"id": str(company.id), "name": company.name},
        "generated_at": timezone.now().isoformat(),
        "processor": "Codat Ltd (reads the data on our behalf)",
        "consents": _receipt_consents(company),
    }
    response = StreamingHttpResponse(
        (
            chunk.encode()
            for chunk in _receipt_json(
                head,
                selectors.consent_history(company),
                selectors.access_changes(company),
                selectors.data_uses(company),
            )
        ),
        content_type="application/json",
    )
    response["Content-Disposition"] = 'attachment; filename="consent-receipt.json"'
    return response
