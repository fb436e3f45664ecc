from __future__ import annotations

from django import forms
from django.core.validators import RegexValidator

from connections.models import PICKER_SOURCE_TYPES
from consents.models import Product

# The only statusCode values Codat's redirect documents (docs/codat.md §4).
RETURN_STATUS_CODES = ("200", "201", "403", "500", "501")


class LinkReturnForm(forms.Form):
    """The query string Codat's redirect template brings back. Hints, not truth: the ids must
    match what we bound to the state, and the status is confirmed with Codat afterwards."""

    state = forms.CharField(
        max_length=64,
        validators=[RegexValidator(r"^[A-Za-z0-9_-]{43}$", "Malformed state.")],
    )
    companyId = forms.UUIDField()  # noqa: N815 - Codat's placeholder names
    connectionId = forms.UUIDField(required=False)  # noqa: N815
    statusCode = forms.ChoiceField(choices=[(c, c) for c in RETURN_STATUS_CODES])  # noqa: N815
    errorMessage = forms.CharField(required=False, max_length=500)  # noqa: N815
    statusText = forms.CharField(required=False, max_length=500)  # noqa: N815


class PickerFilterForm(forms.Form):
    product = forms.ModelChoiceField(
        queryset=Product.objects.active(),
        to_field_name="slug",
        required=False,
        widget=forms.HiddenInput,
    )
    q = forms.CharField(required=False, max_length=50, label="Find your software or bank")
    type = forms.ChoiceField(
        required=False,
        choices=[("", "All kinds")] + [(t.value, t.label) for t in PICKER_SOURCE_TYPES],
        label="Kind",
    )
