"""Accounts, the general pages and the error pages."""

from __future__ import annotations

import contextlib
import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordResetForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseForbidden,
    HttpResponseNotFound,
    HttpResponseServerError,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.template import loader
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import requires_csrf_token
from django.views.decorators.http import require_http_methods, require_safe
from django_ratelimit.decorators import ratelimit

from companies.forms import (
    CloseAccountForm,
    EmailAuthenticationForm,
    SignupConfirmForm,
    SignupForm,
)
from companies.page_cache import Built, Fragment, Part, fragment_html, render_fragment
from companies.requests import account_named_in
from companies.selectors import (
    current_company,
    pending_signup_for_token,
    request_company,
    signed_in_user,
)
from companies.services import SignupLinkUsed, signup_confirm, signup_request
from connections.models import Connection
from consents import pages
from consents.closing import AlreadyClosed, account_close, account_close_impact, is_owner
from consents.selectors import (
    ProductStatus,
    product_statuses,
    request_access_facts,
    retention_promises,
)
from consents.services import RequestMeta

logger = logging.getLogger(__name__)


# --- Accounts --------------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@ratelimit(key="ip", rate="10/h", method="POST", group="signup")
# Each sign-up mails the address it names: per account too, so many addresses cannot flood one
# inbox. Counted alike whether or not the email has an account, so the limit reveals nothing.
@ratelimit(key=account_named_in("email"), rate="5/h", method="POST", group="signup-account")
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST) if request.method == "POST" else SignupForm()
    if request.method == "POST" and form.is_valid():
        # The same answer whether or not the email already has an account (the mail differs):
        # saying "already registered" would tell anyone who banks with us.
        signup_request(
            name=form.cleaned_data["name"],
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
            business_name=form.cleaned_data["business_name"],
        )
        return redirect("signup_sent")
    return render(request, "registration/signup.html", {"form": form})


