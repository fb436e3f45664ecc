"""What the Codat account must be set to for the app to work, checked and applied through the
app's own Codat client, against the real Codat or the sandbox alike (`manage.py codat_setup`).

Three things, each read back from Codat rather than assumed:
- the profile's redirect URL is the template the app's return page expects
  (settings.CODAT_REDIRECT_URL_TEMPLATE; docs/codat.md §4);
- exactly one enabled webhook consumer sends this site's webhook URL exactly the event types the
  app handles, for every company (docs/codat.md §8.1, §8.3);
- the client-wide sync settings fetch nothing: a company whose own settings miss a type follows
  them, and a fresh Codat account's fetch every type on first link (docs/codat.md §6.2). The app
  names every type in each company's settings anyway; this is the second lock.

Codat's API has no update for a consumer, and never returns a consumer's signing secret: a
consumer that is wrong is replaced (the new one first, so no event is missed), and the operator
copies the new secret from Codat's portal.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse

from codat.client import CodatClient
from codat.types import DATA_TYPES, SyncSetting, WebhookConsumer
from codat.webhook_events import HANDLED_EVENT_TYPES


@dataclass(frozen=True)
class Wanted:
    redirect_url: str
    webhook_url: str
    event_types: frozenset[str]


@dataclass
class Applied:
    changes: list[str]
    # True when a webhook consumer was created, whose signing secret is therefore new.
    new_consumer: bool = False


def codat_setup_wanted() -> Wanted:
    return Wanted(
        redirect_url=settings.CODAT_REDIRECT_URL_TEMPLATE,
        webhook_url=f"{settings.SITE_URL}{reverse('codat_webhook')}",
        event_types=HANDLED_EVENT_TYPES,
    )


def codat_setup_check(*, client: CodatClient) -> list[str]:
    """What is missing or wrong in the Codat account, one line each; empty when all is set."""
    wanted = codat_setup_wanted()
    problems = []
    redirect_url = client.get_profile().redirect_url
    if redirect_url != wanted.redirect_url:
        problems.append(
            f"The redirect URL is {redirect_url or 'not set'!r}; the app expects "
            f"{wanted.redirect_url!r}."
        )
    problems += _consumer_problems(client.list_webhook_consumers(), wanted)
    fetching = _client_wide_fetching(client.get_client_sync_settings().settings)
    if fetching:
        problems.append(
            f"The client-wide sync settings fetch {len(fetching)} data type(s) by themselves "
            f"(e.g. {', '.join(fetching[:3])}): a company whose own settings miss a type would "
            "have it fetched without consent."
        )
    return problems


def codat_setup_apply(*, client: CodatClient) -> Applied:
    """Fix whatever `codat_setup_check` finds; changes nothing that is already right."""
    wanted = codat_setup_wanted()
    applied = Applied(changes=[])

    profile = client.get_profile()
    if profile.redirect_url != wanted.redirect_url:
        client.update_profile(dataclasses.replace(profile, redirect_url=wanted.redirect_url))
        applied.changes.append(f"Set the redirect URL to {wanted.redirect_url!r}.")

    ours = [c for c in client.list_webhook_consumers() if c.url == wanted.webhook_url]
    keep = next((c for c in ours if _is_right(c, wanted)), None)
    if keep is None:
        keep = client.create_webhook_consumer(
            url=wanted.webhook_url, event_types=sorted(wanted.event_types)
        )
        applied.new_consumer = True
        applied.changes.append(
            f"Registered webhook consumer {keep.id} for {wanted.webhook_url} "
            f"({', '.join(keep.event_types)})."
        )
    for consumer in ours:
        if consumer.id != keep.id:
            # Created first, deleted after: no event falls between the two.
            client.delete_webhook_consumer(consumer.id)
            applied.changes.append(
                f"Deleted webhook consumer {consumer.id} for {consumer.url} "
                f"({_describe_consumer(consumer, wanted)})."
            )

    current = client.get_client_sync_settings()
    if _client_wide_fetching(current.settings):
        client.set_client_sync_settings(
            current.client_id,
            [SyncSetting(data_type, False, 0, 0) for data_type in DATA_TYPES],
        )
        applied.changes.append(
            "Set the client-wide sync settings to fetch nothing by themselves "
            f"({len(DATA_TYPES)} data types, each off)."
        )
    return applied


def _is_right(consumer: WebhookConsumer, wanted: Wanted) -> bool:
    return (
        not consumer.disabled
        and not consumer.company_tags
        and set(consumer.event_types) == wanted.event_types
    )


def _describe_consumer(consumer: WebhookConsumer, wanted: Wanted) -> str:
    if _is_right(consumer, wanted):
        return "a duplicate: every message would arrive twice"
    reasons = []
    if consumer.disabled:
        reasons.append("disabled")
    if consumer.company_tags:
        reasons.append(f"only for companies tagged {', '.join(consumer.company_tags)}")
    if not consumer.event_types:
        reasons.append("every event type, not only those the app handles")
    else:
        missing = sorted(wanted.event_types - set(consumer.event_types))
        extra = sorted(set(consumer.event_types) - wanted.event_types)
        if missing:
            reasons.append(f"missing {', '.join(missing)}")
        if extra:
            reasons.append(f"also {', '.join(extra)}, which the app does not handle")
    return "; ".join(reasons)


def _consumer_problems(consumers: list[WebhookConsumer], wanted: Wanted) -> list[str]:
    ours = [c for c in consumers if c.url == wanted.webhook_url]
    if not ours:
        return [f"No webhook consumer sends to {wanted.webhook_url}."]
    problems = []
    if len(ours) > 1:
        problems.append(
            f"{len(ours)} webhook consumers send to {wanted.webhook_url}; there must be one."
        )
    problems += [
        f"Webhook consumer {c.id} for {c.url}: {_describe_consumer(c, wanted)}."
        for c in ours
        if not _is_right(c, wanted)
    ]
    return problems


def _client_wide_fetching(client_settings: tuple[SyncSetting, ...]) -> list[str]:
    """Data types the client-wide settings fetch by themselves; a type they do not list counts,
    since Codat then applies its own default."""
    listed = {setting.data_type: setting for setting in client_settings}
    return [
        data_type
        for data_type in DATA_TYPES
        if data_type not in listed
        or listed[data_type].fetch_on_first_link
        or listed[data_type].sync_schedule > 0
    ] + sorted(
        data_type
        for data_type, setting in listed.items()
        if data_type not in DATA_TYPES and (setting.fetch_on_first_link or setting.sync_schedule)
    )
