"""The multi-node run (`make cluster`): the deployment the README describes, under load, with
nodes restarted mid-run, and a proof afterwards that nothing was lost.

What it starts, all on 127.0.0.1 and all thrown away afterwards:

- a PostgreSQL database of its own (`cluster_consent_portal`, created, migrated and dropped;
  the database named in --database-url is only used to connect for CREATE/DROP DATABASE) and
  a Redis database number of its own as the shared cache (flushed before and after);
- two web nodes, each gunicorn with 2 workers x 4 threads, behind a round-robin proxy
  (bench/cluster_proxy.py) that is the site's address (SITE_URL);
- two `manage.py db_worker` processes (the database task backend);
- an SMTP sink that keeps each mail in a folder per recipient, so customers can open their
  sign-up link: the app sends real mail over SMTP, as in production;
- production settings: DEBUG off, random secret key, random webhook secret; the Codat sandbox
  on as in a demo deployment (CODAT_SANDBOX=true, its own long key);
- Codat: the same code in a third gunicorn, which the app reaches over HTTP
  (CODAT_BASE_URL), as it would reach Codat; it is never restarted. The sandbox's Link pages
  are on the site (through the proxy), and its webhooks come through the proxy too, so
  webhooks, Link returns and drains land on either node;
- the sandbox misbehaving, from a Django shell: every webhook it delivered is sent again one
  to three times (the same id: duplicates) and about 15 a second more copies of earlier ones
  go out (the storm), messages waiting to go out swap places (reordering), the outbox is held
  now and then so bursts build up, and now and then a linked connection expires;
- Locust (bench/cluster_locustfile.py), headless: customers sign up, agree to a product,
  connect through the sandbox's Link page, watch progress and mostly withdraw.

Mid-run it restarts web node A, then one worker, then web node B, as a rolling deploy does: a
node leaves the proxy's rotation, is stopped with SIGTERM (gunicorn finishes what it holds),
started again and rejoins. Afterwards it waits until everything due has been delivered and
processed, and proves:

1. every webhook the sandbox delivered is stored exactly once, and processed exactly once;
2. every consent decision a customer got a success for is recorded once, with its evidence
   (the wording's hash, the data types, the customer's address and browser), and each
   consent's state is where its history ends;
3. every connection we hold is in the state the sandbox (Codat) holds, and every connection
   Codat has for our companies is one we know.

It prints p50/p95/p99 per endpoint, throughput, errors by status, and the proof; it exits 1 if
any request got a 5xx or the proof fails, 2 if it could not set up.

    .venv/bin/python bench/cluster.py --help
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from webhook_intake import (
    BASE_DIR,
    HOST,
    BenchError,
    django_shell,
    free_port,
    manage,
    probe,
    random_secret_key,
    random_webhook_secret,
    tail,
    throwaway_database,
    venv_executable,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_DATABASE_NAME = "cluster_consent_portal"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
STARTUP_TIMEOUT_SECONDS = 40.0
# After the load: how long to wait for the outbox and the task queue to empty.
SETTLE_TIMEOUT_SECONDS = 150.0
_STRIPPED_PREFIXES = ("DJANGO_", "CODAT_", "DATABASE_", "GUNICORN_", "CLUSTER_")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Two web nodes, two workers, PostgreSQL and Redis under Locust, with "
        "restarts and a webhook storm; proves nothing was lost."
    )
    parser.add_argument("--users", type=int, default=8, help="concurrent Locust customers (8)")
    parser.add_argument("--spawn-rate", type=float, default=2.0, help="users started per s (2)")
    parser.add_argument("--duration", type=int, default=120, help="seconds of load (120)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per node (2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (4)")
    parser.add_argument(
        "--max-replays", type=int, default=3, help="duplicates per delivered webhook, 1..N (3)"
    )
    parser.add_argument(
        "--storm",
        type=int,
        default=15,
        help="further copies of earlier webhooks, picked at random, sent each second (15)",
    )
    parser.add_argument("--no-restarts", action="store_true", help="restart nothing mid-run")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--database-name", default=DEFAULT_DATABASE_NAME)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="a database of its own")
    parser.add_argument("--keep", metavar="DIR", help="keep logs, mail and Locust's CSVs in DIR")
    return parser.parse_args()


# --- processes -------------------------------------------------------------------------------


@dataclass
class Service:
    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    port: int | None = None
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=BASE_DIR,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if self.port is not None:
            deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
            while probe(self.port, "/healthz", timeout=2)[0] != 200:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise BenchError(f"{self.name} did not start:\n{tail(self.log)}")
                time.sleep(0.2)

    def stop(self, timeout: float = 30) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # gunicorn and db_worker: a graceful stop
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def restart(self) -> float:
        started = time.monotonic()
        self.stop()
        self.start()
        return time.monotonic() - started


@contextmanager
def running(services: list[Service]) -> Iterator[None]:
    try:
        for service in services:
            service.start()
        yield
    finally:
        for service in reversed(services):
            service.stop()


@contextmanager
def smtp_sink(port: int, maildir: Path) -> Iterator[list[int]]:
    """An SMTP server that keeps every message as <maildir>/<recipient>/<n>.eml."""
    from aiosmtpd.controller import Controller

    count = [0]
    lock = threading.Lock()

    class Keep:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
            with lock:
                count[0] += 1
                number = count[0]
            for recipient in envelope.rcpt_tos:
                folder = maildir / recipient.lower()
                folder.mkdir(parents=True, exist_ok=True)
                temporary = folder / f".{number}.tmp"
                temporary.write_bytes(envelope.content)
                temporary.rename(folder / f"{number:06d}.eml")
            return "250 Message accepted"

    controller = Controller(Keep(), hostname=HOST, port=port)
    controller.start()
    try:
        yield count
    finally:
        controller.stop()


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


# --- the sandbox misbehaving, from a Django shell ----------------------------------------------

CHAOS = """
import json, os, random, time
from datetime import timedelta
from django.db import close_old_connections
from django.utils import timezone
from codat_sandbox import services, webhooks
from codat_sandbox.models import SandboxConnection, SandboxWebhookMessage
stop, max_replays, storm = {stop!r}, {max_replays}, {storm}
rng = random.Random(13)
counts = dict(duplicates=0, reorders=0, holds=0, expired=0)
replayed = set()
rounds = 0
while not os.path.exists(stop):
    rounds += 1
    # Duplicates: every message delivered once is sent again, same id and bytes.
    delivered = SandboxWebhookMessage.objects.filter(
        replay_of=None, delivered_at__isnull=False
    ).exclude(pk__in=replayed).order_by("id")[:300]
    for message in delivered:
        replayed.add(message.pk)
        for _ in range(rng.randint(1, max_replays)):
            webhooks.replay(message)
            counts["duplicates"] += 1
    # The storm: more copies of messages delivered earlier, picked at random.
    if replayed:
        for pk in rng.sample(sorted(replayed), min(storm, len(replayed))):
            webhooks.replay(SandboxWebhookMessage.objects.get(pk=pk))
            counts["duplicates"] += 1
    # Reordering: messages waiting to go out swap places in pairs.
    soon = timezone.now() + timedelta(seconds=5)
    waiting = list(SandboxWebhookMessage.objects.filter(
        delivered_at=None, failed_at=None, attempts=0, due_at__lte=soon
    ).order_by("due_at")[:60])
    rng.shuffle(waiting)
    for first, second in zip(waiting[::2], waiting[1::2]):
        try:
            webhooks.deliver_in_reverse_order(first, second)
            counts["reorders"] += 1
        except webhooks.ReorderError:
            pass
    # Now and then the outbox is held for two seconds, so a burst goes out at once.
    if rounds % 12 == 0:
        webhooks.set_held(True)
        counts["holds"] += 1
        time.sleep(2)
        webhooks.set_held(False)
    # Now and then a platform withdraws a linked connection's access.
    if rounds % 15 == 0:
        linked = SandboxConnection.objects.filter(status="Linked").order_by("?").first()
        if linked:
            services.connection_expire(connection=linked)
            counts["expired"] += 1
    close_old_connections()
    time.sleep(1)
