"""Staff review of consents. Evidence is read-only for everyone, superusers included."""

from __future__ import annotations

import csv

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from companies import page_cache
from companies.admin_changelist import BankScaleAdminMixin, DateSafeChangeListMixin
from companies.selectors import signed_in_user
from consents import pages
from consents.data_types import describe
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
    WITHDRAW_AND_DELETE,
    WITHDRAW_AND_DISCONNECT,
    WITHDRAW_ONLY,
    AlreadyWithdrawn,
    RequestMeta,
    consent_text_publish,
    consent_withdraw,
)

# Rows read from the database at a time while a CSV export streams.
CSV_BATCH_SIZE = 2000


class _Line:
    """csv.writer writes into this and gets the line back: one row, one chunk."""

    def write(self, value: str) -> str:
        return value


def _csv_cell(value):
    # A leading =, +, - or @ would run as a formula in a spreadsheet.
    return f"'{value}" if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") else value


def _csv_response(name: str, header: list[str], rows) -> StreamingHttpResponse:
    """A CSV file written out row by row as the database hands them over, so that exporting
    every event of a bank's customers costs the same memory as exporting one (issue 13: a
    300,000-row export built in memory took 2 GB and outlived a worker's timeout)."""

    def lines():
        # Written after the view has returned; `rows` reads a queryset the admin built inside
        # its own (unscoped) request, so it needs no scope of its own.
        writer = csv.writer(_Line())
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([_csv_cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    return response


CHOICES_IN_WORDS = {
    WITHDRAW_ONLY: "Withdraw only; connections kept",
    WITHDRAW_AND_DISCONNECT: "Withdraw and disconnect the connections no other product needs",
    WITHDRAW_AND_DELETE: "Withdraw and delete the connections no other product needs",
}


def _wording_link(text: ConsentText | None) -> str:
    if text is None:
        return "-"
    return format_html(
        '<a href="{}">{} wording, version {}</a> (published {})',
        reverse("admin:consents_consenttext_change", args=[text.pk]),
        text.product.name,
        text.version,
        f"{text.published_at:%d %b %Y}",
    )


def _in_words(data_types: list[str]) -> str:
    return ", ".join(t.label for t in describe(data_types)) or "none"


def _describe_details(details: dict) -> list[tuple[str, str]]:
    """A decision's details as labelled lines; keys this does not know are shown as they are,
    so nothing recorded is hidden from staff."""
    lines = []
    rest = dict(details)
    rest.pop("reason", None)  # shown as its own field
    rest.pop("effect", None)  # the decision says it
    if "choice" in rest:
        choice = rest.pop("choice")
        lines.append(("customer's choice", CHOICES_IN_WORDS.get(choice, str(choice))))
    if "stopped_data_types" in rest:
        lines.append(("stopped reading", _in_words(rest.pop("stopped_data_types"))))
    if "connections" in rest:
        count = len(rest.pop("connections"))
        lines.append(("connections disconnected", f"{count}" if count else "none"))
    for held in rest.pop("data_held", []):
        if held.get("deleted_now"):
            fate = "deleted at Codat then"
        elif held.get("kept_for"):
            fate = "kept for " + ", ".join(held["kept_for"])
        elif held.get("delete_after"):
            fate = f"to be deleted at Codat after {held['delete_after'][:10]}"
        else:
            fate = "nothing held"
        lines.append((f"data held from {held.get('platform', 'a connection')}", fate))
    lines += [(key.replace("_", " "), str(value)) for key, value in rest.items()]
    return lines or [("nothing further recorded", "")]


class StaffWithdrawalForm(forms.Form):
    reason = forms.CharField(
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="The customer sees this in their history and receipt, after "
        '"Withdrawn by" and the bank\'s name, e.g. "asked by phone on 3 March".',
        error_messages={"required": "Give the customer's reason: they are shown it."},
    )


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

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        page_cache.catalogue_changed()  # its name, purpose and data on every customer's pages


admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class PortalUserAdmin(UserAdmin):
    """Django's user admin; a person renamed here is renamed in the histories that show them
    (consents.pages.people_changed)."""

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if change:
            pages.people_changed([obj.pk])


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
class ConsentAdmin(BankScaleAdminMixin, DateSafeChangeListMixin, ReadOnlyAdmin):
    list_display = ("company", "product", "state", "granted_at", "granted_by", "withdrawn_at")
    list_filter = ("product", "state", "granted_at", "withdrawn_at")
    search_fields = ("company__name", "company__memberships__user__email", "granted_by__email")
    list_select_related = ("company", "product", "granted_by")
    date_hierarchy = "granted_at"
    # Newest grant first, from its index. The model's own order (by product) is a column of
    # another table: the list would join and sort every consent for each page of 100.
    ordering = ("-granted_at",)
    actions = ["export_csv", "withdraw_on_behalf"]
    fields = readonly_fields = (
        "company",
        "product",
        "state",
        "data_types_in_words",
        "wording",
        "granted_by",
        "granted_at",
        "banking_confirmed_at",
        "withdrawn_by",
        "withdrawn_at",
        "decisions",
    )

    def get_queryset(self, request: HttpRequest):
        # Everything the list shows, in the one query: the admin applies list_select_related
        # only when get_queryset has not chosen its own (it would be a query per row).
        return (
            super()
            .get_queryset(request)
            .select_related("company", "product", "granted_by", "text", "text__product")
        )

    @admin.display(description="data types")
    def data_types_in_words(self, consent: Consent) -> str:
        return _in_words(consent.data_types)

    @admin.display(description="wording agreed to")
    def wording(self, consent: Consent) -> str:
        return _wording_link(consent.text)

    @admin.display(description="decisions, newest first")
    def decisions(self, consent: Consent) -> str:
        events = ConsentEvent.objects.filter(consent=consent).order_by("-occurred_at")
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                '<li><a href="{}">{}</a>: {}</li>',
                (
                    (
                        reverse("admin:consents_consentevent_change", args=[e.pk]),
                        f"{e.occurred_at:%d %b %Y %H:%M}",
                        e.label_for_staff,
                    )
                    for e in events
                ),
            ),
        )

    def has_withdraw_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("consents.change_consent")

    @admin.action(
        description="Withdraw on the customer's behalf (e.g. asked by phone)",
        permissions=["withdraw"],
    )
    def withdraw_on_behalf(self, request: HttpRequest, queryset) -> HttpResponse | None:
        """First a confirmation page naming each consent, which asks for the customer's reason;
        then, once confirmed with one, a withdrawal recorded as the bank's staff acting at the
        customer's request. The customer sees "Withdrawn by <the bank>: <reason>" and is
        emailed as usual."""
        consents = list(
            queryset.filter(state=Consent.State.ACTIVE).select_related("company", "product")
        )
        form = StaffWithdrawalForm(request.POST if "confirm" in request.POST else None)
        if not consents:
            self.message_user(request, "None of those consents is active.", messages.WARNING)
            return None
        if not form.is_valid():
            return TemplateResponse(
                request,
                "admin/consents/consent/withdraw_on_behalf.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Withdraw on the customer's behalf?",
                    "opts": self.model._meta,
                    "consents": consents,
                    "form": form,
                    "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                    "bank_name": settings.BANK_NAME,
                },
            )
        done = 0
        for consent in consents:
            try:
                consent_withdraw(
                    consent=consent,
                    actor=signed_in_user(request),
                    meta=RequestMeta.from_request(request, surface="staff_admin").as_staff(),
                    on_behalf=True,
                    reason=form.cleaned_data["reason"],
                )
            except AlreadyWithdrawn:
                continue
            done += 1
        self.message_user(
            request,
            f'Withdrew {done} consent(s). The customer sees "Withdrawn by {settings.BANK_NAME}" '
            "with the reason given; each is recorded as a staff action by you.",
        )
        return None

    @admin.action(description="Export selected consents as CSV")
    def export_csv(self, request: HttpRequest, queryset) -> StreamingHttpResponse:
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
            .order_by("pk")
            .iterator(chunk_size=CSV_BATCH_SIZE)
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


