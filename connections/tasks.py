"""Background work for connections, through the django-tasks API."""

from __future__ import annotations

from django_tasks import task

from connections.webhook_processing import webhook_event_process


@task()
def process_codat_webhook(event_id: str) -> str:
    """Apply one stored Codat webhook (queued by the intake view once its row commits).

    Never raises for a bad event: the outcome, failures included, is recorded on the event.
    """
    return webhook_event_process(event_id=event_id)
