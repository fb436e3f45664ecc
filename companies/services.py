"""Changes to companies and their members: the only code that writes them."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from codat.client import CodatClient
from codat.errors import CodatNotFound
from companies import page_cache
from companies.models import Company, Membership, PendingSignup

logger = logging.getLogger(__name__)

DUPLICATE_EMAIL_MESSAGE = "An account with this email address already exists. Try logging in."
WRONG_SIGNUP_PASSWORD_MESSAGE = (
    "That is not the password you chose when you signed up. Check it and try again."
)


def normalise_email(email: str) -> str:
    """The one spelling of an email we store and log in with: trimmed and lower-cased.

    The username *is* this spelling, so the unique constraint on usernames also makes
    emails unique regardless of case.
    """
    return email.strip().lower()


def _users_with_email(email: str):
    email = normalise_email(email)
    return get_user_model().objects.filter(Q(username__iexact=email) | Q(email__iexact=email))


def email_is_taken(email: str) -> bool:
    return _users_with_email(email).exists()


def _clean_as(instance: User | Company | Membership, field_names: dict[str, str]) -> None:
    """full_clean(), with errors keyed by the sign-up form's field names, not the model's."""
    try:
        instance.full_clean()
    except ValidationError as error:
        raise ValidationError(
            {
                field_names.get(field, field): messages
                for field, messages in error.error_dict.items()
            }
        ) from error


@transaction.atomic
def company_signup(*, name: str, email: str, password: str, business_name: str) -> User:
    """Create a user, their business and the owner membership that joins them: all or nothing.

    Raises ValidationError keyed by the sign-up form's fields (`name`, `email`, `password`,
    `business_name`), so a caller can show the problem next to the right input.
    """
    email = normalise_email(email)
    if email_is_taken(email):
        raise ValidationError({"email": DUPLICATE_EMAIL_MESSAGE}, code="duplicate_email")

    user = get_user_model()(username=email, email=email, first_name=name.strip())
    try:
        password_validation.validate_password(password, user)
    except ValidationError as error:
        raise ValidationError({"password": error.error_list}) from error
    user.set_password(password)
    # The username field's own validator limits which characters an email may use here.
    _clean_as(user, {"username": "email", "first_name": "name"})
    try:
        # Losing a race with a simultaneous sign-up for the same email must surface as the
        # same form error, not a 500; the savepoint keeps any enclosing transaction usable.
        with transaction.atomic():
            user.save()
    except IntegrityError as error:
        raise ValidationError({"email": DUPLICATE_EMAIL_MESSAGE}, code="duplicate_email") from error

    company = Company(name=business_name.strip())
    _clean_as(company, {"name": "business_name"})
    company.save()

    membership = Membership(user=user, company=company, role=Membership.Role.OWNER)
    membership.full_clean()
    membership.save()
    return user


# --- sign-up by emailed link ----------------------------------------------------------------
# Sign-up answers an email that already has an account exactly as it answers a new one, so the
# form cannot be used to find out who banks here. Whoever owns the address learns which it was,
# by email: a link to finish a new account, or a note that the account already exists.


def _mail(*, to: str, subject: str, template: str, context: dict) -> None:
    """Best effort, and the same for both kinds of sign-up: a failure is logged, never shown,
    or the page would differ between them."""
    context = {"site_url": settings.SITE_URL, **context}
    try:
        send_mail(subject, render_to_string(template, context), None, [to])
    except Exception:
        logger.exception("Could not send %r", subject)


def signup_request(*, name: str, email: str, password: str, business_name: str) -> None:
    """Start a sign-up: email a link to finish a new account, or tell an existing account.

    The caller answers the same in both cases. Both hash the password and send one mail, so
    neither the page nor its timing says which happened.
    """
    email = normalise_email(email)
    password_hash = make_password(password)
    existing = _users_with_email(email).order_by("pk").first()
    if existing is not None:
        _mail(
            to=existing.email or email,
            subject="Someone tried to sign up with your email address",
            template="companies/email/signup_existing_account.txt",
            context={"user": existing, "email": email},
        )
        return

    token = secrets.token_urlsafe(32)
    now = timezone.now()
    values = {
        "name": name.strip(),
        "business_name": business_name.strip(),
        "password": password_hash,
        "token_hash": PendingSignup.hash_token(token),
        "created_at": now,
    }
    try:
        with transaction.atomic():
            pending_signups_purge(now=now)
            # The newest sign-up for an email wins; its predecessor's link stops working.
            PendingSignup.objects.update_or_create(email=email, defaults=values)
    except IntegrityError:
        # A simultaneous sign-up for the same email created the row first: now replace it.
        PendingSignup.objects.update_or_create(email=email, defaults=values)
    _mail(
        to=email,
        subject="Finish creating your Consent Portal account",
        template="companies/email/signup_confirm.txt",
        context={"name": values["name"], "business_name": values["business_name"], "token": token},
    )


def pending_signups_purge(*, now=None) -> int:
    """Forget sign-ups whose link has expired (their name, email and business name with them);
    returns how many. Run on each sign-up and from cron (`manage.py purge_pending_signups`), so
    an unfinished sign-up is not kept much past its link's lifetime even when nobody signs up."""
    cutoff = (now or timezone.now()) - PendingSignup.LINK_LIFETIME
    deleted, _ = PendingSignup.objects.filter(created_at__lt=cutoff).delete()
    return deleted


