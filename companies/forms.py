"""Account forms. They validate and normalise; saving is companies.services' job."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError

from companies.models import Company
from companies.services import normalise_email


class SignupForm(forms.Form):
    name = forms.CharField(
        label="Your name",
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    email = forms.EmailField(
        label="Email",
        max_length=150,
        help_text="You will use this to log in.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    business_name = forms.CharField(
        label="Business name",
        max_length=Company._meta.get_field("name").max_length,
        help_text="The business whose data you will share, as your customers know it.",
        widget=forms.TextInput(attrs={"autocomplete": "organization"}),
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        help_text=password_validation.password_validators_help_text_html(),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label="Confirm password",
        strip=False,
        help_text="Type the same password again.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_email(self) -> str:
        email = normalise_email(self.cleaned_data["email"])
        # The email becomes the username, so it must also pass the username's character rules.
        try:
            UnicodeUsernameValidator()(email)
        except ValidationError as error:
            raise ValidationError(
                "Use an email address made of letters, digits and @ . + - _ only.",
                code="email_characters",
            ) from error
        # Whether the email already has an account is deliberately not checked here: the answer
        # would tell anyone who banks with us. companies.services.signup_request emails the
        # address instead.
        return email

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        password1, password2 = cleaned.get("password1"), cleaned.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", "The two passwords do not match.")
        elif password1:
            # Validated against the would-be user, so "too similar to your email" can fire.
            would_be_user = get_user_model()(
                username=cleaned.get("email", ""),
                email=cleaned.get("email", ""),
                first_name=cleaned.get("name", ""),
            )
            try:
                password_validation.validate_password(password1, would_be_user)
            except ValidationError as error:
                self.add_error("password1", error)
        return cleaned


class SignupConfirmForm(forms.Form):
    """The last step of sign-up, from the emailed link: the password chosen at sign-up."""

    password = forms.CharField(
        label="Password",
        strip=False,
        help_text="The one you chose when you signed up.",
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )

    def add_service_errors(self, error: ValidationError) -> None:
        """Show errors raised by signup_confirm() next to the password, or above the form."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for field, errors in error.error_dict.items():
            self.add_error(field if field in self.fields else None, errors)


class EmailAuthenticationForm(AuthenticationForm):
    """Django's login form, asking for the email address that is also the username."""

    username = forms.EmailField(
        label="Email",
        max_length=150,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": (
            "That email and password do not match an account. Check both and try again."
        ),
    }

    def clean_username(self) -> str:
        # The login rate limit keys on this same spelling (companies.requests.account_named_in).
        return normalise_email(self.cleaned_data["username"])


class CloseAccountForm(forms.Form):
    """The owner confirms closing the account with their password: a session left open on a
    shared computer is not enough to erase a business."""

    password = forms.CharField(
        label="Your password",
        strip=False,
        help_text="To confirm it is you.",
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    understood = forms.BooleanField(
        label="I understand that closing cannot be undone",
        error_messages={"required": "Tick this box to confirm you want to close the account."},
    )

    def __init__(self, user, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise ValidationError("That is not your password.", code="wrong_password")
        return password
