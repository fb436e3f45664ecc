from __future__ import annotations

from typing import ClassVar

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpRequest, StreamingHttpResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from companies.admin_changelist import BankScaleAdminMixin, DateSafeChangeListMixin
from companies.models import Company, Membership
from connections.admin import CodatMirrorAdmin
from connections.models import Connection, ConnectionEvent
from consents.models import Consent, DataUse
from consents.selectors import company_timeline
from consents.subject_access import company_export


class ReadOnlyInline(admin.TabularInline):
    """History shown on the company page, oldest first; changed only through the app.

    A subclass shows its `fields` as its `readonly_fields`: plain names, typed as such, since
    Django's `fields` may also hold groups of names, which `readonly_fields` may not.
    """

    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ConnectionInline(ReadOnlyInline):
    model = Connection
    fields: ClassVar[tuple[str, ...]] = (
        "platform_name",
        "source_type",
        "status",
        "created_at",
        "linked_at",
        "deleted_at",
    )
    readonly_fields = fields
    ordering = ["created_at"]


class ConsentInline(ReadOnlyInline):
    model = Consent
    fields: ClassVar[tuple[str, ...]] = (
        "product",
        "state",
        "granted_at",
        "granted_by",
        "withdrawn_at",
    )
    readonly_fields = fields
    ordering = ["granted_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Consent]:
        return super().get_queryset(request).select_related("product", "granted_by")


_FULL_LISTS = [
    ("consents_consentevent", "consent events"),
    ("connections_connection", "connections"),
    ("connections_linkattempt", "Link attempts"),
    ("connections_webhookevent", "webhooks"),
    ("consents_deletionrecord", "deletions"),
    ("consents_scheduleddeletion", "scheduled deletions"),
]


def _record_url(record: models.Model) -> str:
    # Connection events have no admin page of their own: the link goes to their connection.
    if isinstance(record, ConnectionEvent):
        return reverse("admin:connections_connection_change", args=[record.connection_id])
    opts = record._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[record.pk])


class LabelledInlineFormSet(BaseInlineFormSet):
    """A tabular inline names its columns in headings that are not tied to the inputs below
    them, so a screen reader meets an unnamed select, text box and checkbox on every row (axe:
    `label`, `select-name`). Each input is named after its field, and its row."""

    def add_fields(self, form: forms.Form, index: int | None) -> None:
        super().add_fields(form, index)
        row = "new row" if index is None else f"row {index + 1}"
        for field in form.fields.values():
            if not field.widget.is_hidden:
                field.widget.attrs.setdefault("aria-label", f"{field.label}, {row}")


class DataUseInline(ReadOnlyInline):
    """The company's data-use log (P3) on its timeline: every gated read, refused ones too."""

    model = DataUse
    fk_name = "company"
    fields: ClassVar[tuple[str, ...]] = (
        "occurred_at",
        "product",
        "purpose",
        "reader_kind",
        "reader_name",
        "outcome",
        "data_types",
        "refused_data_types",
        "codat_calls",
    )
    readonly_fields = fields
    ordering = ["-occurred_at"]
    verbose_name_plural = "How the data was used"

    def get_queryset(self, request: HttpRequest) -> QuerySet[DataUse]:
        return super().get_queryset(request).select_related("product")


class MembershipInline(admin.TabularInline):
    model = Membership
    formset = LabelledInlineFormSet
    extra = 0
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]
    # A select box would load every user in the system on each company page.
    raw_id_fields = ["user"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).select_related("user")