class SignupLinkUsed(Exception):
    """The link's sign-up was finished (or replaced) meanwhile, e.g. by a second click."""


def signup_confirm(*, pending: PendingSignup, password: str) -> User:
    """Finish a sign-up from its emailed link: the account exists from now on.

    Asking for the password chosen at sign-up means a link alone finishes nothing: whoever
    receives a link for a sign-up they did not make cannot end up in an account whose password
    someone else knows. Raises ValidationError (keyed `password` or `email`) or SignupLinkUsed.
    """
    if not check_password(password, pending.password):
        raise ValidationError({"password": WRONG_SIGNUP_PASSWORD_MESSAGE}, code="wrong_password")
    try:
        with transaction.atomic():
            locked = PendingSignup.objects.select_for_update().filter(pk=pending.pk).first()
            if locked is None or locked.token_hash != pending.token_hash:
                raise SignupLinkUsed
            user = company_signup(
                name=locked.name,
                email=locked.email,
                password=password,
                business_name=locked.business_name,
            )
            locked.delete()
    except ValidationError as error:
        if "email" in getattr(error, "error_dict", {}):
            # The email got an account some other way meanwhile: this sign-up can never finish.
            PendingSignup.objects.filter(pk=pending.pk).delete()
        raise
    return user


# --- closing an account: what is erased, and the pseudonym that stays -----------------------
# Consent evidence outlives the account (consents.models.EVIDENCE_KEPT_FOR) and points at the
# user who decided. Deleting that user would break the evidence; keeping them would keep their
# name and email. So the user row stays, as a pseudonym: no name, no email, no password, and a
# username made from a keyed hash of the email. The evidence still shows that one person made
# those decisions; whoever holds the key can tell, given an email, whether it was that person,
# and nobody can read the email back out of it.

ERASED_USERNAME_PREFIX = "erased-"


def pseudonym_for(email: str) -> str:
    """The stable reference an erased member is kept under: HMAC-SHA256 of their normalised
    email, keyed by EVIDENCE_PSEUDONYM_KEY. The same email always gives the same reference."""
    return hmac.new(
        settings.EVIDENCE_PSEUDONYM_KEY.encode(), normalise_email(email).encode(), hashlib.sha256
    ).hexdigest()


def erased_users_for_email(email: str) -> QuerySet[User]:
    """The erased members who had this email: how staff find kept evidence when the person
    asks (a dispute, a subject access request) after closing their account."""
    return get_user_model().objects.filter(
        username__startswith=f"{ERASED_USERNAME_PREFIX}{pseudonym_for(email)}-"
    )


@dataclass(frozen=True)
class ErasedMember:
    """Who a member was, held only in memory, to send the closing confirmation."""

    email: str
    name: str


@dataclass(frozen=True)
class ErasedCompany:
    name: str
    members: list[ErasedMember]


def company_erase(*, company: Company, now) -> ErasedCompany:
    """Within the transaction that closes the account: mark the company closed, replace its
    name with a pseudonym, and erase every member who belongs to no other open business.

    An erased member can no longer sign in, and every session they had ends at its next
    request (Django checks each session against the password, which is gone). A member who
    also belongs to another open business keeps their account and loses this membership.
    """
    locked = Company.objects.select_for_update().get(pk=company.pk)
    erased = ErasedCompany(name=locked.name, members=[])
    user_type = ContentType.objects.get_for_model(get_user_model())
    for membership in locked.memberships.select_related("user").order_by("created_at"):
        user = membership.user
        erased.members.append(ErasedMember(email=user.email, name=user.first_name))
        elsewhere = user.memberships.exclude(company=locked).filter(company__closed_at=None)
        if elsewhere.exists():
            membership.delete()
            continue
        email = user.email or user.username
        PendingSignup.objects.filter(email=normalise_email(email)).delete()
        user.username = f"{ERASED_USERNAME_PREFIX}{pseudonym_for(email)}-{user.pk}"
        user.email = ""
        user.first_name = ""
        user.last_name = ""
        user.set_unusable_password()
        user.is_active = False
        user.last_login = None
        user.save()
        # The admin's history names a changed user by its username at the time.
        LogEntry.objects.filter(content_type=user_type, object_id=str(user.pk)).update(
            object_repr=user.username
        )
    locked.name = f"Closed account {str(locked.id)[:8]}"
    locked.closed_at = now
    locked.save(update_fields=["name", "closed_at"])
    page_cache.facts_changed(locked)  # its name, and its members' names in its history
    company.name, company.closed_at = locked.name, locked.closed_at
    return erased


def codat_company_delete_and_forget(*, company: Company, client: CodatClient) -> None:
    """DELETE the company at Codat (its connections and all its data go with it) and forget
    its id, so that sharing again starts a fresh Codat company. A 404 means already gone.

    For retention, whose scheduled deletion is its own record and retry. Closing an account
    records a CodatCompanyDeletion instead (connections.services.codat_company_delete), which
    is retried with backoff until Codat confirms."""
    codat_id = company.codat_company_id
    if codat_id is None:
        return
    try:
        client.delete_company(str(codat_id))
    except CodatNotFound:
        logger.info("Codat company %s was already deleted", codat_id)
    Company.objects.filter(pk=company.pk, codat_company_id=codat_id).update(codat_company_id=None)
    company.codat_company_id = None
