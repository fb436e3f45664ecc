"""What customers' pages build, kept in the shared cache until what they show changes.

A customer's page shows a few facts about one company (its consents and their history, its
connections, their history and syncs, deletions at Codat, how its data was used) and the
catalogue every company shares (the products and their wording). Building it costs queries
and template rendering each time; showing it again when none of those facts has changed need
not. So a page keeps its costly *parts* here:

- **Versions.** Each company has a version per topic (`ACCESS`: everything but the data-use
  log; `USES`: the data-use log), and the catalogue has one for every company: a random token
  in the cache. The services that change those facts say so, `facts_changed(company)` (or
  `catalogue_changed()`): a new token at once, which the transaction's own reads see, and
  another once it commits, so that a part another request built from what it read before the
  commit cannot outlive it. A token missing from the cache (evicted, or unchanged for
  VERSION_SECONDS) is made anew, which only makes everything built under the old one
  unreachable.
- **Parts.** A part is stored with the tokens it was built under, the moment it stops being
  true by itself (a banking clock ending: see `Built.until`) and the code that built it
  (`code_stamp`: a deploy never shows a page built by the code it replaced). It is used only
  while all of those still hold, else built again. A request reads its versions and every part
  it needs in one round trip (`lookup`), and a cache that fails costs only the building.
- **Nothing of one person.** A body is rendered without the request (`render_fragment`): no
  user, session or messages can be in it, and its CSRF token is a placeholder that each
  request fills with its own (`fragment_html`). What differs between members of one company
  (the owner's extra link) is part of the key.

Everything lives in the cache that every server shares: no server keeps a state of its own.
With `PAGE_CACHE_VERIFY` on (the test suite), every part found in the cache is also built
afresh and must be the same, so any test that changes a fact without saying so fails.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache as once
from pathlib import Path
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

logger = logging.getLogger("companies")

T = TypeVar("T")

ACCESS = "access"
USES = "uses"
TOPICS = (ACCESS, USES)

# How long a part is kept at most. Every change that the services make replaces it sooner;
# this bounds what a change made outside them (by hand in the database) can leave behind.
PART_SECONDS = 10 * 60
# How long a version is kept once nothing changes it: longer than any part, and then made
# anew, so that companies no one visits leave nothing behind in the cache.
VERSION_SECONDS = 24 * 3600

_CATALOGUE_KEY = "page-v:catalogue"


def _version_key(topic: str, company_pk: object) -> str:
    return f"page-v:{topic}:{company_pk}"


# Folders of the project that hold no code or templates a page is built by. (Migrations
# count: one may change the products or their wording.)
_NOT_CODE = {".git", ".venv", "venv", "node_modules", "__pycache__", "tests", "docs"}


@once
def code_stamp() -> str:
    """A digest of the project's code and templates, and of the collected static files'
    names: the same on every server running one release, and another after a deploy."""
    digest = hashlib.sha256()
    base = Path(settings.BASE_DIR)
    for folder, subfolders, files in os.walk(base):
        subfolders[:] = sorted(d for d in subfolders if d not in _NOT_CODE)
        for name in sorted(files):
            if name.endswith((".py", ".html", ".txt")):
                path = Path(folder) / name
                digest.update(str(path.relative_to(base)).encode())
                digest.update(path.read_bytes())
    manifest = Path(settings.STATIC_ROOT) / "staticfiles.json"
    if manifest.is_file():
        digest.update(manifest.read_bytes())
    return digest.hexdigest()[:16]


# --- telling that facts changed -----------------------------------------------------------------


def _renew(keys: list[str]) -> None:
    try:
        if len(keys) == 1:  # the common case (a data-use row): one SET, not a pipeline
            cache.set(keys[0], secrets.token_hex(8), VERSION_SECONDS)
        else:
            cache.set_many({key: secrets.token_hex(8) for key in keys}, VERSION_SECONDS)
    except Exception:
        # The facts have changed all the same; what was built before is dropped within
        # PART_SECONDS.
        logger.exception("Could not renew page versions %s", keys)


def _renew_now_and_on_commit(keys: list[str]) -> None:
    _renew(keys)
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: _renew(keys), robust=True)


def facts_changed(company: Any, *topics: str) -> None:
    """The company's pages may show something else now (its consents, connections, their
    history, syncs or deletions: `ACCESS`, the default; the data-use log: `USES`)."""
    company_pk = getattr(company, "pk", company)
    _renew_now_and_on_commit([_version_key(t, company_pk) for t in topics or (ACCESS,)])


def catalogue_changed() -> None:
    """Every company's pages may show something else now (a product, its wording)."""
    _renew_now_and_on_commit([_CATALOGUE_KEY])


