from __future__ import annotations

import re

from django import forms
from django.core.exceptions import ValidationError

from connections.models import PICKER_SOURCE_TYPES
from consents.models import Product

# The only statusCode values Codat's redirect documents (docs/codat.md §4).
RETURN_STATUS_CODES = ("200", "201", "403", "500", "501")
# What `state` may look like when Codat did not carry it: left out, emptied, or the template's
# placeholder untouched.
UNFILLED_STATES = ("", "{state}")
# `secrets.token_urlsafe(32)`, as connections.services makes it.
_STATE = re.compile(r"[A-Za-z0-9_-]{43}")


class LinkReturnForm(forms.Form):
    """The query string Codat's redirect template brings back. Hints, not truth: the ids must
    match what we bound to the Link attempt, and the status is confirmed with Codat afterwards.

    `state` may be absent: Codat documents custom parameters on the Hosted Link URL but not on
    a connection's `linkUrl` (docs/codat.md §4), so the `{state}` placeholder may come back
    empty or, from a template Codat did not fill, literally as `{state}`. Either counts as no
    state (`""`), and the return is then matched by its ids instead. A state that *is* there
    must be well formed.
    """

    state = forms.CharField(required=False, max_length=64)
    companyId = forms.UUIDField()  # noqa: N815 - Codat's placeholder names
    connectionId = forms.UUIDField(required=False)  # noqa: N815
    statusCode = forms.ChoiceField(choices=[(c, c) for c in RETURN_STATUS_CODES])  # noqa: N815
    errorMessage = forms.CharField(required=False, max_length=500)  # noqa: N815
    statusText = forms.CharField(required=False, max_length=500)  # noqa: N815

    def clean_state(self) -> str:
        state = self.cleaned_data["state"]
        if state in UNFILLED_STATES:
            return ""
        if not _STATE.fullmatch(state):
            raise ValidationError("Malformed state.")
        return state


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
