"""Locust users for the multi-node run (`make cluster`; bench/cluster.py starts Locust with it).

Each iteration of a user is a new small business going through the whole journey as a person
would in a browser: sign up, open the emailed link, agree to a product, connect through the
sandbox's Link page, watch the sync progress, look at their consents, and usually withdraw
(some disconnecting their connections too). Every customer comes from its own loopback
address (127.x.y.z), so the rate limits see many customers, not one.

Every consent decision a user made, with the answer it got, is appended to
$CLUSTER_DECISIONS (JSON lines); bench/cluster.py checks afterwards that each one was recorded
with its evidence. Confirmation mail is read from $CLUSTER_MAILDIR, where the run's SMTP sink
puts it.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import time
import uuid
from collections import Counter
from http.cookiejar import DefaultCookiePolicy
from pathlib import Path
from urllib.parse import urlsplit

from locust import HttpUser, between, events, task
from requests.adapters import HTTPAdapter

MAILDIR = Path(os.environ.get("CLUSTER_MAILDIR", "mail"))
DECISIONS = Path(os.environ.get("CLUSTER_DECISIONS", "decisions.jsonl"))
PASSWORD = "cluster-run-Customer-7731"  # noqa: S105 - throwaway customers of a throwaway run
MAIL_WAIT_SECONDS = 30
# The products and the platforms each needs (Codat's sandbox platforms).
JOURNEYS = [
    ("business-insights", ["mqjo"], 0.7),
    ("lending", ["mqjo", "qhnd"], 0.3),
]
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) ClusterRun/1.0 (Locust)"
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_FORM_ACTION = re.compile(r'<form[^>]*method="post"[^>]*action="([^"]+)"')
_CONFIRM_LINK = re.compile(r"https?://\S+/accounts/signup/confirm/[^/\s]+/")
_addresses = itertools.count(1)


# The run serves plain HTTP on loopback while the app (DEBUG off) marks its cookies Secure, as
# it would behind the bank's TLS load balancer: these browsers send them back anyway. (requests
# copies every jar into a new one with the default policy per request, so a policy set on the
# session's jar would not last: the default policy itself is changed, in this process only.)
DefaultCookiePolicy.return_ok_secure = lambda self, cookie, request: True  # type: ignore[method-assign]


class SourceAddress(HTTPAdapter):
    """Connections from one loopback address, as if the customer were on its own machine."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs["source_address"] = (self.source, 0)
        return super().init_poolmanager(*args, **kwargs)


def next_address() -> str:
    number = next(_addresses) + os.getpid() % 50 * 60_000
    return f"127.{1 + number // 65536 % 250}.{number // 256 % 256}.{number % 256 or 1}"


def csrf(html: str) -> str:
    match = _CSRF.search(html)
    if not match:
        raise AssertionError("no CSRF token on the page")
    return match.group(1)


def record(**decision: object) -> None:
    with DECISIONS.open("a") as log:
        log.write(json.dumps(decision) + "\n")


def wait_for_mail(email: str) -> str:
    """The sign-up link mailed to `email`."""
    deadline = time.monotonic() + MAIL_WAIT_SECONDS
    folder = MAILDIR / email
    while time.monotonic() < deadline:
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                match = _CONFIRM_LINK.search(path.read_text(errors="replace").replace("=\n", ""))
                if match:
                    return match.group(0)
        time.sleep(0.25)  # gevent patches sleep: other users carry on
    raise AssertionError(f"no sign-up mail for {email} within {MAIL_WAIT_SECONDS} s")