@require_safe
def signup_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "registration/signup_sent.html")


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@ratelimit(key="ip", rate="10/m", method="POST", group="signup-confirm")
def signup_confirm_view(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed link: GET only shows the form (mail scanners follow links), POST finishes."""
    if request.user.is_authenticated:
        return redirect("home")
    pending = pending_signup_for_token(token)
    if pending is None:
        return render(request, "registration/signup_confirm.html", {"validlink": False}, status=404)
    form = SignupConfirmForm(request.POST) if request.method == "POST" else SignupConfirmForm()
    if request.method == "POST" and form.is_valid():
        try:
            user = signup_confirm(pending=pending, password=form.cleaned_data["password"])
        except SignupLinkUsed:
            return render(
                request, "registration/signup_confirm.html", {"validlink": False}, status=404
            )
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome, {user.first_name}. Your account is ready.")
            return redirect("home")
    return render(
        request,
        "registration/signup_confirm.html",
        {"validlink": True, "form": form, "pending": pending},
    )


# Guessing passwords costs: per address, and per account whatever the address (D5) and however
# its email is typed, since login ignores case and surrounding spaces (L4).
@method_decorator(ratelimit(key="ip", rate="20/m", method="POST", group="login-ip"), name="post")
@method_decorator(
    ratelimit(key=account_named_in("username"), rate="5/m", method="POST", group="login-user"),
    name="post",
)
class LoginView(auth_views.LoginView):
    # Django's view checks `next` with url_has_allowed_host_and_scheme(), so an off-site
    # or scheme-relative target falls back to LOGIN_REDIRECT_URL (R4). It does not bounce
    # signed-in users onwards: that would let other sites probe who is signed in here.
    form_class = EmailAuthenticationForm


class LogoutView(auth_views.LogoutView):
    # POST only (Django 5): a link or an <img> on another site cannot sign anyone out.

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        messages.info(request, "You have logged out.")
        return response


# Each request mails the account: limited per address, and per account so that many addresses
# cannot flood one inbox.
@method_decorator(
    ratelimit(key="ip", rate="5/h", method="POST", group="password-reset"), name="post"
)
@method_decorator(
    ratelimit(
        key=account_named_in("email"), rate="5/h", method="POST", group="password-reset-account"
    ),
    name="post",
)
class PasswordResetView(auth_views.PasswordResetView):
    def form_valid(self, form: PasswordResetForm) -> HttpResponse:
        # Links in the mail are built from SITE_URL, not the request's Host header, so a
        # forged Host cannot make us mail out a link to someone else's server.
        self.extra_email_context = {"site_url": settings.SITE_URL}
        return super().form_valid(form)


# Closing takes the password: limited like logging in, so the form cannot be used to guess it.
@login_required
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@ratelimit(key="user", rate="5/m", method="POST", group="account-close")
def account_close_view(request: HttpRequest) -> HttpResponse:
    """What closing the account does, then, with the owner's password, the closing itself."""
    company = current_company(request)
    user = signed_in_user(request)
    if not is_owner(company=company, user=user):
        raise PermissionDenied("Only the owner can close the account")
    form = CloseAccountForm(user, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        with contextlib.suppress(AlreadyClosed):  # a second click: the first one closed it
            account_close(
                company=company,
                actor=user,
                meta=RequestMeta.from_request(request, surface="account_close"),
            )
        logout(request)
        return redirect("account_closed")
    return render(
        request,
        "registration/account_close.html",
        {"impact": account_close_impact(company), "form": form},
        status=400 if form.is_bound else 200,
    )


@require_safe
def account_closed(request: HttpRequest) -> HttpResponse:
    return render(request, "registration/account_closed.html")


# --- General pages ---------------------------------------------------------------------------


HOME_PRODUCTS = Part("home-products")


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    company = request_company(request)  # the same lookup the page's banners make
    if company is None:
        return render(request, "home.html")

    def build() -> Built[Fragment]:
        statuses = product_statuses(company, request_access_facts(request, company))
        return Built(render_fragment("_home_products.html", {"statuses": statuses}))

    products = pages.parts(request, company, HOME_PRODUCTS).get(HOME_PRODUCTS, build)
    return render(request, "home.html", {"products": fragment_html(request, products)})


PRIVACY = Part("privacy", shared=True)


@require_safe
def privacy(request: HttpRequest) -> HttpResponse:
    def build() -> Built[Fragment]:
        # The retention periods `manage.py enforce_retention` keeps, from the wording itself.
        return Built(render_fragment("_privacy.html", {"retention_texts": retention_promises()}))

    body = pages.parts(request, request_company(request), PRIVACY).get(PRIVACY, build)
    return render(request, "privacy.html", {"body": fragment_html(request, body)})


@require_safe
def help_page(request: HttpRequest) -> HttpResponse:
    """Help, with the glossary of statuses in the very words the badges use."""
    return render(
        request,
        "help.html",
        {
            "connection_statuses": [
                (status.label, Connection.badge_for(status), Connection.STATUS_MEANINGS[status])
                for status in Connection.Status
            ],
            "product_statuses": [
                (ProductStatus.LABELS[state], ProductStatus.badge_for(state), meaning)
                for state, meaning in ProductStatus.MEANINGS.items()
            ],
        },
    )


@never_cache
@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    # Liveness only: answering proves the process serves requests. It touches no database,
    # so a slow database does not make the load balancer pull every server at once. (It is
    # also the trivial baseline `make bench` compares the webhook intake with.)
    return JsonResponse({"status": "ok"})


def rate_limited(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Too many attempts in a short time (RATELIMIT_VIEW): 429 with a way forward."""
    logger.warning(
        "Rate limit hit: %s %s user=%s",
        request.method,
        request.path,
        getattr(request.user, "pk", None),
    )
    response = render(request, "429.html", status=429)
    response["Retry-After"] = "60"
    return response


# --- Error pages -----------------------------------------------------------------------------
# 400 and 500 render without the request, so no context processor (session, user, company)
# runs: the failure being reported may be the database or the request itself.


@requires_csrf_token
def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    return HttpResponseBadRequest(loader.render_to_string("400.html"))


@requires_csrf_token
def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return HttpResponseForbidden(loader.render_to_string("403.html", request=request))


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: usually a form left open until its token went stale, not an attack."""
    return HttpResponseForbidden(
        loader.render_to_string("403.html", {"csrf_failure": True}, request=request)
    )


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return HttpResponseNotFound(loader.render_to_string("404.html", request=request))


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    body: str
    try:
        body = loader.render_to_string("500.html")
    except Exception:
        # Whatever broke the page may break the template too; a bare page still answers.
        logger.exception("The 500 page itself failed to render")
        body = "<!doctype html><title>Server error</title><h1>Something went wrong</h1>"
    return HttpResponseServerError(body)
