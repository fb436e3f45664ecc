from django.apps import AppConfig


class ConnectionsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "connections"

    def ready(self) -> None:
        # Registers the system checks (the webhook secret must be usable before we serve).
        from connections import checks  # noqa: F401