print(json.dumps(counts))
"""

# Waits until nothing more is due: the outbox sent, every event processed, no task queued.
# A delivery that failed during the run (a node stopping as it arrived) is retried by Codat
# after 5 s, then 5 min, …: those retries are brought forward to now, not waited for.
OUTSTANDING = """
import json
from datetime import timedelta
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from codat_sandbox.models import SandboxWebhookMessage
from connections.models import WebhookEvent
now = timezone.now()
soon = now + timedelta(minutes=5)
retries = SandboxWebhookMessage.objects.filter(
    delivered_at=None, failed_at=None, attempts__gt=0, due_at__gt=now, last_attempt_at__lt=now
).exclude(due_at__lte=now + timedelta(seconds=5))
brought_forward = retries.update(due_at=now)
print(json.dumps({
    "retries_brought_forward": brought_forward,
    "outbox": SandboxWebhookMessage.objects.filter(
        delivered_at=None, failed_at=None, due_at__lte=soon
    ).count(),
    "received": WebhookEvent.objects.filter(status="received").count(),
    "tasks": DBTaskResult.objects.filter(status__in=["READY", "RUNNING"]).count(),
}))
"""

PROOF = """
import json
from collections import Counter
from datetime import timedelta
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from codat_sandbox.models import SandboxConnection, SandboxWebhookMessage
from companies.models import Company
from companies.scoping import scopes_disabled
from connections.models import Connection, WebhookEvent
from consents.models import Consent, ConsentEvent
decisions = [json.loads(line) for line in open({decisions!r})]
result = {{}}
with scopes_disabled():
    # 1. Webhooks: stored once, processed once.
    addressed = SandboxWebhookMessage.objects.exclude(recipients=[])
    delivered = addressed.filter(delivered_at__isnull=False)
    delivered_ids = set(delivered.values_list("msg_id", flat=True))
    stored = list(WebhookEvent.objects.values_list("webhook_id", "status", "attempts"))
    stored_ids = Counter(webhook_id for webhook_id, _, _ in stored)
    later = timezone.now() + timedelta(minutes=5)
    result["webhooks"] = {{
        "deliveries": delivered.count(),
        "duplicate_deliveries": delivered.exclude(replay_of=None).count(),
        "distinct_delivered": len(delivered_ids),
        "undelivered_due": addressed.filter(delivered_at=None, due_at__lte=later).count(),
        "undelivered_later": addressed.filter(delivered_at=None, due_at__gt=later).count(),
        "given_up": addressed.filter(failed_at__isnull=False).count(),
        "failed_attempts": sum(
            max(0, m.attempts - 1) for m in delivered.filter(attempts__gt=1).only("attempts")
        ),
        "stored": len(stored),
        "stored_twice": sum(1 for n in stored_ids.values() if n > 1),
        "delivered_not_stored": len(delivered_ids - set(stored_ids)),
        "stored_not_sent": len(set(stored_ids) - set(
            SandboxWebhookMessage.objects.values_list("msg_id", flat=True))),
        "by_status": dict(Counter(status for _, status, _ in stored)),
        "processing_attempts": dict(Counter(str(n) for _, _, n in stored)),
        "tasks": dict(Counter(DBTaskResult.objects.values_list("status", flat=True))),
    }}
    # 2. Consent decisions: each success recorded once, with its evidence.
    wanted = Counter((d["email"], d["product"], d["action"]) for d in decisions
                     if d["status"] == 302)
    evidence = {{(d["email"], d["product"], d["action"]): d for d in decisions}}
    recorded = Counter()
    bad_evidence = []
    for event in ConsentEvent.objects.filter(
        actor__email__endswith="@cluster.example"
    ).select_related("actor", "product", "text"):
        key = (event.actor.email, event.product.slug, event.action)
        recorded[key] += 1
        said = evidence.get(key)
        problems = []
        if not event.text_sha256 or event.text is None or event.text_sha256 != event.text.sha256:
            problems.append("wording hash")
        if not event.data_types:
            problems.append("data types")
        if said and event.ip_address != said["address"]:
            problems.append(f"address {{event.ip_address}} != {{said['address']}}")
        if said and event.user_agent != said["user_agent"]:
            problems.append("browser")
        if event.method != "web":
            problems.append(f"method {{event.method}}")
        if problems:
            bad_evidence.append(f"{{key}}: {{', '.join(problems)}}")
    wrong_state = []
    for consent in Consent.objects.all():
        last = consent.events.order_by("-occurred_at").first()
        expected = "withdrawn" if last and last.action == "withdraw" else "active"
        if last is None or consent.state != expected:
            wrong_state.append(str(consent.pk))
    result["consents"] = {{
        "decisions": sum(wanted.values()),
        "decisions_refused": sum(1 for d in decisions if d["status"] != 302),
        "events": sum(recorded.values()),
        "missing": sorted(str(k) for k in wanted if recorded[k] < wanted[k])[:10],
        "missing_count": sum(max(0, wanted[k] - recorded[k]) for k in wanted),
        "unexpected_count": sum(max(0, recorded[k] - wanted[k]) for k in recorded),
        "bad_evidence": bad_evidence[:10],
        "bad_evidence_count": len(bad_evidence),
        "consents": Consent.objects.count(),
        "wrong_state": wrong_state[:10],
    }}
    # 3. Connections: ours as Codat holds them.
    codat = {{str(c.pk): c.status for c in SandboxConnection.objects.all()}}
    ours = {{str(c.codat_connection_id): c.status for c in Connection.objects.all()}}
    ours_companies = set(
        str(i) for i in Company.objects.exclude(codat_company_id=None).values_list(
            "codat_company_id", flat=True))
    mismatched = []
    for codat_id, status in ours.items():
        held = codat.get(codat_id, "Deleted")  # gone at Codat: deleted
        if held != status:
            mismatched.append(f"{{codat_id}}: ours {{status}}, Codat {{held}}")
    unknown = [
        f"{{c.pk}} ({{c.status}} at Codat, created {{c.created:%H:%M:%S}})"
        for c in SandboxConnection.objects.filter(company_id__in=ours_companies)
        if str(c.pk) not in ours
    ]
    result["connections"] = {{
        "ours": len(ours),
        "by_status": dict(Counter(ours.values())),
        "codat": len(codat),
        "mismatched": mismatched[:10],
        "mismatched_count": len(mismatched),
        "unknown_to_us": unknown[:10],
        "unknown_to_us_count": len(unknown),
    }}
