from django.apps import AppConfig


class CompaniesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "companies"
    verbose_name = "Companies and members"

    def ready(self) -> None:
        # Registers the deploy checks (outgoing mail must really leave the server).
        from companies import checks  # noqa: F401