@admin.register(Company)
class CompanyAdmin(BankScaleAdminMixin, DateSafeChangeListMixin, CodatMirrorAdmin):
    # Not deletable here: it maps to a Codat company, which deleting our row would orphan.
    list_display = ["name", "codat_company_id", "created_at", "closed_at", "member_count"]
    list_filter = [("closed_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "codat_company_id", "memberships__user__email"]
    readonly_fields = [
        "id",
        "codat_company_id",
        "created_at",
        "closed_at",
        "subject_access",
        "timeline",
        "lending_review",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "id",
                    "name",
                    "codat_company_id",
                    "created_at",
                    "closed_at",
                    "subject_access",
                    "lending_review",
                ]
            },
        ),
        # After the evidence nothing on the page is editable but the name and the members.
        ("Timeline, newest first", {"fields": ["timeline"], "classes": ["timeline"]}),
    ]
    date_hierarchy = "created_at"
    inlines = [MembershipInline, ConnectionInline, ConsentInline, DataUseInline]
    timeline_limit = 50

    def get_urls(self):
        export = self.admin_site.admin_view(self.subject_access_export)
        return [
            path("<path:object_id>/export/", export, name="companies_company_export"),
            *super().get_urls(),
        ]

    @admin.display(description="subject access")
    def subject_access(self, company: Company) -> str:
        if company._state.adding:
            return "-"  # the add page: nothing held yet
        url = reverse("admin:companies_company_export", args=[company.pk])
        return format_html('<a href="{}">Export everything held (JSON)</a>', url)

    @admin.display(description="everything that happened")
    def timeline(self, company: Company) -> str:
        """Consent decisions, connection changes, Link attempts, webhooks and deletions at
        Codat in one list, each linked to its own page; the newest `timeline_limit`, with
        links to the full lists when there are more."""
        if company._state.adding:
            return "-"
        timeline = company_timeline(company, limit=self.timeline_limit)
        if not timeline.entries:
            return "Nothing yet."
        rows = format_html_join(
            "",
            '<tr><td><time datetime="{}">{}</time></td><td>{}</td>'
            '<td><a href="{}">{}</a></td><td>{}</td></tr>',
            (
                (
                    entry.occurred_at.isoformat(),
                    f"{entry.occurred_at:%d %b %Y %H:%M:%S}",
                    entry.source,
                    _record_url(entry.record),
                    entry.what,
                    entry.who,
                )
                for entry in timeline.entries
            ),
        )
        table = format_html(
            '<table class="company-timeline"><thead><tr><th scope="col">When (UTC)</th>'
            '<th scope="col">Kind</th><th scope="col">What</th><th scope="col">Who</th>'
            "</tr></thead><tbody>{}</tbody></table>",
            rows,
        )
        if not timeline.more:
            return table
        older = format_html_join(
            ", ",
            '<a href="{}?company={}">{}</a>',
            (
                (reverse(f"admin:{name}_changelist"), company.pk, label)
                for name, label in _FULL_LISTS
            ),
        )
        return format_html(
            "{}<p>Showing the newest {}. Everything, kind by kind: {}.</p>",
            table,
            self.timeline_limit,
            older,
        )

    def subject_access_export(self, request: HttpRequest, object_id: str) -> StreamingHttpResponse:
        """Everything held about the company, streamed (consents/subject_access.py)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        # As the admin's own pages look an object up: a malformed id is a 404, not an error.
        company = self.get_object(request, unquote(object_id))
        if company is None:
            raise Http404("No such company")
        response = StreamingHttpResponse(
            company_export(company), content_type="application/json; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="subject-access-{company.pk}.json"'
        return response

    def get_queryset(self, request: HttpRequest) -> QuerySet[Company]:
        # One query for the whole changelist, however many companies it shows. A subquery per
        # row shown, not a join and GROUP BY: grouped, the list (and its count and dates) would
        # join and group every company and member before taking its page of them.
        members = (
            Membership.objects.filter(company=OuterRef("pk"))
            .order_by()
            .values("company")
            .annotate(count=Count("pk"))
            .values("count")
        )
        return super().get_queryset(request).annotate(_member_count=Coalesce(Subquery(members), 0))

    @admin.display(description="Lending review")
    def lending_review(self, company: Company) -> str:
        if company._state.adding:
            return "-"  # the add page: nothing to review yet
        # A link, not the figures: opening it reads the data, under the staff member's name.
        url = reverse("insights:lending_review", args=[company.pk])
        return format_html('<a href="{}">Open the Lending review (reads the data)</a>', url)

    @admin.display(description="members", ordering="_member_count")
    def member_count(self, company: Company) -> int:
        return company._member_count  # type: ignore[attr-defined]


@admin.register(Membership)
class MembershipAdmin(BankScaleAdminMixin, admin.ModelAdmin):
    list_display = ["user_email", "company", "role", "created_at"]
    list_filter = ["role"]
    list_select_related = ["user", "company"]
    search_fields = ["user__email", "user__first_name", "company__name"]
    raw_id_fields = ["user", "company"]
    readonly_fields = ["created_at"]

    @admin.display(description="user email", ordering="user__email")
    def user_email(self, membership: Membership) -> str:
        return membership.user.email
