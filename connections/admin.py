from django.contrib import admin

from connections.models import Connection, Integration, LinkAttempt


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
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
    )

    def has_add_permission(self, request):
        # Connections are made by customers through Codat's Link flow, never by hand.
        return False


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    list_display = ("name", "key", "source_type", "enabled", "is_beta", "refreshed_at")
    list_filter = ("source_type", "enabled")
    search_fields = ("name", "key")


@admin.register(LinkAttempt)
class LinkAttemptAdmin(admin.ModelAdmin):
    list_display = ("connection", "user", "created_at", "expires_at", "used_at", "status_code")
    list_filter = ("status_code",)
    list_select_related = ("connection", "user")
    search_fields = ("user__email", "connection__company__name")
    readonly_fields = [f.name for f in LinkAttempt._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
