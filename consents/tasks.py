"""Background work for consents, through the django-tasks API."""

from __future__ import annotations

from django_tasks import task

from companies.models import Company
from companies.scoping import scope
from consents.services import codat_sync_settings_apply


@task()
def apply_codat_sync_settings(company_id: str) -> bool:
    company = Company.objects.filter(pk=company_id).first()
    if company is None:
        return False
    with scope(company=company):
        return codat_sync_settings_apply(company=company)