print(json.dumps(result))
"""


# --- Locust's figures --------------------------------------------------------------------------


def read_locust(prefix: Path, statuses_path: Path) -> tuple[list[dict[str, str]], dict]:
    with (prefix.parent / f"{prefix.name}_stats.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    statuses = json.loads(statuses_path.read_text()) if statuses_path.exists() else {}
    return rows, statuses


def print_figures(rows: list[dict[str, str]], statuses: dict) -> int:
    """The per-endpoint table; returns the number of 5xx answers."""
    header = (
        f"{'endpoint':<46}{'reqs':>7}{'fails':>6}{'p50':>7}{'p95':>7}{'p99':>7}{'max':>7}"
        f"{'req/s':>7}"
    )
    print(header)
    print("-" * len(header))
    for row in sorted(rows, key=lambda r: (r["Name"] == "Aggregated", r["Name"])):
        name = f"{row['Type']} {row['Name']}" if row["Name"] != "Aggregated" else "all"
        print(
            f"{name[:45]:<46}{row['Request Count']:>7}{row['Failure Count']:>6}"
            f"{row['50%']:>7}{row['95%']:>7}{row['99%']:>7}{float(row['Max Response Time']):>7.0f}"
            f"{float(row['Requests/s']):>7.1f}"
        )
    print("(times in ms, from Locust: what a customer waited, through the proxy)")
    by_class = statuses.get("by_class", {})
    print(f"answers by status class: {by_class}")
    for name, counts in sorted(statuses.get("errors", {}).items()):
        print(f"  not 2xx/3xx: {name}: {counts}")
    return int(by_class.get("5xx", 0))


# --- the run -----------------------------------------------------------------------------------


def environment(
    *, database_url: str, port: int, codat_port: int, smtp_port: int, redis_url: str
) -> dict:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_STRIPPED_PREFIXES)
        and name not in {"TASKS_BACKEND", "CACHE_URL", "EMAIL_URL", "SITE_URL"}
    }
    env.update(
        {
            "DJANGO_DEBUG": "false",
            "DJANGO_READ_DOT_ENV": "false",
            "DJANGO_SECRET_KEY": random_secret_key(),
            "DJANGO_ALLOWED_HOSTS": HOST,
            # TLS ends at the bank's load balancer; this run speaks plain HTTP on loopback.
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "SITE_URL": f"http://{HOST}:{port}",
            "DATABASE_URL": database_url,
            "CACHE_URL": redis_url,
            "TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
            "EMAIL_URL": f"smtp://{HOST}:{smtp_port}",
            "TRUSTED_PROXY_IP_HEADER": "HTTP_X_FORWARDED_FOR",
            "CODAT_SANDBOX": "true",
            "CODAT_SANDBOX_KEY": random_secret_key(),
            "CODAT_WEBHOOK_SECRET": random_webhook_secret(),
            # Codat is a service of its own: the app calls it over HTTP on its own port (its Link
            # pages, which customers open, are on the site), and its webhooks come through the
            # proxy to whichever node is next.
            "CODAT_SANDBOX_IN_PROCESS": "false",
            "CODAT_BASE_URL": f"http://{HOST}:{codat_port}/sandbox/codat",
            "CODAT_SANDBOX_WEBHOOK_PUMP": "thread",
            "CODAT_SANDBOX_SYNC_SPEED": "4",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def rolling_restart(service: Service, drain_dir: Path) -> float:
    """Restart a service; a web node leaves the proxy's rotation first and rejoins after."""
    if service.port is None:
        return service.restart()
    drained = drain_dir / f"{HOST}:{service.port}"
    drained.touch()
    time.sleep(1)  # requests already sent to it finish during gunicorn's graceful stop
    try:
        return service.restart() + 1
    finally:
        drained.unlink()


