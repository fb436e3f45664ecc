from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils.html import format_html

from codat.errors import CodatError
from codat.types import DATA_TYPES
from companies.admin_changelist import BankScaleAdminMixin, DateSafeChangeListMixin
from companies.selectors import signed_in_user
from connections.models import (
    CodatCompanyDeletion,
    Connection,
    DataSync,
    Integration,
    LinkAttempt,
    WebhookEvent,
)
from connections.services import codat_company_delete
from consents.services import connection_disconnect_recorded


class CodatMirrorAdmin(admin.ModelAdmin):
    """Rows that mirror what Codat holds. Deleting one here would not tell Codat: the company,
    its connections and their data would stay there, with nothing left on our side to find or
    delete them by. So nobody deletes them in the admin, superusers included; a connection is
    ended with "Disconnect at Codat", through the same service as the customer's Disconnect."""

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context=None):
        # Django would answer a hand-made delete_selected POST with "No action selected" or
        # just the list; refuse it as what it is, so it shows (and is logged) as forbidden.
        if request.method == "POST" and request.POST.get("action") == "delete_selected":
            raise PermissionDenied
        return super().changelist_view(request, extra_context)


@admin.register(Connection)
class ConnectionAdmin(BankScaleAdminMixin, DateSafeChangeListMixin, CodatMirrorAdmin):
    list_display = (
        "platform_name",
        "company",
        "source_type",
        "status",
        "created_at",
        "linked_at",
        "last_sync",
    )
    list_filter = ("status", "source_type", "platform_name")
    search_fields = (
        "company__name",
        "codat_connection_id",
        "company__codat_company_id",
        "company__memberships__user__email",
    )
    list_select_related = ("company",)
    date_hierarchy = "created_at"
    readonly_fields = (
        "id",
        "company",
        "codat_connection_id",
        "platform_key",
        "platform_name",
        "source_type",
        "status",
        "created_at",
        "linked_at",
        "last_sync",
        "status_changed_at",
        "deleted_at",
        "last_error",
        "status_event_at",
    )

    actions = ["disconnect_at_codat"]

    def has_add_permission(self, request):
        # Connections are made by customers through Codat's Link flow, never by hand.
        return False

    def has_disconnect_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("connections.change_connection")

    @admin.action(
        description="Disconnect at Codat (as the customer's Disconnect does)",
        permissions=["disconnect"],
    )
    def disconnect_at_codat(self, request: HttpRequest, queryset) -> None:
        """Each connection separately: one failing at Codat does not stop the others."""
        for connection in queryset.select_related("company"):
            if connection.is_deleted:
                self.message_user(
                    request,
                    f"{connection.platform_name} for {connection.company} was already "
                    "disconnected.",
                    messages.INFO,
                )
                continue
            try:
                connection_disconnect_recorded(
                    connection=connection,
                    actor=signed_in_user(request),
                    reason="Our staff disconnected it, as you asked.",
                )
            except CodatError as exc:
                self.message_user(
                    request,
                    f"{connection.platform_name} for {connection.company} is NOT disconnected: "
                    f"Codat failed ({type(exc).__name__}: {exc}). Nothing was changed; try "
                    "again later.",
                    messages.ERROR,
                )
                continue
            self.log_change(request, connection, "Disconnected at Codat.")
            self.message_user(
                request,
                f"{connection.platform_name} for {connection.company} is disconnected at Codat.",
                messages.SUCCESS,
            )


@admin.register(Integration)
class IntegrationAdmin(CodatMirrorAdmin):
    """Our copy of Codat's catalogue; a deleted row would return with the next refresh.
    Untick `enabled` to hide an integration from customers."""

    list_display = ("name", "key", "source_type", "enabled", "is_beta", "refreshed_at")
    list_filter = ("source_type", "enabled")
    search_fields = ("name", "key")