class EventMethodFilter(admin.SimpleListFilter):
    """How a decision came in, from a fixed list rather than a scan of every event."""

    title = "method"
    parameter_name = "method"

    def lookups(self, request: HttpRequest, model_admin):
        return [("web", "web"), ("admin", "admin"), ("system", "system")]

    def queryset(self, request: HttpRequest, queryset):
        return queryset.filter(method=self.value()) if self.value() else queryset


@admin.register(ConsentEvent)
class ConsentEventAdmin(BankScaleAdminMixin, DateSafeChangeListMixin, ReadOnlyAdmin):
    """The evidence of one decision, in labelled fields and words: what was decided and what
    it left the consent as then (not its state today), who, the wording linked, the data
    types named, and how the request came in. The raw record is in the subject access export
    and the CSV."""

    list_display = ("occurred_at", "action", "product", "company", "actor", "method", "ip_address")
    # No date hierarchy and no "method" filter built from the column's values: on hundreds
    # of thousands of events each was a scan of the whole table on every load (issue 13). The
    # dates filter and a fixed list of the three methods do the same work from the index.
    list_filter = ("action", "product", EventMethodFilter, "occurred_at")
    search_fields = ("company__name", "actor__email", "company__memberships__user__email")
    list_select_related = ("company", "product", "actor")
    actions = ["export_csv"]
    fieldsets = (
        (
            "The decision",
            {
                "fields": (
                    "decision",
                    "state_then",
                    "occurred_at",
                    "company",
                    "product",
                    "consent_today",
                    "who",
                    "reason_given",
                )
            },
        ),
        ("What was agreed to", {"fields": ("wording", "text_sha256", "data_types_in_words")}),
        ("What it changed", {"fields": ("effects",)}),
        (
            "How it came in",
            {"fields": ("method", "surface", "ip_address", "user_agent", "request_id")},
        ),
    )
    readonly_fields = (
        "decision",
        "state_then",
        "occurred_at",
        "company",
        "product",
        "consent_today",
        "who",
        "reason_given",
        "wording",
        "text_sha256",
        "data_types_in_words",
        "effects",
        "method",
        "surface",
        "ip_address",
        "user_agent",
        "request_id",
    )

    def get_queryset(self, request: HttpRequest):
        return (
            super()
            .get_queryset(request)
            .select_related("company", "product", "actor", "text", "text__product", "consent")
        )

    @admin.display(description="decision")
    def decision(self, event: ConsentEvent) -> str:
        return event.label_for_staff

    @admin.display(description="consent after this decision")
    def state_then(self, event: ConsentEvent) -> str:
        return Consent.State(event.state_after).label

    @admin.display(description="the consent today")
    def consent_today(self, event: ConsentEvent) -> str:
        url = reverse("admin:consents_consent_change", args=[event.consent_id])
        return format_html(
            '<a href="{}">{} for {}</a>: {}',
            url,
            event.product.name,
            event.company.name,
            event.consent.get_state_display(),
        )

    @admin.display(description="who")
    def who(self, event: ConsentEvent) -> str:
        if event.actor is None:
            return "The system (no person)"
        name = event.actor.get_full_name()
        role = " (staff)" if event.action == ConsentEvent.Action.STAFF else ""
        return f"{name} <{event.actor.email}>{role}" if name else f"{event.actor.email}{role}"

    @admin.display(description="reason given to the customer")
    def reason_given(self, event: ConsentEvent) -> str:
        return event.reason or "-"

    @admin.display(description="wording")
    def wording(self, event: ConsentEvent) -> str:
        return _wording_link(event.text)

    @admin.display(description="data types")
    def data_types_in_words(self, event: ConsentEvent) -> str:
        return _in_words(event.data_types)

    @admin.display(description="effects")
    def effects(self, event: ConsentEvent) -> str:
        return format_html(
            "<dl>{}</dl>",
            format_html_join("", "<dt>{}</dt><dd>{}</dd>", _describe_details(event.details)),
        )

    @admin.action(description="Export selected events as CSV")
    def export_csv(self, request: HttpRequest, queryset) -> StreamingHttpResponse:
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
            .order_by("pk")
            .iterator(chunk_size=CSV_BATCH_SIZE)
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
