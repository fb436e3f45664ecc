"""Reads about companies. The tenant always comes from the signed-in user, never the request."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.utils import timezone

from companies.models import Company, Membership, PendingSignup


def signed_in_user(request: HttpRequest) -> User:
    """The account behind a request that only signed-in users reach (`login_required` views,
    the admin): typed as the User it is there. Anyone else is refused, never acted for."""
    user = request.user
    if not user.is_authenticated:
        raise PermissionDenied("Not signed in")
    return user


def membership_for_user(user: User | AnonymousUser) -> Membership | None:
    """The user's membership (their first, with its company), or None."""
    if not user.is_authenticated:
        return None
    return user.memberships.select_related("company").order_by("created_at").first()


def company_for_user(user: User | AnonymousUser) -> Company | None:
    membership = membership_for_user(user)
    return membership.company if membership else None


def request_membership(request: HttpRequest) -> Membership | None:
    """The signed-in user's membership, with its company, or None; looked up once per
    request (the company, the role and the pages' chrome all come from it)."""
    # Cached on the request itself, an attribute HttpRequest's type does not declare.
    if not hasattr(request, "_current_membership"):
        request._current_membership = membership_for_user(request.user)  # type: ignore[attr-defined]
    return request._current_membership  # type: ignore[attr-defined]


def request_company(request: HttpRequest) -> Company | None:
    """The signed-in user's company, or None; looked up once per request."""
    membership = request_membership(request)
    return membership.company if membership else None


def current_company(request: HttpRequest) -> Company:
    """The signed-in user's company; 404 for anyone without one."""
    company = request_company(request)
    if company is None:
        raise Http404("No company for this account")
    return company


def member_emails(company: Company) -> list[str]:
    """Where to tell a business about its data: every member with an email address."""
    emails = company.memberships.values_list("user__email", flat=True)
    return [email for email in emails if email]


def pending_signup_for_token(token: str) -> PendingSignup | None:
    """The sign-up an emailed link finishes, if the link is still current."""
    return PendingSignup.objects.filter(
        token_hash=PendingSignup.hash_token(token),
        created_at__gte=timezone.now() - PendingSignup.LINK_LIFETIME,
    ).first()