def wait_settled(env: dict[str, str]) -> dict[str, int]:
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    while True:
        left = json.loads(django_shell(env, OUTSTANDING).strip().splitlines()[-1])
        waiting = {key: n for key, n in left.items() if key != "retries_brought_forward"}
        if not any(waiting.values()) or time.monotonic() > deadline:
            return left
        print(f"  settling: {left}", flush=True)
        time.sleep(5)


def run(args: argparse.Namespace, work: Path) -> int:
    proxy_port, port_a, port_b, codat_port, smtp_port = (free_port() for _ in range(5))
    maildir, logs, drain_dir = work / "mail", work / "logs", work / "drain"
    for folder in (maildir, logs, drain_dir):
        folder.mkdir()
    flush_redis(args.redis_url)
    with throwaway_database(args.database_url, args.database_name, work) as (url, described):
        env = environment(
            database_url=url,
            port=proxy_port,
            codat_port=codat_port,
            smtp_port=smtp_port,
            redis_url=args.redis_url,
        )
        print(f"database: {described}; cache: {args.redis_url}")
        print("migrating, collecting static files, setting up the Codat (sandbox) account …")
        manage(env, "migrate", "--noinput")
        manage(env, "collectstatic", "--noinput", "-v0")
        # Registering the webhook consumer needs no server: the sandbox is in this process.
        manage({**env, "CODAT_SANDBOX_IN_PROCESS": "true"}, "codat_setup", "--apply")
        manage(env, "check", "--deploy", "--fail-level", "ERROR")

        def node(name: str, port: int) -> Service:
            command = [
                venv_executable("gunicorn"),
                "consent_portal.wsgi",
                "-b",
                f"{HOST}:{port}",
                "-w",
                str(args.workers),
                "--threads",
                str(args.threads),
                "--timeout",
                "30",
                "--graceful-timeout",
                "20",
            ]
            return Service(name, command, env, logs / f"{name}.log", port=port)

        def worker(name: str) -> Service:
            command = [sys.executable, "manage.py", "db_worker", "--interval", "0.2"]
            command += ["--worker-id", name]
            return Service(name, command, env, logs / f"{name}.log")

        node_a, node_b = node("web-a", port_a), node("web-b", port_b)
        # The same code serving only as Codat (the sandbox's API), never restarted.
        codat = node("codat", codat_port)
        worker_1, worker_2 = worker("worker-1"), worker("worker-2")
        proxy = Service(
            "proxy",
            [
                sys.executable,
                str(BASE_DIR / "bench" / "cluster_proxy.py"),
                "--listen",
                f"{HOST}:{proxy_port}",
                "--backend",
                f"{HOST}:{port_a}",
                "--backend",
                f"{HOST}:{port_b}",
                "--drain-dir",
                str(drain_dir),
            ],
            env,
            logs / "proxy.log",
            port=proxy_port,
        )
        stop_chaos = work / "stop-chaos"
        chaos_code = CHAOS.format(
            stop=str(stop_chaos), max_replays=args.max_replays, storm=args.storm
        )
        chaos = Service(
            "codat-chaos",
            [sys.executable, "manage.py", "shell", "--no-imports", "-c", chaos_code],
            env,
            logs / "codat-chaos.log",
        )
        prefix = work / "locust"
        decisions = work / "decisions.jsonl"
        decisions.touch()
        statuses = work / "statuses.json"
        locust = Service(
            "locust",
            [
                venv_executable("locust"),
                "-f",
                str(BASE_DIR / "bench" / "cluster_locustfile.py"),
                "--headless",
                "--users",
                str(args.users),
                "--spawn-rate",
                str(args.spawn_rate),
                "--run-time",
                f"{args.duration}s",
                "--stop-timeout",
                "90",
                "--host",
                f"http://{HOST}:{proxy_port}",
                "--csv",
                str(prefix),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ],
            {
                **os.environ,
                "CLUSTER_MAILDIR": str(maildir),
                "CLUSTER_DECISIONS": str(decisions),
                "CLUSTER_STATUSES": str(statuses),
            },
            logs / "locust.log",
        )
        restarts: list[str] = []
        load_before = os.getloadavg()
        with ExitStack() as stack:
            mails = stack.enter_context(smtp_sink(smtp_port, maildir))
            stack.enter_context(running([codat, node_a, node_b, worker_1, worker_2, proxy]))
            print(
                f"proxy http://{HOST}:{proxy_port} -> web-a :{port_a}, web-b :{port_b} "
                f"({args.workers} workers x {args.threads} threads each); 2 db_workers; "
                f"Codat (the sandbox) :{codat_port}; SMTP sink :{smtp_port}"
            )
            chaos.start()
            print(
                f"Locust: {args.users} customers for {args.duration} s, while the sandbox "
                "duplicates, reorders and holds its webhooks …",
                flush=True,
            )
            started = time.monotonic()
            locust.start()
            plan = [] if args.no_restarts else [(0.3, node_a), (0.45, worker_1), (0.6, node_b)]
            for share, service in plan:
                while time.monotonic() - started < share * args.duration:
                    time.sleep(0.5)
                took = rolling_restart(service, drain_dir)
                restarts.append(
                    f"{service.name} at {time.monotonic() - started:.0f} s (back in {took:.1f} s)"
                )
                print(f"  restarted {restarts[-1]}", flush=True)
            assert locust.process is not None
            locust.process.wait()
            load_seconds = time.monotonic() - started
            stop_chaos.touch()
            chaos.process.wait(timeout=60) if chaos.process else None
            print("load over; waiting for the outbox, the drains and the tasks to finish …")
            left = wait_settled(env)
            mail_count = mails[0]
        proof = json.loads(
            django_shell(env, PROOF.format(decisions=str(decisions))).strip().splitlines()[-1]
        )
        chaos_counts = tail(chaos.log, 1)
        proxy_lines = [line for line in tail(proxy.log, 10).splitlines() if "proxy:" in line]
        server_errors = [
            line
            for service in (node_a, node_b, worker_1, worker_2, codat)
            for line in service.log.read_text(errors="replace").splitlines()
            if " ERROR " in line or "Traceback" in line
        ]
        if args.keep:
            keep = Path(args.keep)
            keep.mkdir(parents=True, exist_ok=True)
            for path in [*logs.iterdir(), decisions, statuses, *work.glob("locust_*.csv")]:
                if path.exists():
                    (keep / path.name).write_bytes(path.read_bytes())

    print()
    print("=" * 78)
    print("Multi-node run: 2 web nodes behind a round-robin proxy, 2 db_workers, PostgreSQL,")
    print("Redis, and Codat (the sandbox) in a process of its own")
    print(
        f"{args.users} Locust customers, {args.duration} s of load; the last journeys ended "
        f"after {load_seconds:.0f} s"
    )
    print("=" * 78)
    rows, status_counts = read_locust(prefix, statuses)
    five_xx = print_figures(rows, status_counts)
    print()
    load_after = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} CPU(s); load average {load_before[0]:.1f} before, "
        f"{load_after[0]:.1f} after (1 min), other sessions included"
    )
    journeys = sum(int(row["Request Count"]) for row in rows if row["Name"] == "/accounts/logout/")
    print(
        f"throughput: {float(next(r for r in rows if r['Name'] == 'Aggregated')['Requests/s']):.1f}"
        f" customer requests/s; {journeys} journeys finished; "
        f"{proof['webhooks']['deliveries'] / load_seconds:.1f} webhook deliveries/s"
    )
    print(f"restarts: {'; '.join(restarts) or 'none'}")
    for line in proxy_lines:
        print(line)
    print(f"sandbox misbehaviour: {chaos_counts.strip()}")
    print(f"mail sent through SMTP: {mail_count}")
    print(f"left after settling: {left}")
    print(f"server log: {len(server_errors)} ERROR/Traceback line(s)")
    for line in server_errors[:5]:
        print(f"  {line[:200]}")
    print()
    hooks, consents, connections = proof["webhooks"], proof["consents"], proof["connections"]
    checks = [
        (
            "every delivered webhook stored once",
            hooks["delivered_not_stored"] == 0
            and hooks["stored_twice"] == 0
            and hooks["stored_not_sent"] == 0
            and hooks["stored"] == hooks["distinct_delivered"],
            f"{hooks['deliveries']} deliveries ({hooks['duplicate_deliveries']} duplicates) of "
            f"{hooks['distinct_delivered']} webhooks; {hooks['stored']} stored; "
            f"{hooks['delivered_not_stored']} missing",
        ),
        (
            "nothing left undelivered",
            hooks["undelivered_due"] == 0 and hooks["given_up"] == 0,
            f"{hooks['undelivered_due']} undelivered, {hooks['given_up']} given up, "
            f"{hooks['failed_attempts']} failed attempts retried, "
            f"{hooks['undelivered_later']} reads due later",
        ),
        (
            "every webhook processed once",
            set(hooks["by_status"]) <= {"processed"} and set(hooks["processing_attempts"]) <= {"1"},
            f"by status {hooks['by_status']}; processing attempts {hooks['processing_attempts']};"
            f" tasks {hooks['tasks']}",
        ),
        (
            "every consent decision recorded with its evidence",
            consents["missing_count"] == 0
            and consents["unexpected_count"] == 0
            and consents["bad_evidence_count"] == 0
            and not consents["wrong_state"]
            and consents["decisions"] > 0,
            f"{consents['decisions']} decisions answered, {consents['events']} events recorded, "
            f"{consents['missing_count']} missing, {consents['unexpected_count']} unexpected, "
            f"{consents['bad_evidence_count']} with faulty evidence; "
            f"{consents['consents']} consents, {len(consents['wrong_state'])} in the wrong state",
        ),
        (
            "every connection in the state Codat holds",
            connections["mismatched_count"] == 0
            and connections["unknown_to_us_count"] == 0
            and connections["ours"] > 0,
            f"{connections['ours']} connections {connections['by_status']}; "
            f"{connections['mismatched_count']} differ from Codat; "
            f"{connections['unknown_to_us_count']} at Codat unknown to us",
        ),
        ("no 5xx", five_xx == 0, f"{five_xx} answers 5xx"),
    ]
    for name, ok, detail in checks:
        print(f"[{'ok' if ok else 'FAIL'}] {name}: {detail}")
    for key in ("missing", "bad_evidence", "wrong_state"):
        for item in consents[key]:
            print(f"    {key}: {item}")
    for item in connections["mismatched"] + connections["unknown_to_us"]:
        print(f"    connection: {item}")
    passed = all(ok for _, ok, _ in checks)
    print()
    print("NOTHING LOST" if passed else "PROOF FAILED")
    return 0 if passed else 1


def main() -> int:
    args = parse_args()
    try:
        with tempfile.TemporaryDirectory(prefix="cluster-run-") as work:
            return run(args, Path(work))
    except BenchError as error:
        print(f"the cluster run could not run: {error}", file=sys.stderr)
        return 2
    finally:
        try:
            flush_redis(args.redis_url)
        except Exception as error:  # the run is over; say so, do not hide the result
            print(f"warning: could not flush {args.redis_url}: {error}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
