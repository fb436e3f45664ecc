from __future__ import annotations

from django.apps import AppConfig


class CodatSandboxConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "codat_sandbox"
    verbose_name = "Codat sandbox"

    def ready(self) -> None:
        # Webhooks are sent "asynchronously, after the API call returns": in a serving process
        # (runserver, gunicorn) a daemon thread pumps the outbox. Never under pytest or for
        # other management commands; tests call webhooks.deliver_due() themselves.
        from .webhooks import start_pump_if_serving

        start_pump_if_serving()
