"""Changes to companies and their members: the only code that writes them."""

from __future__ import annotations

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from companies.models import Company, Membership

DUPLICATE_EMAIL_MESSAGE = "An account with this email address already exists. Try logging in."


def normalise_email(email: str) -> str:
    """The one spelling of an email we store and log in with: trimmed and lower-cased.

    The username *is* this spelling, so the unique constraint on usernames also makes
    emails unique regardless of case.
    """
    return email.strip().lower()


def email_is_taken(email: str) -> bool:
    email = normalise_email(email)
    users = get_user_model().objects
    return (
        users.filter(username__iexact=email).exists() or users.filter(email__iexact=email).exists()
    )


def _clean_as(instance: AbstractUser | Company | Membership, field_names: dict[str, str]) -> None:
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
def company_signup(*, name: str, email: str, password: str, business_name: str) -> AbstractUser:
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
