"""Staff review of consents. Evidence is read-only for everyone, superusers included."""

from __future__ import annotations

import csv

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from companies.admin_changelist import DateSafeChangeListMixin
from companies.selectors import signed_in_user
from consents.models import (
    CodatSyncState,
    Consent,
    ConsentEvent,
    ConsentText,
    DeletionRecord,
    Product,
    ScheduledDeletion,
)
from consents.services import (
    AlreadyWithdrawn,
    RequestMeta,
    consent_text_publish,
    consent_withdraw,
)


def _csv_response(name: str, header: list[str], rows) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    writer = csv.writer(response)
    writer.writerow(header)
    for row in rows:
        # A leading =, +, - or @ would run as a formula in a spreadsheet.
        writer.writerow(
            [f"'{v}" if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v for v in row]
        )
    return response


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "required_source_types", "active", "display_order")
    list_filter = ("active",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # consents refer to it; deactivate instead


class ConsentTextForm(forms.ModelForm):
    """The retention period may be left empty: the new version keeps the previous one's."""

    retention_days = forms.IntegerField(
        min_value=0,
        required=False,
        help_text="Days the data read for this product is kept after its use ends, then "
        "deleted at Codat. Empty: as the previous version.",
    )
    retention_summary = forms.CharField(
        max_length=200,
        required=False,
        help_text='The same promise in plain words, e.g. "deleted within 30 days of when you '
        'stop sharing". Empty: as the previous version.',
    )

    class Meta:
        model = ConsentText
        fields = ("product", "body", "retention_days", "retention_summary")


@admin.register(ConsentText)
class ConsentTextAdmin(admin.ModelAdmin):
    """Published wording is never edited: "add" publishes the next version for a product."""

    form = ConsentTextForm

    list_display = ("product", "version", "retention_days", "published_at", "sha256")
    list_filter = ("product",)
    fields = ("product", "body", "retention_days", "retention_summary")
    readonly_fields = ()

    _published_fields = (
        "product",
        "version",
        "body",
        "retention_days",
        "retention_summary",
        "sha256",
        "published_at",
    )

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        if obj is not None:
            return self._published_fields
        return ()

    def get_fields(self, request: HttpRequest, obj=None):
        if obj is not None:
            return self._published_fields
        return ("product", "body", "retention_days", "retention_summary")

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        published = consent_text_publish(
            product=obj.product,
            body=obj.body,
            retention_days=obj.retention_days,
            retention_summary=obj.retention_summary,
        )
        obj.pk, obj.version, obj.sha256 = published.pk, published.version, published.sha256
        obj._state.adding = False


@admin.register(Consent)
class ConsentAdmin(DateSafeChangeListMixin, ReadOnlyAdmin):
    list_display = ("company", "product", "state", "granted_at", "granted_by", "withdrawn_at")
    list_filter = ("product", "state", "granted_at", "withdrawn_at")
    search_fields = ("company__name", "company__memberships__user__email", "granted_by__email")
    list_select_related = ("company", "product", "granted_by")
    date_hierarchy = "granted_at"
    actions = ["export_csv", "withdraw_on_behalf"]

    def has_withdraw_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("consents.change_consent")

    @admin.action(
        description="Withdraw on the customer's behalf (e.g. asked by phone)",
        permissions=["withdraw"],
    )
    def withdraw_on_behalf(self, request: HttpRequest, queryset) -> None:
        """Recorded as a staff action by this staff member; the customer is emailed as usual."""
        done = 0
        for consent in queryset.filter(state=Consent.State.ACTIVE):
            try:
                consent_withdraw(
                    consent=consent,
                    actor=signed_in_user(request),
                    meta=RequestMeta.from_request(request, surface="admin").as_staff(),
                    on_behalf=True,
                )
            except AlreadyWithdrawn:
                continue
            done += 1
        self.message_user(
            request, f"Withdrew {done} consent(s); each is recorded as a staff action."
        )

    @admin.action(description="Export selected consents as CSV")
    def export_csv(self, request: HttpRequest, queryset) -> HttpResponse:
        rows = (
            (
                str(c.id),
                c.company.name,
                str(c.company_id),
                c.product.slug,
                c.state,
                " ".join(c.data_types),
                c.text.version,
                c.text.sha256,
                c.granted_by.email,
                c.granted_at.isoformat(),
                c.withdrawn_at.isoformat() if c.withdrawn_at else "",
            )
            for c in queryset.select_related("company", "product", "text", "granted_by")
        )
        return _csv_response(
            "consents",
            [
                "id",
                "company",
                "company_id",
                "product",
                "state",
                "data_types",
                "text_version",
                "text_sha256",
                "granted_by",
                "granted_at",
                "withdrawn_at",
            ],
            rows,
        )

    def get_actions(self, request: HttpRequest):
        # Read-only admins lose actions by default in Django; keep the export.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


@admin.register(ConsentEvent)
class ConsentEventAdmin(DateSafeChangeListMixin, ReadOnlyAdmin):
    list_display = ("occurred_at", "action", "product", "company", "actor", "method", "ip_address")
    list_filter = ("action", "product", "method", "occurred_at")
    search_fields = ("company__name", "actor__email", "company__memberships__user__email")
    list_select_related = ("company", "product", "actor")
    date_hierarchy = "occurred_at"
    actions = ["export_csv"]

    @admin.action(description="Export selected events as CSV")
    def export_csv(self, request: HttpRequest, queryset) -> HttpResponse:
        rows = (
            (
                str(e.id),
                e.occurred_at.isoformat(),
                e.action,
                e.company.name,
                str(e.company_id),
                e.product.slug,
                e.actor.email if e.actor else "",
                " ".join(e.data_types),
                e.text_sha256,
                e.ip_address or "",
                e.user_agent,
                e.method,
                e.surface,
                e.request_id,
            )
            for e in queryset.select_related("company", "product", "actor")
        )
        return _csv_response(
            "consent-events",
            [
                "id",
                "occurred_at",
                "action",
                "company",
                "company_id",
                "product",
                "actor",
                "data_types",
                "text_sha256",
                "ip_address",
                "user_agent",
                "method",
                "surface",
                "request_id",
            ],
            rows,
        )

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


@admin.register(CodatSyncState)
class CodatSyncStateAdmin(ReadOnlyAdmin):
    """What Codat still has to be told: a pending row is retried until Codat has it."""

    list_display = ("company", "pending", "attempts", "last_attempt_at", "next_attempt_at")
    list_filter = ("pending",)
    search_fields = ("company__name",)
    list_select_related = ("company",)


@admin.register(ScheduledDeletion)
class ScheduledDeletionAdmin(DateSafeChangeListMixin, ReadOnlyAdmin):
    """Every deletion at Codat that retention calls for, with its date; carried out by
    `manage.py enforce_retention`, never from here."""

    list_display = (
        "company",
        "target",
        "connection",
        "delete_after",
        "done_at",
        "attempts",
        "last_error",
    )
    list_filter = ("target", ("done_at", admin.EmptyFieldListFilter), "delete_after")
    search_fields = ("company__name", "connection__platform_name", "reason")
    list_select_related = ("company", "connection")
    date_hierarchy = "delete_after"


@admin.register(DeletionRecord)
class DeletionRecordAdmin(DateSafeChangeListMixin, ReadOnlyAdmin):
    """Evidence of what was deleted at Codat, when and why (append-only)."""

    list_display = ("company", "target", "platform_name", "cause", "deleted_at", "promised_by")
    list_filter = ("cause", "target", "deleted_at")
    search_fields = ("company__name", "platform_name", "reason")
    list_select_related = ("company",)
    date_hierarchy = "deleted_at"