# --- parts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One thing a page keeps for a company: `name` and `variant` say which, `topics` which
    of its facts it shows (the catalogue always counts). A `shared` part shows no company's
    facts, only the catalogue: one copy serves everyone."""

    name: str
    variant: tuple[object, ...] = ()
    topics: tuple[str, ...] = (ACCESS,)
    shared: bool = False

    def key(self, company_pk: object) -> str:
        variant = ":".join(str(v) for v in self.variant)
        owner = "*" if self.shared else company_pk
        return f"page:{code_stamp()}:{owner}:{self.name}:{variant}"

    def version_keys(self, company_pk: object) -> list[str]:
        if self.shared:
            return [_CATALOGUE_KEY]
        return [_CATALOGUE_KEY, *(_version_key(t, company_pk) for t in self.topics)]


@dataclass(frozen=True)
class Built(Generic[T]):
    """What building a part made. `until`: when it stops being true without any fact changing
    (a banking clock ending), None if never. `keep=False`: good for this request only (a sync
    still running, a read Codat could not answer)."""

    value: T
    until: datetime | None = None
    keep: bool = True


@dataclass(frozen=True)
class _Entry:
    tokens: tuple[str, ...]
    until: float | None
    value: Any


@dataclass
class Lookup:
    """One request's versions and parts for its company, read from the cache in one round
    trip; `get` builds what is missing or out of date, and keeps it."""

    company_pk: object  # None: a visitor with no company, who can only have shared parts
    tokens: dict[str, str] = field(default_factory=dict)
    found: dict[str, Any] = field(default_factory=dict)
    asked: set[str] = field(default_factory=set)

    def read(self, parts: Iterable[Part]) -> None:
        keys = [k for k in (p.key(self.company_pk) for p in parts) if k not in self.asked]
        version_keys = [] if self.tokens else self._version_keys()
        if not keys and not version_keys:
            return
        self.asked.update(keys)
        try:
            found = cache.get_many(version_keys + keys)
        except Exception:
            logger.exception("Could not read the page cache")
            found = {}
        self.found.update({k: v for k, v in found.items() if k in keys})
        if version_keys:
            self.tokens = {key: found.get(key) or self._token_made(key) for key in version_keys}

    def _version_keys(self) -> list[str]:
        if self.company_pk is None:
            return [_CATALOGUE_KEY]
        return [_CATALOGUE_KEY, *(_version_key(t, self.company_pk) for t in TOPICS)]

    @staticmethod
    def _token_made(key: str) -> str:
        """A version that is not in the cache: a new one, unless another request made it
        first (then theirs)."""
        token = secrets.token_hex(8)
        try:
            if cache.add(key, token, VERSION_SECONDS):
                return token
            return cache.get(key) or ""
        except Exception:
            return ""

    def _tokens_for(self, part: Part) -> tuple[str, ...] | None:
        if self.company_pk is None and not part.shared:
            return None  # a company's part with no company: build, never keep
        tokens = tuple(self.tokens.get(k, "") for k in part.version_keys(self.company_pk))
        return None if "" in tokens else tokens  # no version to build under: don't keep

    def get(self, part: Part, build: Callable[[], Built[T]]) -> T:
        self.read([part])
        key = part.key(self.company_pk)
        tokens = self._tokens_for(part)
        entry = self.found.get(key)
        if (
            isinstance(entry, _Entry)
            and tokens is not None
            and entry.tokens == tokens
            and (entry.until is None or time.time() < entry.until)
        ):
            if getattr(settings, "PAGE_CACHE_VERIFY", False):
                _verify(part, entry.value, build().value)
            return entry.value
        built = build()
        if built.keep and tokens is not None:
            until = built.until.timestamp() if built.until is not None else None
            self.found[key] = _Entry(tokens, until, built.value)
            try:
                cache.set(key, self.found[key], PART_SECONDS)
            except Exception:
                logger.exception("Could not keep %s in the page cache", part.name)
        return built.value


_LOOKUP_ATTRIBUTE = "_page_cache_lookup"


def lookup(request: HttpRequest, company: Any, *parts: Part) -> Lookup:
    """The request's lookup for its company (None: the visitor has none), with `parts` read:
    in one round trip with the versions, the first time."""
    company_pk = company.pk if company is not None else None
    found = getattr(request, _LOOKUP_ATTRIBUTE, None)
    if found is None or found.company_pk != company_pk:
        found = Lookup(company_pk=company_pk)
        setattr(request, _LOOKUP_ATTRIBUTE, found)
    found.read(parts)
    return found


# --- rendered fragments -------------------------------------------------------------------------


@dataclass(frozen=True)
class Fragment:
    """Part of a page as HTML, rendered without the request. `placeholder` stands where each
    request's own CSRF token goes; `meta` carries what the page around it needs to know
    (its title …)."""

    html: str
    placeholder: str
    meta: dict[str, Any] = field(default_factory=dict)

    def normalised(self) -> Fragment:
        return replace(self, html=self.html.replace(self.placeholder, "CSRF"), placeholder="")


def render_fragment(template_name: str, context: dict[str, Any], **meta: Any) -> Fragment:
    """`template_name` rendered with `context` alone: no request, so no user, session,
    messages or context processors, and `{% csrf_token %}` writes a placeholder."""
    placeholder = secrets.token_hex(16)
    html = render_to_string(template_name, {**context, "csrf_token": placeholder})
    return Fragment(html=html, placeholder=placeholder, meta=meta)


def fragment_html(request: HttpRequest, fragment: Fragment) -> SafeString:
    """The fragment as this request shows it: with its own CSRF token."""
    html = fragment.html
    if fragment.placeholder in html:
        html = html.replace(fragment.placeholder, get_token(request))
    # The output of our own templates, which escaped what they showed, with a token made of
    # letters and digits put where its placeholder (hex digits) stood.
    return mark_safe(html)  # noqa: S308


class StalePagePart(AssertionError):
    """A part found in the cache differs from the same part built afresh: some change to the
    facts it shows did not call facts_changed()."""


def _verify(part: Part, kept: Any, fresh: Any) -> None:
    if isinstance(kept, Fragment) and isinstance(fresh, Fragment):
        kept, fresh = kept.normalised(), fresh.normalised()
    if kept == fresh:
        return
    kept_text, fresh_text = repr(kept), repr(fresh)
    at = next(
        (i for i, (a, b) in enumerate(zip(kept_text, fresh_text, strict=False)) if a != b),
        min(len(kept_text), len(fresh_text)),
    )
    around = slice(max(0, at - 300), at + 300)
    raise StalePagePart(
        f"{part.name}{part.variant} kept in the cache differs from a fresh build, from "
        f"character {at}:\nkept:  …{kept_text[around]}\nfresh: …{fresh_text[around]}"
    )