class Customer(HttpUser):
    wait_time = between(0.5, 2)

    def fresh_browser(self) -> None:
        self.client.cookies.clear()
        self.address = next_address()
        self.client.mount("http://", SourceAddress(self.address))
        self.client.headers["User-Agent"] = USER_AGENT

    def get(self, path: str, name: str | None = None, **kwargs):
        return self.client.get(path, name=name or path, **kwargs)

    def post(self, path: str, data: dict, name: str | None = None, **kwargs):
        return self.client.post(path, data=data, name=name or path, allow_redirects=False, **kwargs)

    def expect(self, response, *statuses: int):
        if response.status_code not in statuses:
            raise AssertionError(
                f"{response.request.method} {urlsplit(response.url).path}: "
                f"{response.status_code}, expected {statuses}"
            )
        return response

    @task
    def journey(self) -> None:
        self.fresh_browser()
        slug, platforms = random.choices(
            [(s, p) for s, p, _ in JOURNEYS], [w for *_, w in JOURNEYS]
        )[0]
        email = f"c-{uuid.uuid4().hex[:12]}@cluster.example"
        self.sign_up(email)
        self.agree(email, slug)
        connections = [self.connect(key) for key in platforms]
        for connection_path in connections:
            self.watch(connection_path)
        self.expect(self.get("/consents/"), 200)
        self.expect(self.get("/consents/receipt.json"), 200)
        if random.random() < 0.75:
            self.withdraw(email, slug)
        self.expect(self.get("/connections/"), 200)
        page = self.expect(self.get("/"), 200).text
        self.expect(self.post("/accounts/logout/", {"csrfmiddlewaretoken": csrf(page)}), 302)

    def sign_up(self, email: str) -> None:
        page = self.expect(self.get("/accounts/signup/"), 200).text
        data = {
            "csrfmiddlewaretoken": csrf(page),
            "name": "Casey Cluster",
            "email": email,
            "business_name": f"Cluster Goods {email[2:8]} Ltd",
            "password1": PASSWORD,
            "password2": PASSWORD,
        }
        self.expect(self.post("/accounts/signup/", data), 302)
        link = urlsplit(wait_for_mail(email)).path
        name = "/accounts/signup/confirm/[token]/"
        page = self.expect(self.get(link, name=name), 200).text
        answer = self.post(link, {"csrfmiddlewaretoken": csrf(page), "password": PASSWORD}, name)
        self.expect(answer, 302)

    def agree(self, email: str, slug: str) -> None:
        self.expect(self.get("/", name="/"), 200)
        self.expect(self.get(f"/products/{slug}/", name="/products/[slug]/"), 200)
        path = f"/products/{slug}/consent/"
        page = self.expect(self.get(path, name="/products/[slug]/consent/"), 200).text
        answer = self.post(
            path, {"csrfmiddlewaretoken": csrf(page), "agree": "on"}, "/products/[slug]/consent/"
        )
        record(
            email=email,
            product=slug,
            action="grant",
            status=answer.status_code,
            address=self.address,
            user_agent=USER_AGENT,
        )
        self.expect(answer, 302)

    def connect(self, key: str) -> str:
        """Through Codat's (the sandbox's) Link page and back; the connection page's path."""
        page = self.expect(self.get("/connections/new/"), 200).text
        started = self.post(
            f"/connect/{key}/", {"csrfmiddlewaretoken": csrf(page)}, "/connect/[key]/"
        )
        link = urlsplit(self.expect(started, 302).headers["Location"])
        link_path = link.path + (f"?{link.query}" if link.query else "")
        page = self.expect(self.get(link_path, name="/sandbox/link/[…] (Codat)"), 200).text
        action = _FORM_ACTION.search(page).group(1).replace("&amp;", "&")
        authorised = self.post(
            action,
            {"csrfmiddlewaretoken": csrf(page), "outcome": "authorize"},
            "/sandbox/link/[…]/authorize (Codat)",
        )
        back = urlsplit(self.expect(authorised, 302).headers["Location"])
        returned = self.client.get(
            f"{back.path}?{back.query}", name="/connections/return/", allow_redirects=False
        )
        target = self.expect(returned, 303).headers["Location"]
        if "/connections/attempts/" in target:
            raise AssertionError(f"the Link return ended on a failure page: {target}")
        return urlsplit(target).path

    def watch(self, connection_path: str) -> None:
        """The connection page, then its live progress as htmx polls it."""
        self.expect(self.get(connection_path, name="/connections/[id]/"), 200)
        for _ in range(random.randint(2, 6)):
            time.sleep(1)
            self.expect(
                self.get(
                    f"{connection_path}progress/",
                    name="/connections/[id]/progress/",
                    headers={"HX-Request": "true"},
                ),
                200,
            )

    def withdraw(self, email: str, slug: str) -> None:
        path = f"/products/{slug}/withdraw/"
        page = self.expect(self.get(path, name="/products/[slug]/withdraw/"), 200).text
        choices = re.findall(r'name="choice" value="([^"]+)"', page)
        choice = random.choice(choices) if choices else "withdraw"
        answer = self.post(
            path,
            {"csrfmiddlewaretoken": csrf(page), "choice": choice},
            "/products/[slug]/withdraw/",
        )
        record(
            email=email,
            product=slug,
            action="withdraw",
            choice=choice,
            status=answer.status_code,
            address=self.address,
            user_agent=USER_AGENT,
        )
        self.expect(answer, 302)


STATUSES = Path(os.environ.get("CLUSTER_STATUSES", "statuses.json"))
_by_class: Counter[str] = Counter()
_errors: dict[str, Counter[str]] = {}


@events.request.add_listener
def _count(request_type, name, response=None, exception=None, **kwargs) -> None:
    """Answers by status class, and the endpoints that answered other than 2xx/3xx: Locust
    counts 4xx and 5xx alike as failures, the run's report tells them apart."""
    status = getattr(response, "status_code", 0) or 0
    label = f"{status // 100}xx" if status else "no answer"
    _by_class[label] += 1
    if not 200 <= status < 400:
        _errors.setdefault(f"{request_type} {name}", Counter())[label] += 1


@events.quitting.add_listener
def _write_statuses(**kwargs) -> None:
    STATUSES.write_text(
        json.dumps(
            {"by_class": dict(_by_class), "errors": {k: dict(v) for k, v in _errors.items()}}
        )
    )
