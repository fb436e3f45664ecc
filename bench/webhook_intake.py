"""Webhook intake throughput and latency, as a ratio to a trivial view (W5; `make bench`).

A measurement, not a test: it always exits 0 once it has measured something, and prints
GOAL MET / GOAL NOT MET for the issue's goal (intake throughput ≥ 0.5 × the trivial view).

What it does, all on 127.0.0.1 and all thrown away afterwards:

1. makes a database of its own: a temporary SQLite file, or with `--database-url` a separate
   PostgreSQL database (`bench_consent_portal`, created and dropped here; the database named in
   the URL is only used to connect for CREATE/DROP DATABASE);
2. runs `manage.py migrate` with production-like settings (DEBUG off, a random SECRET_KEY, a
   random `whsec_` webhook secret, the Codat sandbox on but not sending webhooks, no `.env`);
3. starts gunicorn on a free port, waits for /healthz;
4. drives a bounded number of requests over N keep-alive client connections (threads), in
   alternating rounds of the trivial view and the webhook so machine noise hits both alike.
   Every webhook is a distinct, correctly signed Codat `connection.connected` message, signed
   before its round's clock starts;
5. prints a table (req/s, p50/p95/p99, errors), the ratios and what the app stored, then stops
   gunicorn and deletes the database.

    .venv/bin/python bench/webhook_intake.py --help
"""

from __future__ import annotations

import argparse
import base64
import http.client
import itertools
import json
import math
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from standardwebhooks import Webhook

BASE_DIR = Path(__file__).resolve().parent.parent
RESULTS_DIR = BASE_DIR / "bench" / "results"
HOST = "127.0.0.1"
WEBHOOK_PATH = "/webhooks/codat/"
# The trivial view: the liveness check, which answers {"status": "ok"} with no database work.
TRIVIAL_PATH = "/healthz"
# Production's configuration: the intake stores the event, and now and then queues a drain
# task that a db_worker runs. (The immediate backend would process it in the request.)
DEFAULT_TASKS_BACKEND = "django_tasks_db.DatabaseBackend"
IMMEDIATE_TASKS_BACKEND = "django_tasks.backends.immediate.ImmediateBackend"
DEFAULT_PG_DATABASE = "bench_consent_portal"
GOAL_THROUGHPUT_RATIO = 0.5
W5_P95_SECONDS = 1.0
REQUEST_TIMEOUT_SECONDS = 30.0
STARTUP_TIMEOUT_SECONDS = 30.0
# The developer's own configuration must not leak into the server under test.
_STRIPPED_PREFIXES = ("DJANGO_", "CODAT_", "DATABASE_", "GUNICORN_")
_STRIPPED_NAMES = {
    "TASKS_BACKEND",
    "CACHE_URL",
    "EMAIL_URL",
    "SITE_URL",
    "LOG_LEVEL",
    "LINK_STATE_TTL_SECONDS",
    "TRUSTED_PROXY_IP_HEADER",
    "DEFAULT_FROM_EMAIL",
    "WEB_CONCURRENCY",
}
_BASE62 = string.digits + string.ascii_letters
_PG_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_LOG_LEVEL = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b")
# The last line of a traceback, e.g. "django.db.utils.OperationalError: database is locked".
_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Exit): ")


class BenchError(Exception):
    """The bench could not set up or start what it measures (not a slow result)."""


