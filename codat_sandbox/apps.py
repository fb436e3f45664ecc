from django.apps import AppConfig


class CodatSandboxConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "codat_sandbox"
    verbose_name = "Codat sandbox"