@admin.register(LinkAttempt)
class LinkAttemptAdmin(BankScaleAdminMixin, CodatMirrorAdmin):
    # Each trip through Codat's Link, kept with its connection; only the service retires one.
    list_display = ("connection", "user", "created_at", "expires_at", "used_at", "status_code")
    list_filter = ("status_code",)
    list_select_related = ("connection", "user")
    search_fields = ("user__email", "connection__company__name")
    readonly_fields = [f.name for f in LinkAttempt._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(BankScaleAdminMixin, DateSafeChangeListMixin, admin.ModelAdmin):
    """Every verified Codat delivery, read-only: the stored body is the evidence."""

    list_display = ("webhook_id", "event_type", "status", "company", "received_at", "attempts")
    list_filter = ("status", "event_type")
    search_fields = (
        "webhook_id",
        "event_id",
        "event_type",
        "company__name",
        "company__codat_company_id",
    )
    list_select_related = ("company",)
    date_hierarchy = "received_at"
    fields = (
        "webhook_id",
        "event_id",
        "event_type",
        "generated_at",
        "received_at",
        "status",
        "company",
        "attempts",
        "processed_at",
        "outcome",
        "error",
        "body_text",
    )
    readonly_fields = fields

    @admin.display(description="Body (as received)")
    def body_text(self, obj: WebhookEvent) -> str:
        # Raw bytes, decoded for reading only; undecodable bytes show as U+FFFD.
        return format_html("<pre>{}</pre>", bytes(obj.body).decode("utf-8", errors="replace"))

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # Reprocessing is `manage.py codat_process_webhooks`; no hand edits to the record.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # Ids must outlive Codat's retry window (W4); deleting one would let a retry re-apply.
        return False


class DataTypeFilter(admin.SimpleListFilter):
    """Codat's data types from our fixed list of them, not from a scan of every sync for the
    values it holds (a type Codat adds before the list has it is still found by search)."""

    title = "data type"
    parameter_name = "data_type"

    def lookups(self, request: HttpRequest, model_admin):
        return [(data_type, data_type) for data_type in sorted(DATA_TYPES)]

    def queryset(self, request: HttpRequest, queryset):
        return queryset.filter(data_type=self.value()) if self.value() else queryset


@admin.register(DataSync)
class DataSyncAdmin(BankScaleAdminMixin, CodatMirrorAdmin):
    list_display = (
        "connection",
        "data_type",
        "status",
        "records_modified",
        "last_event_at",
        "last_success_at",
        "updated_at",
    )
    list_filter = ("status", DataTypeFilter)
    # A connection's syncs together, from the unique index. The model's own order goes through
    # the connection's (newest first), a column of another table: a search matching thousands
    # of syncs would join them all to sort them for a page of 100.
    ordering = ("connection_id", "data_type")
    search_fields = (
        "data_type",
        "connection__company__name",
        "connection__codat_connection_id",
    )
    list_select_related = ("connection", "connection__company")
    readonly_fields = [f.name for f in DataSync._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class DeletionPendingFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("pending", "Pending at Codat"), ("deleted", "Deleted at Codat")]

    def queryset(self, request, queryset):
        if self.value() in ("pending", "deleted"):
            return queryset.filter(deleted_at__isnull=self.value() == "pending")
        return queryset


@admin.register(CodatCompanyDeletion)
class CodatCompanyDeletionAdmin(CodatMirrorAdmin):
    """Codat companies we must delete (closed accounts): pending ones are retried until Codat
    confirms (`manage.py codat_delete_companies`); staff can also try one again now."""

    list_display = (
        "codat_company_id",
        "company",
        "reason",
        "state",
        "requested_at",
        "attempts",
        "next_attempt_at",
        "deleted_at",
    )
    list_filter = (DeletionPendingFilter, "reason")
    list_select_related = ("company",)
    search_fields = ("codat_company_id", "company__id")
    readonly_fields = [f.name for f in CodatCompanyDeletion._meta.fields]
    actions = ["delete_at_codat_now"]

    @admin.display(description="state")
    def state(self, deletion: CodatCompanyDeletion) -> str:
        return "pending" if deletion.is_pending else "deleted"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("connections.view_codatcompanydeletion")

    @admin.action(description="Try the deletion at Codat again now", permissions=["retry"])
    def delete_at_codat_now(self, request: HttpRequest, queryset) -> None:
        for deletion in queryset:
            if codat_company_delete(deletion=deletion):
                self.message_user(
                    request,
                    f"Codat company {deletion.codat_company_id} is deleted.",
                    messages.SUCCESS,
                )
            else:
                self.message_user(
                    request,
                    f"Codat company {deletion.codat_company_id} is NOT deleted yet; it stays "
                    "pending and is retried.",
                    messages.ERROR,
                )