# --- configuration ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Webhook intake throughput and p95 latency under gunicorn on loopback, as a ratio "
            "to a trivial view served by the same server in the same run."
        )
    )
    parser.add_argument(
        "--requests", type=int, default=2000, help="measured requests per target (2000)"
    )
    parser.add_argument(
        "--warmup", type=int, default=100, help="unmeasured requests per target first (100)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=8, help="concurrent client connections (8)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="the requests are split into this many alternating rounds per target (4)",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="gunicorn threads per worker; above 1 gunicorn uses gthread workers (1: sync)",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=60.0,
        help="stop sending after this long, warm-up included; the result is then partial (60)",
    )
    parser.add_argument(
        "--database-url",
        default="",
        help=(
            "a PostgreSQL URL, e.g. postgres://postgres@127.0.0.1:5432/test: the bench creates "
            f"and drops its own database ({DEFAULT_PG_DATABASE}) on that server and only "
            "connects to the named one. Default: a temporary SQLite file"
        ),
    )
    parser.add_argument(
        "--database-name",
        default=DEFAULT_PG_DATABASE,
        help=f"the PostgreSQL database to create and drop ({DEFAULT_PG_DATABASE})",
    )
    parser.add_argument(
        "--database-options",
        default="",
        metavar="QUERY",
        help=(
            "a query string added to the server's DATABASE_URL (django-environ OPTIONS), e.g. "
            "'transaction_mode=IMMEDIATE' for SQLite or 'conn_max_age=60'"
        ),
    )
    parser.add_argument(
        "--tasks-backend",
        default=DEFAULT_TASKS_BACKEND,
        help=(
            "TASKS_BACKEND for the server. The default, production's database backend, only "
            "queues processing (no worker runs); the immediate backend runs it in the request"
        ),
    )
    parser.add_argument(
        "--known-company",
        action="store_true",
        help=(
            "seed a Company with a Codat id and --connections pending connections, and address "
            "every webhook to them, so processing updates a real tenant. Default: an unknown "
            "company per message (stored and flagged)"
        ),
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=20,
        help="connections of the --known-company, used round-robin (20)",
    )
    parser.add_argument(
        "--trivial-path",
        default="",
        help=(f"the trivial view to compare with, fetched with GET. Default: {TRIVIAL_PATH}"),
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for migrate and gunicorn, e.g. DATABASE_CONN_MAX_AGE=60",
    )
    parser.add_argument(
        "--server-log",
        metavar="FILE",
        help="keep a copy of gunicorn's log (the app's logging included) in FILE",
    )
    parser.add_argument(
        "--json",
        nargs="?",
        const="",
        default=None,
        metavar="FILE",
        help="also write the results as JSON (default: bench/results/webhook_intake-<UTC>.json)",
    )
    args = parser.parse_args(argv)
    for name in ("requests", "concurrency", "rounds", "workers", "threads", "connections"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.warmup < 0 or args.max_seconds <= 0:
        parser.error("--warmup must be ≥ 0 and --max-seconds > 0")
    if args.trivial_path and not args.trivial_path.startswith("/"):
        parser.error("--trivial-path must start with /")
    for item in args.env:
        if "=" not in item:
            parser.error(f"--env {item!r} is not NAME=VALUE")
    return args


def venv_executable(name: str) -> str:
    """A console script next to the running interpreter (the project's venv)."""
    candidate = Path(sys.executable).parent / name
    if not candidate.exists():
        raise BenchError(f"{candidate} not found: run with the project's .venv/bin/python")
    return str(candidate)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def random_secret_key(length: int = 60) -> str:
    # No `$`: django-environ would read a leading one as a reference to another variable.
    alphabet = string.ascii_letters + string.digits + "-_!@#%^&*(=+)"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def random_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def app_environment(
    *, database_url: str, webhook_secret: str, tasks_backend: str, port: int, extra: list[str]
) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_STRIPPED_PREFIXES) and name not in _STRIPPED_NAMES
    }
    env.update(
        {
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": random_secret_key(),
            "DJANGO_ALLOWED_HOSTS": HOST,
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DJANGO_READ_DOT_ENV": "false",
            "DATABASE_URL": database_url,
            "SITE_URL": f"http://{HOST}:{port}",
            # A demo deployment: the built-in sandbox plays Codat (named on purpose, with its own
            # key, as DEBUG off requires), but sends no webhooks of its own.
            "CODAT_SANDBOX": "true",
            "CODAT_SANDBOX_KEY": random_secret_key(),
            "CODAT_WEBHOOK_SECRET": webhook_secret,
            "CODAT_SANDBOX_WEBHOOK_PUMP": "off",
            "TASKS_BACKEND": tasks_backend,
            # Production requires a shared cache (rate limits); neither measured path uses it,
            # so a Redis that is not running costs nothing here. `--env CACHE_URL=…` overrides.
            "CACHE_URL": "redis://127.0.0.1:6379/15",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(item.split("=", 1) for item in extra)
    return env


# --- the throwaway database ------------------------------------------------------------------


@contextmanager
def throwaway_database(database_url: str, name: str, workdir: Path) -> Iterator[tuple[str, str]]:
    """Yield (DATABASE_URL for the app, a description); remove the database afterwards."""
    if not database_url:
        path = workdir / "bench.sqlite3"
        yield f"sqlite:///{path}", f"SQLite, temporary file {path}"
        return  # the file goes with `workdir`

    parts = urlsplit(database_url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        raise BenchError(f"--database-url must be a PostgreSQL URL, not {parts.scheme!r}")
    admin_database = parts.path.lstrip("/") or "postgres"
    if not _PG_NAME.fullmatch(name):
        raise BenchError(f"--database-name {name!r} is not a plain lower-case identifier")
    if name == admin_database:
        raise BenchError(
            f"the bench creates and drops {name!r}; point --database-url at another database"
        )

    import psycopg
    from psycopg import sql

    admin_url = urlunsplit(parts._replace(scheme="postgresql", path=f"/{admin_database}"))

    def execute(statement: sql.Composable) -> None:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as connection:
            connection.execute(statement)

    def drop() -> None:
        # FORCE (PostgreSQL 13+) ends connections a killed gunicorn may have left behind.
        execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    try:
        drop()  # a leftover of an interrupted run
        execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        raise BenchError(f"could not create database {name!r}: {exc}") from None
    server = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
    try:
        yield (
            urlunsplit(parts._replace(path=f"/{name}")),
            f"PostgreSQL, database {name} on {server} (created and dropped by the bench)",
        )
    finally:
        try:
            drop()
        except psycopg.Error as exc:
            print(f"warning: could not drop database {name!r}: {exc}", file=sys.stderr)


# --- running Django and gunicorn ---------------------------------------------------------------


def manage(env: dict[str, str], *arguments: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise BenchError(
            f"manage.py {' '.join(arguments[:1])} failed ({result.returncode}):\n"
            f"{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return result.stdout


def django_shell(env: dict[str, str], code: str) -> str:
    return manage(env, "shell", "--no-imports", "-c", code)


SEED_KNOWN_COMPANY = """
import uuid
from companies.models import Company
from companies.scoping import scope
from connections.models import Connection
company = Company.objects.create(name="Bench Bakery Ltd", codat_company_id=uuid.UUID({company!r}))
with scope(company=company):
    Connection.objects.bulk_create(
        Connection(
            company=company,
            codat_connection_id=uuid.UUID(connection_id),
            platform_key="gbol",
            platform_name="Xero",
            source_type="Accounting",
        )
        for connection_id in {connections!r}
    )
"""

STORED_SUMMARY = """
import json
from django.db.models import Count
from connections.models import Connection, WebhookEvent
def by_status(model):
    return dict(model.objects.values_list("status").order_by().annotate(n=Count("pk")))
def queued_tasks():
    try:
        from django_tasks_db.models import DBTaskResult
        return DBTaskResult.objects.count()
    except Exception:  # another task backend: nothing queued in the database
        return 0
from companies.scoping import scopes_disabled
with scopes_disabled():  # a summary across every company
    print(json.dumps({
        "webhook_events": WebhookEvent.objects.count(),
        "by_status": by_status(WebhookEvent),
        "connections_by_status": by_status(Connection),
        "queued_tasks": queued_tasks(),
    }))
"""


@contextmanager
def gunicorn_server(
    env: dict[str, str], port: int, workers: int, threads: int, log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    command = [
        venv_executable("gunicorn"),
        "consent_portal.wsgi",
        "-b",
        f"{HOST}:{port}",
        "-w",
        str(workers),
        "--timeout",
        "30",
        "--graceful-timeout",
        "5",
    ]
    if threads > 1:
        command += ["--threads", str(threads)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_serving(process, port, log_path)
        yield process
    finally:
        stop(process)


def wait_until_serving(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"gunicorn exited with {process.returncode}:\n{tail(log_path)}")
        if probe(port, "/healthz", timeout=2)[0] == 200:
            return
        time.sleep(0.1)
    raise BenchError(f"gunicorn did not answer /healthz within 30 s:\n{tail(log_path)}")


def probe(port: int, path: str, timeout: float = REQUEST_TIMEOUT_SECONDS) -> tuple[int, str]:
    """(status, content type) of one GET; (0, "") if nothing answered."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader("Content-Type", "")
    except (OSError, http.client.HTTPException):
        return 0, ""
    finally:
        connection.close()


def choose_trivial_path(port: int, requested: str) -> tuple[str, str]:
    """The trivial view's path and what it answers."""
    path = requested or TRIVIAL_PATH
    status, content_type = probe(port, path)
    how = "as asked" if requested else "the JSON liveness check"
    return path, f"{how}; answers {status} {content_type}"


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # gunicorn's graceful shutdown
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # its own session: the master and its workers
        process.wait(timeout=5)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def log_summary(path: Path, offset: int = 0) -> dict[str, object]:
    """Counts of WARNING/ERROR/CRITICAL lines in the server log from `offset` (bytes) on, and
    of the exceptions logged."""
    levels: Counter[str] = Counter()
    exceptions: Counter[str] = Counter()
    with path.open("rb") as log:
        log.seek(offset)
        text = log.read().decode(errors="replace")
    for line in text.splitlines():
        if _EXCEPTION_LINE.match(line):
            exceptions[line.strip()[:200]] += 1
        elif match := _LOG_LEVEL.search(line[:80]):
            levels[match.group(1)] += 1
    return {"levels": dict(levels), "exceptions": dict(exceptions.most_common(5))}


# --- what is sent ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


def new_msg_id() -> str:
    # Codat's (Svix's) shape, e.g. msg_p5jXN8AQM9LWM0D4loKWxJek.
    return "msg_" + "".join(secrets.choice(_BASE62) for _ in range(24))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def connection_connected(
    *, codat_company_id: str, codat_connection_id: str, generated: datetime
) -> bytes:
    """A `connection.connected` event as Codat sends it (Webhooks.json), about 1 KiB."""
    created = generated - timedelta(minutes=3)
    document = {
        "id": str(uuid.uuid4()),
        "eventType": "connection.connected",
        "generatedDate": iso(generated),
        "payload": {
            "referenceCompany": {
                "id": codat_company_id,
                "name": "Bench Bakery Ltd",
                "description": "",
                "links": {"portal": f"https://app.codat.io/companies/{codat_company_id}/summary"},
                "tags": {"uid": str(uuid.uuid4())},
            },
            "connection": {
                "id": codat_connection_id,
                "integrationId": "0f20c943-12d0-4800-9f6c-d218f62d494c",
                "integrationKey": "gbol",
                "sourceId": "8a156a5a-39cb-4f9d-856e-76ef9b9a9607",
                "platformName": "Xero",
                "linkUrl": (
                    f"https://link-api.codat.io/companies/{codat_company_id}"
                    f"/connections/{codat_connection_id}/start"
                ),
                "status": "Linked",
                "created": iso(created),
                "lastSync": iso(generated),
                "sourceType": "Accounting",
                "dataConnectionErrors": [],
            },
        },
    }
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


class WebhookFactory:
    """Distinct, correctly signed webhook requests, signed in batches before they are timed."""

    def __init__(self, secret: str, known: tuple[str, list[str]] | None) -> None:
        self.webhook = Webhook(secret)
        self.known = known
        self.sent = 0

    def batch(self, count: int) -> list[Request]:
        signed_at = datetime.now(UTC)
        requests = []
        for _ in range(count):
            self.sent += 1
            if self.known is None:
                company, connection = str(uuid.uuid4()), str(uuid.uuid4())
            else:
                company, connections = self.known
                connection = connections[self.sent % len(connections)]
            # Strictly increasing, so arrival order decides what is stale, as with Codat.
            generated = signed_at + timedelta(milliseconds=self.sent)
            body = connection_connected(
                codat_company_id=company, codat_connection_id=connection, generated=generated
            )
            msg_id = new_msg_id()
            requests.append(
                Request(
                    "POST",
                    WEBHOOK_PATH,
                    body,
                    {
                        "Content-Type": "application/json",
                        "webhook-id": msg_id,
                        "webhook-timestamp": str(math.floor(signed_at.timestamp())),
                        "webhook-signature": self.webhook.sign(
                            msg_id, signed_at, body.decode("utf-8")
                        ),
                    },
                )
            )
        return requests


# --- driving load ----------------------------------------------------------------------------


CPU_GROUPS = ("app server", "database", "kernel threads", "client", "other")


def cpu_seconds_by_group() -> dict[str, float]:
    """CPU time used so far by every process on the machine, grouped (Linux /proc; {} elsewhere).

    Differences between two readings show where a phase's CPU went: the gunicorn processes,
    PostgreSQL's, the kernel's own threads (disk writeback, networking), this client.
    """
    try:
        pids = [entry for entry in os.listdir("/proc") if entry.isdigit()]
        ticks = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return {}
    totals = dict.fromkeys(CPU_GROUPS, 0.0)
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue  # ended meanwhile
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
        if int(pid) == os.getpid():
            group = "client"
        elif b"gunicorn" in command:
            group = "app server"
        elif name.startswith("postgres"):
            group = "database"
        elif not command:
            group = "kernel threads"
        else:
            group = "other"
        totals[group] += seconds
    return totals


@dataclass
class Phase:
    """One timed batch of requests against one target."""

    latencies: list[float]  # seconds, one per completed request (any status)
    statuses: list[int]  # 0: no HTTP answer (connection error, timeout)
    wall_seconds: float
    client_cpu_seconds: float
    cut_short: bool
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # by group, whole machine


def run_phase(port: int, requests: Sequence[Request], concurrency: int, deadline: float) -> Phase:
    counter = itertools.count()  # next() on it is atomic under the GIL
    results: list[list[tuple[float, int]]] = [[] for _ in range(concurrency)]
    start = threading.Barrier(concurrency + 1)
    cut_short = threading.Event()

    def client(slot: int) -> None:
        # http.client keeps the connection open while the server does, and reopens it when the
        # server closes it (gunicorn's sync workers answer `Connection: close`).
        connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT_SECONDS)
        own = results[slot]
        start.wait()
        try:
            while (index := next(counter)) < len(requests):
                if time.monotonic() >= deadline:
                    cut_short.set()
                    return
                request = requests[index]
                began = time.perf_counter()
                try:
                    connection.request(
                        request.method, request.path, body=request.body, headers=request.headers
                    )
                    response = connection.getresponse()
                    response.read()
                    status = response.status
                except (OSError, http.client.HTTPException):
                    status = 0
                    connection.close()
                own.append((time.perf_counter() - began, status))
        finally:
            connection.close()

    threads = [
        threading.Thread(target=client, args=(slot,), daemon=True) for slot in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    machine_before = cpu_seconds_by_group()
    cpu_before = time.process_time()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    client_cpu = time.process_time() - cpu_before
    machine_after = cpu_seconds_by_group()
    done = [sample for own in results for sample in own]
    return Phase(
        latencies=[latency for latency, _ in done],
        statuses=[status for _, status in done],
        wall_seconds=wall,
        client_cpu_seconds=client_cpu,
        cut_short=cut_short.is_set(),
        cpu_seconds={
            group: max(0.0, machine_after[group] - machine_before.get(group, 0.0))
            for group in machine_after
        },
    )


def percentile(ordered: Sequence[float], percent: float) -> float | None:
    """Nearest-rank percentile of already sorted values."""
    if not ordered:
        return None
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class TargetResult:
    name: str
    request: str
    requests: int = 0
    ok: int = 0
    errors: int = 0
    errors_by_status: dict[str, int] = field(default_factory=dict)
    wall_seconds: float = 0.0
    throughput_rps: float = 0.0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    mean_ms: float | None = None
    client_cpu_share: float = 0.0
    rounds_rps: list[float] = field(default_factory=list)
    # Machine CPU per request sent, by process group (the clock tick is 10 ms, so only
    # sums over many requests mean anything).
    cpu_ms_per_request: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_phases(cls, name: str, request: str, phases: Sequence[Phase]) -> TargetResult:
        result = cls(name=name, request=request)
        statuses = [status for phase in phases for status in phase.statuses]
        # Latency percentiles are over 2xx answers; errors are counted apart.
        ok_latencies = sorted(
            latency
            for phase in phases
            for latency, status in zip(phase.latencies, phase.statuses, strict=True)
            if 200 <= status < 300
        )
        result.requests = len(statuses)
        result.ok = len(ok_latencies)
        result.errors = result.requests - result.ok
        result.errors_by_status = {
            str(status): count
            for status, count in sorted(Counter(statuses).items())
            if not 200 <= status < 300
        }
        result.wall_seconds = sum(phase.wall_seconds for phase in phases)
        if result.wall_seconds:
            result.throughput_rps = result.ok / result.wall_seconds
            cpu = sum(phase.client_cpu_seconds for phase in phases)
            result.client_cpu_share = cpu / result.wall_seconds
        result.rounds_rps = [
            round(sum(200 <= s < 300 for s in phase.statuses) / phase.wall_seconds, 1)
            for phase in phases
            if phase.wall_seconds
        ]
        if result.requests:
            for group in CPU_GROUPS:
                seconds = sum(phase.cpu_seconds.get(group, 0.0) for phase in phases)
                if any(group in phase.cpu_seconds for phase in phases):
                    result.cpu_ms_per_request[group] = round(seconds / result.requests * 1000, 2)
        if ok_latencies:
            result.p50_ms = percentile(ok_latencies, 50) * 1000
            result.p95_ms = percentile(ok_latencies, 95) * 1000
            result.p99_ms = percentile(ok_latencies, 99) * 1000
            result.max_ms = ok_latencies[-1] * 1000
            result.mean_ms = sum(ok_latencies) / len(ok_latencies) * 1000
        return result


def rounds_of(total: int, rounds: int) -> list[int]:
    base, extra = divmod(total, rounds)
    return [base + (1 if index < extra else 0) for index in range(rounds) if base or index < extra]


def drive(
    args: argparse.Namespace, port: int, trivial_path: str, webhooks: WebhookFactory
) -> tuple[TargetResult, TargetResult, bool]:
    trivial = Request("GET", trivial_path)
    deadline = time.monotonic() + args.max_seconds
    cut_short = False

    # Warm-up: every worker imports, connects to the database and fills its caches.
    if args.warmup:
        run_phase(port, [trivial] * args.warmup, args.concurrency, deadline)
        run_phase(port, webhooks.batch(args.warmup), args.concurrency, deadline)

    trivial_phases: list[Phase] = []
    webhook_phases: list[Phase] = []
    for index, count in enumerate(rounds_of(args.requests, args.rounds)):
        signed = webhooks.batch(count)  # signed now, timed below
        order = ("trivial", "webhook") if index % 2 == 0 else ("webhook", "trivial")
        for target in order:
            if time.monotonic() >= deadline:
                cut_short = True
                break
            if target == "trivial":
                phase = run_phase(port, [trivial] * count, args.concurrency, deadline)
                trivial_phases.append(phase)
            else:
                phase = run_phase(port, signed, args.concurrency, deadline)
                webhook_phases.append(phase)
            cut_short = cut_short or phase.cut_short
        if cut_short:
            break
    return (
        TargetResult.from_phases("trivial view", f"GET {trivial_path}", trivial_phases),
        TargetResult.from_phases("webhook intake", f"POST {WEBHOOK_PATH}", webhook_phases),
        cut_short,
    )


# --- reporting -------------------------------------------------------------------------------


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def print_report(report: dict[str, object], results: Sequence[TargetResult]) -> None:
    config = report["config"]
    print()
    print("Webhook intake vs trivial view, gunicorn on loopback")
    print(f"  command     {report['command']}")
    print(
        f"  server      gunicorn {config['gunicorn_workers']} worker(s) x "
        f"{config['gunicorn_threads']} thread(s), {config['database']}"
    )
    print(f"  trivial     {config['trivial_view']}")
    tasks = config["tasks_backend"]
    if tasks == IMMEDIATE_TASKS_BACKEND:
        tasks += " (processing runs in the request, after the commit)"
    else:
        tasks += " (no worker runs during the bench: events are only queued)"
    print(f"  tasks       {tasks}")
    print(
        f"  load        {config['requests']} requests per target in {config['rounds']} "
        f"alternating rounds after {config['warmup']} warm-up, {config['concurrency']} "
        f"connections; webhooks: {config['webhook_company']}"
    )
    print(
        f"  machine     {config['cpus']} CPU(s), load average {config['load_average_before']} "
        f"before, {config['load_average_after']} after; Python {config['python']}, "
        f"{config['machine']}"
    )
    print()
    header = (
        f"{'target':<16}{'request':<26}{'sent':>6}{'2xx':>6}{'errors':>7}{'req/s':>9}"
        f"{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'max ms':>8}"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        print(
            f"{result.name:<16}{result.request:<26}{result.requests:>6}{result.ok:>6}"
            f"{result.errors:>7}{result.throughput_rps:>9.1f}{ms(result.p50_ms):>8}"
            f"{ms(result.p95_ms):>8}{ms(result.p99_ms):>8}{ms(result.max_ms):>8}"
        )
    print()
    for result in results:
        if result.errors_by_status:
            described = ", ".join(
                f"{count} x {'no answer' if status == '0' else status}"
                for status, count in result.errors_by_status.items()
            )
            print(f"  errors ({result.name}): {described}")
        rounds = ", ".join(f"{rps:.0f}" for rps in result.rounds_rps)
        print(
            f"  {result.name}: req/s per round {rounds}; "
            f"client CPU {result.client_cpu_share:.0%} of one core"
        )
    if any(result.cpu_ms_per_request for result in results):
        print()
        print("  machine CPU per request (ms), by process group:")
        print("  " + " " * 16 + "".join(f"{group:>16}" for group in CPU_GROUPS))
        for result in results:
            cells = "".join(
                f"{result.cpu_ms_per_request.get(group, 0.0):>16.2f}" for group in CPU_GROUPS
            )
            print(f"  {result.name:<16}{cells}")
    ratios = report["ratios"]
    print()
    throughput_ratio = ratios["throughput"]
    p95_ratio = ratios["p95"]
    print(
        "  intake/trivial throughput: "
        + ("-" if throughput_ratio is None else f"{throughput_ratio:.2f}")
        + f"   (goal ≥ {GOAL_THROUGHPUT_RATIO})"
    )
    print(
        "  intake/trivial p95:        "
        + ("-" if p95_ratio is None else f"{p95_ratio:.2f}")
        + "   (latency: higher is slower)"
    )
    w5 = report["w5"]
    print(
        f"  W5 (p95 < {W5_P95_SECONDS:g} s and no 5xx on the webhook): "
        + ("yes" if w5["met"] else "NO")
        + f" (p95 {ms(w5['p95_ms'])} ms, {w5['5xx']} x 5xx)"
    )
    stored = report.get("stored")
    if stored:
        print(
            f"  stored: {stored['webhook_events']} webhook events {stored['by_status']}"
            + (
                f"; connections {stored['connections_by_status']}"
                if stored["connections_by_status"]
                else ""
            )
            + f"; {stored.get('queued_tasks', 0)} task(s) queued"
        )
    server_log = report.get("server_log")
    if server_log:
        print(f"  server log: {server_log['levels'] or 'no warnings or errors'}")
        for line, count in server_log["exceptions"].items():
            print(f"    {count} x {line}")
    if report["cut_short"]:
        print(f"  TIME LIMIT: stopped after --max-seconds {config['max_seconds']:g}; partial")
    print()
    print("GOAL MET" if report["goal_met"] else "GOAL NOT MET")


def write_json(report: dict[str, object], target: str) -> Path:
    if target:
        path = Path(target)
    else:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = RESULTS_DIR / f"webhook_intake-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


# --- main ------------------------------------------------------------------------------------


def bench(args: argparse.Namespace) -> dict[str, object]:
    load_before = round(os.getloadavg()[0], 2)
    secret = random_webhook_secret()
    port = free_port()
    known = None
    if args.known_company:
        known = (str(uuid.uuid4()), [str(uuid.uuid4()) for _ in range(args.connections)])
    with tempfile.TemporaryDirectory(prefix="bench-webhook-intake-") as workdir:
        work = Path(workdir)
        with throwaway_database(args.database_url, args.database_name, work) as (url, described):
            if args.database_options:
                url = f"{url}?{args.database_options.lstrip('?')}"
                described = f"{described}, options {args.database_options.lstrip('?')}"
            env = app_environment(
                database_url=url,
                webhook_secret=secret,
                tasks_backend=args.tasks_backend,
                port=port,
                extra=args.env,
            )
            print(f"database: {described}; migrating …", flush=True)
            manage(env, "migrate", "--noinput")
            if known is not None:
                django_shell(env, SEED_KNOWN_COMPANY.format(company=known[0], connections=known[1]))
            log_path = work / "gunicorn.log"
            print(f"gunicorn on http://{HOST}:{port} …", flush=True)
            with gunicorn_server(env, port, args.workers, args.threads, log_path):
                trivial_path, trivial_chosen = choose_trivial_path(port, args.trivial_path)
                log_offset = log_path.stat().st_size  # the summary covers the load only
                print(f"measuring; trivial view GET {trivial_path} …", flush=True)
                trivial, webhook, cut_short = drive(
                    args, port, trivial_path, WebhookFactory(secret, known)
                )
            stored = json.loads(django_shell(env, STORED_SUMMARY).strip().splitlines()[-1])
            server_log = log_summary(log_path, log_offset)
            if args.server_log:
                shutil.copyfile(log_path, args.server_log)

    throughput_ratio = ratio(webhook.throughput_rps, trivial.throughput_rps)
    server_errors = sum(
        count for status, count in webhook.errors_by_status.items() if status.startswith("5")
    )
    report: dict[str, object] = {
        "command": " ".join([os.path.relpath(sys.executable), *sys.argv]),
        "finished_at": iso(datetime.now(UTC)),
        "config": {
            "requests": args.requests,
            "warmup": args.warmup,
            "rounds": args.rounds,
            "concurrency": args.concurrency,
            "gunicorn_workers": args.workers,
            "gunicorn_threads": args.threads,
            "max_seconds": args.max_seconds,
            "database": described,
            "tasks_backend": args.tasks_backend,
            "trivial_view": f"GET {trivial_path}: {trivial_chosen}",
            "webhook_company": (
                f"a known company, {args.connections} connections"
                if known
                else "an unknown company per message"
            ),
            "extra_env": args.env,
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": round(os.getloadavg()[0], 2),
            "python": platform.python_version(),
            "machine": platform.platform(terse=True),
        },
        "results": {"trivial": asdict(trivial), "webhook": asdict(webhook)},
        "ratios": {
            "throughput": throughput_ratio,
            "p95": ratio(webhook.p95_ms, trivial.p95_ms),
        },
        "goal": f"webhook throughput >= {GOAL_THROUGHPUT_RATIO} x trivial view",
        "goal_met": throughput_ratio is not None and throughput_ratio >= GOAL_THROUGHPUT_RATIO,
        "w5": {
            "p95_ms": webhook.p95_ms,
            "5xx": server_errors,
            "met": webhook.p95_ms is not None
            and webhook.p95_ms < W5_P95_SECONDS * 1000
            and server_errors == 0,
        },
        "stored": stored,
        "server_log": server_log,
        "cut_short": cut_short,
    }
    print_report(report, [trivial, webhook])
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = bench(args)
    except BenchError as exc:
        print(f"bench could not run: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; server stopped and database removed", file=sys.stderr)
        return 130
    if args.json is not None:
        print(f"results written to {write_json(report, args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
