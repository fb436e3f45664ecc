"""The console's forms: they validate and normalise, nothing more (docs/architecture.md §3)."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from .faults import MAX_CALLS, MAX_LATENCY_SECONDS, MAX_RETRY_AFTER_SECONDS
from .models import SandboxFault, SandboxWebhookMessage


class FailNextSyncForm(forms.Form):
    data_type = forms.ChoiceField(label="Data type")

    def __init__(self, *args: Any, data_types: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["data_type"]).choices = [
            (data_type, data_type) for data_type in data_types
        ]


class ReorderForm(forms.Form):
    """Two messages not yet delivered; the one due later goes out first."""

    first = forms.ModelChoiceField(
        queryset=SandboxWebhookMessage.objects.none(), to_field_name="public_id"
    )
    second = forms.ModelChoiceField(
        queryset=SandboxWebhookMessage.objects.none(), to_field_name="public_id"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        pending = SandboxWebhookMessage.objects.filter(delivered_at=None, failed_at=None)
        cast(forms.ModelChoiceField, self.fields["first"]).queryset = pending
        cast(forms.ModelChoiceField, self.fields["second"]).queryset = pending

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        first, second = cleaned.get("first"), cleaned.get("second")
        if first is not None and first == second:
            raise forms.ValidationError("Choose two different messages.")
        return cleaned


class FaultForm(forms.Form):
    kind = forms.ChoiceField(label="Fault", choices=SandboxFault.Kind.choices)
    calls = forms.IntegerField(label="Next API calls", min_value=1, max_value=MAX_CALLS, initial=1)
    retry_after = forms.IntegerField(
        label="Retry-After (seconds, 429 only)",
        min_value=0,
        max_value=MAX_RETRY_AFTER_SECONDS,
        required=False,
        initial=1,
    )
    latency_seconds = forms.FloatField(
        label="Latency (seconds, latency only)",
        min_value=0.0,
        max_value=MAX_LATENCY_SECONDS,
        required=False,
        initial=2.0,
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        kind = cleaned.get("kind")
        if kind == SandboxFault.Kind.RATE_LIMITED and cleaned.get("retry_after") is None:
            self.add_error("retry_after", "A 429 needs a Retry-After in seconds.")
        if kind == SandboxFault.Kind.LATENCY and not cleaned.get("latency_seconds"):
            self.add_error("latency_seconds", "Latency needs a number of seconds above 0.")
        return cleaned


class HoldForm(forms.Form):
    held = forms.TypedChoiceField(
        choices=[("true", "Hold"), ("false", "Release")], coerce=lambda value: value == "true"
    )
