"""Demo mode: sample services and users, and a believable alert stream sent through the real intake.

`seed` adds the sample services (with their dependencies) and users to a migrated server database;
`run_demo` then plays monitoring against the running server over HTTP, exactly as Prometheus,
Alertmanager, Grafana or a deploy pipeline would: PagerDuty Events v2 triggers of all four
severities, repeats of open dedup keys, acknowledges and resolves; Alertmanager and Grafana webhook
groups that fire, grow and resolve; PagerDuty change events; and now and then a dependency cascade
(postgres-main down, then checkout-api and web-frontend failing because of it), which the server
attaches to the database's incident. Nothing is written behind the server's back: what the console
shows is what the product does with real traffic.

The stream is a `Scenario` (pure: a seeded RNG and a virtual clock decide every post, so a seed
reproduces it) played by an `AlertStream` (the HTTP side: pacing, retries, counters).
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import itertools
import logging
import random
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, select

from console.server.admin import AdminError, add_service, add_user
from console.server.tables import integrations, services, users

log = logging.getLogger(__name__)

# -- seeding --

# (name, parent): a service's parent is what it depends on. While postgres-main has an open
# incident, alerts of checkout-api, web-frontend (through checkout-api) and batch-jobs attach to it
# instead of paging again.
DEMO_SERVICES: tuple[tuple[str, str | None], ...] = (
    ("postgres-main", None),
    ("checkout-api", "postgres-main"),
    ("web-frontend", "checkout-api"),
    ("batch-jobs", "postgres-main"),
    ("auth", None),
    ("payments-gateway", None),
    ("search", None),
    ("k8s-platform", None),
)

# (name, role)
DEMO_USERS: tuple[tuple[str, str], ...] = (
    ("morgan", "admin"),
    ("sam", "responder"),
    ("priya", "responder"),
    ("lee", "responder"),
    ("jordan", "manager"),
    ("wallboard", "viewer"),
)


@dataclass(frozen=True, slots=True)
class DemoKeys:
    """What `seed` made or found: the routing key of every demo service, and the API token of every demo
    user this call created (a token is stored only as a hash, so users from an earlier run have none)."""

    services: Mapping[str, str]  # service name → integration (routing) key
    tokens: Mapping[str, str] = field(default_factory=dict)  # user name → API token, new users only
    users: Mapping[str, str] = field(default_factory=dict)  # user name → role, every demo user

    def key(self, service: str) -> str:
        return self.services[service]


Seeder = Callable[[Engine, DemoKeys], None]

# The hook for what later issues add to the demo: on-call schedules (the demo users in rotations over
# the demo services) and runbooks. Each is an idempotent function run by `seed` after the services and
# users exist. Until those features have their own tables, the demo seeds nothing in their place.
EXTRA_SEEDERS: tuple[Seeder, ...] = ()


def seed(engine: Engine) -> DemoKeys:
    """Add the demo services and users to a migrated server database; safe to run again.

    A service that exists already (from an earlier run, or made by an admin) is kept with its key;
    a user that exists already is kept, and has no token in the result.
    """
    keys: dict[str, str] = {}
    created = 0
    for name, parent in DEMO_SERVICES:
        try:
            keys[name] = add_service(engine, name, parent=parent)
            created += 1
        except AdminError:
            existing = _integration_key(engine, name)
            if existing is None:  # not a name taken (a missing parent, say): say what it was
                raise
            keys[name] = existing
    tokens: dict[str, str] = {}
    for name, role in DEMO_USERS:
        try:
            tokens[name] = add_user(engine, name, role=role)
        except AdminError:
            if not _user_exists(engine, name):
                raise
    demo = DemoKeys(services=keys, tokens=tokens, users=dict(DEMO_USERS))
    for extra in EXTRA_SEEDERS:
        extra(engine, demo)
    log.info(
        "demo data: %d services (%d new), %d users (%d new)", len(keys), created, len(DEMO_USERS), len(tokens)
    )
    return demo


def _integration_key(engine: Engine, service: str) -> str | None:
    """The (first) integration key of a service, or None when there is no such service or key."""
    query = (
        select(integrations.c.key)
        .join_from(integrations, services, integrations.c.service_id == services.c.id)
        .where(services.c.name == service)
        .order_by(integrations.c.id)
        .limit(1)
    )
    with engine.connect() as conn:
        key = conn.execute(query).scalar()
    return str(key) if key is not None else None


def _user_exists(engine: Engine, name: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(users.c.id).where(users.c.name == name)).first() is not None


# -- what monitoring says --

HIGH = ("critical", "error")
LOW = ("warning", "info")
AM_ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt while an alert fires


@dataclass(frozen=True, slots=True)
class Check:
    """One thing monitoring watches on a service; it alerts under a stable dedup key, as real checks do."""

    service: str
    dedup_key: str
    summary: str  # formatted with {value}
    source: str
    severities: tuple[str, ...]
    values: tuple[float, float]
    threshold: float
    component: str
    klass: str
    client: str
    client_url: str
    dashboard: str


def _check(service: str, dedup_key: str, summary: str, source: str, severities: tuple[str, ...],
           values: tuple[float, float], threshold: float, component: str, klass: str,
           client: str = "Prometheus") -> Check:  # fmt: skip
    client_urls = {
        "Prometheus": "https://prometheus.example.net/alerts",
        "Datadog": "https://app.datadoghq.eu/monitors/manage",
        "Checkly": "https://app.checklyhq.com/checks",
        "Cronitor": "https://cronitor.io/app/monitors",
    }
    slug = dedup_key.replace("/", "-")
    return Check(service, dedup_key, summary, source, severities, values, threshold, component, klass,
                 client, client_urls[client], f"https://grafana.example.net/d/{slug}")  # fmt: skip


CHECKS: tuple[Check, ...] = (
    _check("postgres-main", "db-main-02/replication-lag",
           "Replication lag on db-main-02 is {value:.0f} s", "db-main-02.prod.example.net",
           ("warning", "error"), (35, 240), 30, "postgres", "replication lag"),
    _check("postgres-main", "db-main-01/wal-volume",
           "WAL volume {value:.0f}% full on db-main-01", "db-main-01.prod.example.net",
           ("warning", "critical"), (81, 96), 80, "disk", "disk usage"),
    _check("checkout-api", "checkout-api/p99-latency",
           "p99 latency of POST /api/checkout at {value:.0f} ms (SLO 800 ms)", "checkout-api.example.net",
           ("warning", "error"), (850, 2600), 800, "http", "latency", "Datadog"),
    _check("checkout-api", "checkout-api/order-queue",
           "{value:.0f} order confirmations waiting in the queue", "rabbitmq-02.prod.example.net",
           ("info", "warning"), (1200, 9000), 1000, "rabbitmq", "queue depth"),
    _check("web-frontend", "web-frontend/js-errors",
           "JavaScript error rate {value:.1f}% since the last deploy", "www.example.net",
           ("info", "warning"), (1.2, 6), 1, "browser", "error rate", "Datadog"),
    _check("web-frontend", "web-frontend/homepage-probe",
           "Homepage probe failing from {value:.0f} of 6 regions", "https://www.example.net/",
           ("warning", "critical"), (1, 4), 1, "probe", "synthetic check", "Checkly"),
    _check("auth", "auth/failed-logins",
           "Failed logins at {value:.0f}/min (usually about 40/min)", "auth.prod.example.net",
           ("warning", "error", "critical"), (180, 900), 150, "login", "brute force"),
    _check("auth", "auth/signing-key-rotation",
           "Token signing key rotation due in {value:.0f} days", "auth.prod.example.net",
           ("info",), (3, 7), 7, "jwks", "key rotation"),
    _check("auth", "auth/token-latency",
           "Token endpoint p95 latency is {value:.0f} ms", "auth.prod.example.net",
           ("warning",), (420, 900), 400, "oauth", "latency"),
    _check("batch-jobs", "batch/warehouse-export",
           "Nightly warehouse export failed (exit code {value:.0f})", "batch-01.prod.example.net",
           ("error",), (1, 2), 0, "airflow", "job failure", "Cronitor"),
    _check("batch-jobs", "batch/invoice-run",
           "Invoice run still going after {value:.0f} min (usually 20)", "batch-02.prod.example.net",
           ("warning", "info"), (45, 120), 40, "cron", "job duration", "Cronitor"),
    _check("payments-gateway", "payments/authorization-failures",
           "Card authorizations failing at {value:.1f}% (Adyen)", "payments-gateway.prod.example.net",
           ("critical", "error"), (4, 18), 3, "psp", "error rate", "Datadog"),
    _check("payments-gateway", "payments/webhook-backlog",
           "{value:.0f} payment webhooks waiting to be processed", "payments-gateway.prod.example.net",
           ("warning",), (500, 4000), 400, "webhooks", "queue depth"),
    _check("payments-gateway", "payments/tls-expiry",
           "TLS certificate of pay.example.net expires in {value:.0f} days", "pay.example.net",
           ("info", "warning"), (5, 14), 14, "tls", "certificate expiry", "Checkly"),
    _check("search", "search/es-heap",
           "Elasticsearch heap at {value:.0f}% on es-data-03", "es-data-03.prod.example.net",
           ("warning", "error"), (86, 97), 85, "elasticsearch", "memory"),
    _check("search", "search/index-lag",
           "Product index {value:.0f} min behind the catalog", "indexer.prod.example.net",
           ("info", "warning"), (12, 55), 10, "indexer", "freshness"),
    _check("k8s-platform", "k8s/node-not-ready",
           "Node ip-10-0-3-{value:.0f}.eu-west-1.compute.internal NotReady", "prod-eu-1",
           ("error", "critical"), (10, 250), 0, "kubelet", "node health"),
)  # fmt: skip

# The cascade: the database fails, then what depends on it (PagerDuty from checkout-api, an
# Alertmanager group from web-frontend).
CASCADE_ROOT = _check(
    "postgres-main", "db-main-01/connections",
    "postgres-main: {value:.0f}% of max_connections in use, new connections refused",
    "db-main-01.prod.example.net", ("critical",), (97, 100), 90, "postgres", "saturation",
)  # fmt: skip
CASCADE_CHILD = _check(
    "checkout-api", "checkout-api/5xx-rate", "5xx rate {value:.1f}% on POST /api/checkout",
    "checkout-api.prod.example.net", ("error", "critical"), (8, 35), 2, "http", "error rate", "Datadog",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class GroupKind:
    """An Alertmanager (or Grafana-managed) alert rule whose alerts arrive as one webhook group."""

    service: str
    alertname: str
    severity: str
    summary: str  # formatted with {target} and {value}
    description: str
    target_label: str
    targets: tuple[str, ...]
    labels: Mapping[str, str]
    values: tuple[float, float]
    expr: str
    grafana: bool = False


GROUP_KINDS: tuple[GroupKind, ...] = (
    GroupKind(
        service="k8s-platform",
        alertname="KubePodCrashLooping",
        severity="warning",
        summary="Pod checkout/{target} is crash looping",
        description="{target} restarted {value:.0f} times in the last 15 minutes (OOMKilled).",
        target_label="pod",
        targets=tuple(
            f"checkout-worker-6f7c9d8b5-{s}" for s in ("2xkqp", "9fjzt", "lm4wd", "tq8vn", "zr6hb")
        ),
        labels={"namespace": "checkout", "cluster": "prod-eu-1", "job": "kube-state-metrics"},
        values=(3, 14),
        expr='max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff"}[5m]) >= 1',
    ),
    GroupKind(
        service="k8s-platform",
        alertname="NodeFilesystemAlmostFull",
        severity="critical",
        summary="Filesystem /var/lib/containerd on {target} is {value:.0f}% full",
        description="At the current rate the filesystem fills up within 4 hours.",
        target_label="instance",
        targets=tuple(f"ip-10-0-1-{n}.eu-west-1.compute.internal:9100" for n in (23, 41, 87, 112, 154)),
        labels={"cluster": "prod-eu-1", "job": "node-exporter", "mountpoint": "/var/lib/containerd"},
        values=(91, 98),
        expr='node_filesystem_avail_bytes{mountpoint="/var/lib/containerd"} / node_filesystem_size_bytes'
        " < 0.1",
    ),
    GroupKind(
        service="search",
        alertname="ElasticsearchDiskWatermark",
        severity="warning",
        summary="Disk on {target} above the high watermark ({value:.0f}%)",
        description="Shards are being moved off the node; indexing slows down until space is freed.",
        target_label="instance",
        targets=tuple(f"es-data-0{n}.prod.example.net" for n in range(1, 6)),
        labels={"cluster": "search-prod", "grafana_folder": "Search"},
        values=(90, 95),
        expr="elasticsearch_filesystem_data_used_percent > 90",
        grafana=True,
    ),
    GroupKind(
        service="batch-jobs",
        alertname="KubeJobFailed",
        severity="warning",
        summary="Job batch/{target} failed",
        description="The job exhausted its {value:.0f} retries; the next scheduled run retries it.",
        target_label="job_name",
        targets=tuple(f"reconcile-ledger-2891{n}" for n in (1540, 2980, 4420, 5860)),
        labels={"namespace": "batch", "cluster": "prod-eu-1", "job": "kube-state-metrics"},
        values=(3, 6),
        expr="kube_job_failed > 0",
    ),
)

CASCADE_FRONTEND = GroupKind(
    service="web-frontend",
    alertname="CheckoutPageErrors",
    severity="critical",
    summary="Checkout page failing for {value:.0f}% of sessions",
    description="The storefront cannot complete orders: checkout-api answers 5xx.",
    target_label="instance",
    targets=("https://www.example.net/checkout",),
    labels={"job": "blackbox", "team": "storefront"},
    values=(12, 60),
    expr='probe_success{job="blackbox", target=~".*/checkout"} == 0',
)

CHANGE_SOURCES = ("github-actions", "argocd", "terraform-cloud")
FEATURE_FLAGS = ("new-search-ranking", "one-click-checkout", "passkey-login", "async-invoices")


# -- the scenario --


@dataclass(frozen=True, slots=True)
class Post:
    """One HTTP POST to the intake: the body, and the key as a bearer token where the format wants it."""

    path: str
    body: dict[str, Any]
    what: str  # for logs: "trigger payments/authorization-failures (critical)"
    bearer: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.bearer}"} if self.bearer else {}


@dataclass(frozen=True, slots=True)
class Tick:
    at: float  # scenario seconds since the start
    post: Post


@dataclass(slots=True, eq=False)
class _Alert:
    """A PagerDuty alert the scenario has opened and not resolved yet."""

    check: Check
    severity: str
    opened: float
    routine: bool  # False for a cascade's: those are resolved by the cascade, not evicted
    resolved: bool = False


@dataclass(slots=True, eq=False)
class _Group:
    """An Alertmanager or Grafana group that is firing."""

    kind: GroupKind
    firing: list[str]
    starts: dict[str, datetime]
    values: dict[str, float]
    resolved: dict[str, datetime] = field(default_factory=dict)  # told once, then dropped


FollowUp = Callable[[], Post | None]  # None when it no longer applies (its alert already resolved)

OPENING_GAP = (0.25, 0.7)  # seconds between the first posts: incidents appear at once
CALM_GAP = (2.0, 5.0)  # then one event every 2 to 5 seconds
MAX_OPEN = 10  # routine PagerDuty alerts open at once; past it the oldest is resolved
MAX_GROUPS = 2  # webhook groups firing at once, besides a cascade's


class Scenario:
    """What the demo's monitoring says, tick by tick: pure and reproducible for a seed.

    Time is virtual (scenario seconds), advanced by the gaps the RNG draws; only the timestamps in the
    bodies come from `clock`. Each tick is one post: the opening burst first, then any follow-up that
    is due (repeats, acknowledges, resolves, a group's next notification, the next step of a cascade),
    else something new. New alerts come only when nothing is due, so the stream regulates itself, and
    at most `max_open` routine alerts are open: past that the oldest is resolved.
    """

    def __init__(
        self,
        routing_keys: Mapping[str, str],
        rng: random.Random,
        *,
        clock: Callable[[], datetime] | None = None,
        max_open: int = MAX_OPEN,
    ) -> None:
        if missing := [name for name, _ in DEMO_SERVICES if name not in routing_keys]:
            raise ValueError(f"no routing key for the demo services {', '.join(missing)}: run seed() first")
        if not 0 < max_open < len(CHECKS):
            raise ValueError(f"max_open must be between 1 and {len(CHECKS) - 1}")
        self._keys = routing_keys
        self._rng = rng
        self._clock = clock or (lambda: datetime.now(UTC))
        self._max_open = max_open
        self._t = 0.0
        self._order = itertools.count()
        self._due: list[tuple[float, int, FollowUp]] = []
        self._alerts: dict[str, _Alert] = {}  # open PagerDuty alerts by dedup key
        self._groups: dict[str, _Group] = {}  # firing groups by alertname
        self._cascading = False
        self._next_cascade = rng.uniform(12.0, 20.0)
        self._opening: list[FollowUp] = [
            lambda: self._new_alert(HIGH),
            self._start_group,
            lambda: self._new_alert(LOW),
            self._change,
            lambda: self._new_alert(HIGH),
            lambda: self._new_alert(LOW),
        ]

    # -- what tests and the stream look at --

    @property
    def now(self) -> float:
        return self._t

    @property
    def open_alerts(self) -> int:
        """PagerDuty alerts open, routine and cascade."""
        return len(self._alerts)

    @property
    def routine_open(self) -> int:
        return sum(alert.routine for alert in self._alerts.values())

    @property
    def firing_groups(self) -> int:
        return len(self._groups)

    def ticks(self) -> Iterator[Tick]:
        while True:
            yield self.next_tick()

    def next_tick(self) -> Tick:
        at = self._t
        post = self._next_post()
        low, high = OPENING_GAP if self._opening else CALM_GAP
        self._t += self._rng.uniform(low, high)
        return Tick(at, post)

    # -- choosing --

    def _next_post(self) -> Post:
        if self._opening:
            post = self._opening.pop(0)()
            if post is not None:
                return post
        while self._due and self._due[0][0] <= self._t:
            _, _, follow_up = heapq.heappop(self._due)
            post = follow_up()
            if post is not None:
                return post
        return self._something_new()

    def _something_new(self) -> Post:
        if self._t >= self._next_cascade and not self._cascading:
            # the database's own alerts clear first, so the cascade's incident is the one its dependants
            # join (alerts attach to an open incident of the parent, whichever it is)
            busy = [alert for alert in self._alerts.values() if alert.check.service == CASCADE_ROOT.service]
            if busy:
                cleared = self._resolve(busy[0])
                assert cleared is not None  # an open alert resolves
                return cleared
            self._next_cascade = self._t + self._rng.uniform(150.0, 300.0)
            return self._start_cascade()
        roll = self._rng.random()
        post: Post | None = None
        if roll < 0.12:
            post = self._change()
        elif roll < 0.24:
            post = self._start_group()
        elif roll < 0.30:
            post = self._flap()
        return post or self._new_alert(HIGH + LOW)

    def _later(self, delay: float, follow_up: FollowUp) -> None:
        heapq.heappush(self._due, (self._t + delay, next(self._order), follow_up))

    # -- PagerDuty alerts --

    def _new_alert(self, severities: Sequence[str]) -> Post:
        if self.routine_open >= self._max_open:
            oldest = min((a for a in self._alerts.values() if a.routine), key=lambda a: a.opened)
            post = self._resolve(oldest)
            assert post is not None  # an open alert resolves
            return post
        candidates = [
            check
            for check in CHECKS
            if check.dedup_key not in self._alerts and any(s in severities for s in check.severities)
        ]
        if not candidates:  # everything that can say that is open already: say something else
            candidates = [check for check in CHECKS if check.dedup_key not in self._alerts]
        check = self._rng.choice(candidates)
        wanted = [s for s in check.severities if s in severities] or list(check.severities)
        alert = _Alert(check, self._rng.choice(wanted), self._t, routine=True)
        post = self._open(alert)
        self._plan_routine(alert)
        return post

    def _plan_routine(self, alert: _Alert) -> None:
        """Repeats while it lasts, maybe an acknowledge, then a resolve: 20 s to 5 min later."""
        shape = self._rng.random()
        lasts = self._rng.uniform(*((20, 45) if shape < 0.4 else (45, 120) if shape < 0.85 else (120, 300)))
        for _ in range(self._rng.choice((0, 0, 1, 2))):
            self._later(self._rng.uniform(5, lasts - 2), lambda: self._repeat(alert))
        if self._rng.random() < 0.5:
            self._later(self._rng.uniform(4, min(30.0, lasts - 3)), lambda: self._acknowledge(alert))
        self._later(lasts, lambda: self._resolve(alert))

    def _flap(self) -> Post | None:
        """A repeat of an open key now: the condition is still there and monitoring says so again."""
        routine = [alert for alert in self._alerts.values() if alert.routine]
        return self._repeat(self._rng.choice(routine)) if routine else None

    def _open(self, alert: _Alert) -> Post:
        self._alerts[alert.check.dedup_key] = alert
        return self._trigger(alert, "trigger")

    def _repeat(self, alert: _Alert) -> Post | None:
        return None if alert.resolved else self._trigger(alert, "repeat")

    def _trigger(self, alert: _Alert, what: str) -> Post:
        check, rng = alert.check, self._rng
        value = rng.uniform(*check.values)
        detected = self._clock() - timedelta(seconds=rng.uniform(1.0, 20.0))
        body: dict[str, Any] = {
            "routing_key": self._keys[check.service],
            "event_action": "trigger",
            "dedup_key": check.dedup_key,
            "payload": {
                "summary": check.summary.format(value=value),
                "source": check.source,
                "severity": alert.severity,
                "timestamp": _rfc3339(detected),
                "component": check.component,
                "group": "prod-eu",
                "class": check.klass,
                "custom_details": {
                    "current": round(value, 1),
                    "threshold": check.threshold,
                    "environment": "production",
                    "region": "eu-west-1",
                },
            },
            "links": [{"href": check.dashboard, "text": "Dashboard"}],
            "client": check.client,
            "client_url": check.client_url,
        }
        return Post("/v2/enqueue", body, f"{what} {check.dedup_key} ({alert.severity})")

    def _acknowledge(self, alert: _Alert) -> Post | None:
        return None if alert.resolved else self._follow_up(alert, "acknowledge")

    def _resolve(self, alert: _Alert) -> Post | None:
        if alert.resolved:
            return None
        alert.resolved = True
        del self._alerts[alert.check.dedup_key]
        return self._follow_up(alert, "resolve")

    def _follow_up(self, alert: _Alert, action: str) -> Post:
        check = alert.check
        body: dict[str, Any] = {
            "routing_key": self._keys[check.service],
            "dedup_key": check.dedup_key,
            "event_action": action,
        }
        return Post("/v2/enqueue", body, f"{action} {check.dedup_key}")

    # -- change events --

    def _change(self) -> Post:
        rng = self._rng
        service = rng.choice([name for name, _ in DEMO_SERVICES if name != "k8s-platform"])
        who = rng.choice([name for name, role in DEMO_USERS if role in ("responder", "admin")])
        roll = rng.random()
        details: dict[str, Any] = {"environment": "production", "by": who}
        links: list[dict[str, str]] = []
        if roll < 0.6:
            version = f"v{rng.randint(1, 4)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
            commit = f"{rng.getrandbits(28):07x}"
            summary = f"Deployed {service} {version} ({commit})"
            details |= {"version": version, "commit": commit}
            links.append(
                {"href": f"https://github.example.net/shop/{service}/commit/{commit}", "text": "Commit"}
            )
            source = rng.choice(CHANGE_SOURCES[:2])
        elif roll < 0.8:
            flag, share = rng.choice(FEATURE_FLAGS), rng.choice((5, 10, 25, 50, 100))
            summary = f"Feature flag {flag} at {share}% for {service}"
            details |= {"flag": flag, "rollout_percent": share}
            source = "launchdarkly"
        else:
            before = rng.randint(2, 8)
            after = before + rng.choice((-1, 2, 4))
            summary = f"Scaled {service} from {before} to {after} replicas"
            details |= {"replicas_before": before, "replicas_after": after}
            source = "terraform-cloud"
        body: dict[str, Any] = {
            "routing_key": self._keys[service],
            "payload": {
                "summary": summary,
                "source": source,
                "timestamp": _rfc3339(self._clock()),
                "custom_details": details,
            },
        }
        if links:
            body["links"] = links
        return Post("/v2/change/enqueue", body, f"change on {service}: {summary}")

    # -- Alertmanager and Grafana groups --

    def _start_group(self) -> Post | None:
        free = [kind for kind in GROUP_KINDS if kind.alertname not in self._groups]
        if not free or len(self._groups) >= MAX_GROUPS:
            return None
        rng = self._rng
        kind = rng.choice(free)
        group = self._fire(kind, rng.randint(2, 3))
        # then maybe grow ("new alerts added"), maybe a re-post with nothing new, some resolve, all resolve
        step = 0.0
        if rng.random() < 0.7:
            step += rng.uniform(15, 35)
            self._later(step, lambda: self._grow(group))
        if rng.random() < 0.5:
            step += rng.uniform(8, 20)
            self._later(step, lambda: self._notify(group, "repeat"))
        step += rng.uniform(15, 40)
        self._later(step, lambda: self._resolve_some(group))
        step += rng.uniform(15, 50)
        self._later(step, lambda: self._resolve_group(group))
        return self._notify(group, "first notification")

    def _fire(self, kind: GroupKind, size: int) -> _Group:
        group = _Group(kind, [], {}, {})
        self._groups[kind.alertname] = group
        self._add_targets(group, size)
        return group

    def _add_targets(self, group: _Group, count: int) -> None:
        now = self._clock()
        free = [t for t in group.kind.targets if t not in group.starts]
        for target in self._rng.sample(free, min(count, len(free))):
            group.firing.append(target)
            group.starts[target] = now - timedelta(
                seconds=self._rng.uniform(30, 90)
            )  # group_wait and then some
            group.values[target] = self._rng.uniform(*group.kind.values)

    def _grow(self, group: _Group) -> Post | None:
        if len(group.starts) == len(group.kind.targets):
            return None
        self._add_targets(group, self._rng.randint(1, 2))
        return self._notify(group, "new alerts added")

    def _resolve_some(self, group: _Group) -> Post | None:
        if len(group.firing) < 2:
            return None
        now = self._clock()
        for target in self._rng.sample(group.firing, len(group.firing) // 2):
            group.firing.remove(target)
            group.resolved[target] = now
        return self._notify(group, "some alerts resolved")

    def _resolve_group(self, group: _Group) -> Post:
        now = self._clock()
        for target in group.firing:
            group.resolved[target] = now
        group.firing.clear()
        del self._groups[group.kind.alertname]
        return self._notify(group, "all alerts resolved")

    def _notify(self, group: _Group, reason: str) -> Post:
        """The group as its sender posts it: every firing alert, and those resolved since last time."""
        kind = group.kind
        status = "firing" if group.firing else "resolved"
        alerts = [self._group_alert(group, target, None) for target in group.firing]
        alerts += [self._group_alert(group, target, ended) for target, ended in group.resolved.items()]
        group.resolved.clear()
        common_labels = {"alertname": kind.alertname, "severity": kind.severity, **kind.labels}
        body: dict[str, Any] = {
            "version": "4",
            "groupKey": f'{{}}/{{severity="{kind.severity}"}}:{{alertname="{kind.alertname}"}}',
            "truncatedAlerts": 0,
            "status": status,
            "receiver": "responder-console",
            "groupLabels": {"alertname": kind.alertname},
            "commonLabels": common_labels,
            "commonAnnotations": {"runbook_url": _runbook(kind)},
            "externalURL": "https://alertmanager.example.net",
            "notification_reason": reason,
            "alerts": alerts,
        }
        if kind.grafana:
            state = f"[FIRING:{len(group.firing)}]" if group.firing else "[RESOLVED]"
            title = f"{state} {kind.alertname} ({kind.labels['grafana_folder']})"
            body |= {
                "version": "1",
                "groupKey": f'{{}}/{{__grafana_autogenerated__="true"}}:{{alertname="{kind.alertname}"}}',
                "externalURL": "https://grafana.example.net/",
                "orgId": 1,
                "state": "alerting" if group.firing else "ok",
                "title": title,
                "message": f"{title}\n{kind.description}",
            }
            del body["notification_reason"]
        sender = "Grafana" if kind.grafana else "Alertmanager"
        return Post(
            "/integrations/alertmanager",
            body,
            f"{sender} {kind.alertname}: {reason} ({len(group.firing)} firing)",
            bearer=self._keys[kind.service],
        )

    def _group_alert(self, group: _Group, target: str, ended: datetime | None) -> dict[str, Any]:
        kind = group.kind
        value = group.values[target]
        labels = {
            "alertname": kind.alertname,
            "severity": kind.severity,
            **kind.labels,
            kind.target_label: target,
        }
        alert: dict[str, Any] = {
            "status": "firing" if ended is None else "resolved",
            "labels": labels,
            "annotations": {
                "summary": kind.summary.format(target=target, value=value),
                "description": kind.description.format(target=target, value=value),
                "runbook_url": _runbook(kind),
            },
            "startsAt": _rfc3339(group.starts[target]),
            "endsAt": AM_ZERO_TIME if ended is None else _rfc3339(ended),
            "generatorURL": "https://prometheus.example.net/graph?g0.expr=" + _quote(kind.expr),
            "fingerprint": _fingerprint(labels),
        }
        if kind.grafana:
            slug = kind.alertname.lower()
            alert |= {
                "generatorURL": f"https://grafana.example.net/alerting/grafana/{slug}/view",
                "dashboardURL": "https://grafana.example.net/d/search-cluster",
                "panelURL": "https://grafana.example.net/d/search-cluster?viewPanel=4",
                "silenceURL": f"https://grafana.example.net/alerting/silence/new?matcher=instance%3D{target}",
                "values": {"A": round(value, 2)},
                "valueString": f"[ var='A' labels={{instance={target}}} value={value:.2f} ]",
            }
        return alert

    # -- the dependency cascade --

    def _start_cascade(self) -> Post:
        """postgres-main saturates; checkout-api and then web-frontend fail because of it, and their alerts
        join the database's incident. Someone acknowledges; the database recovers, then its dependants."""
        self._cascading = True
        rng = self._rng
        root = _Alert(CASCADE_ROOT, "critical", self._t, routine=False)
        child = _Alert(CASCADE_CHILD, rng.choice(CASCADE_CHILD.severities), self._t, routine=False)
        post = self._open(root)
        self._later(rng.uniform(2, 4), lambda: self._open(child))
        self._later(rng.uniform(4, 8), self._frontend_fails)
        self._later(rng.uniform(8, 14), lambda: self._repeat(root))
        self._later(rng.uniform(9, 18), lambda: self._acknowledge(root))
        recovered = rng.uniform(35, 60)
        self._later(recovered, lambda: self._resolve(root))
        child_ok, frontend_ok = recovered + rng.uniform(3, 8), recovered + rng.uniform(5, 14)
        self._later(child_ok, lambda: self._resolve(child))
        self._later(frontend_ok, self._frontend_recovers)
        self._later(max(child_ok, frontend_ok) + 0.001, self._cascade_over)
        return post

    def _frontend_fails(self) -> Post:
        return self._notify(self._fire(CASCADE_FRONTEND, 1), "first notification")

    def _frontend_recovers(self) -> Post | None:
        group = self._groups.get(CASCADE_FRONTEND.alertname)
        return self._resolve_group(group) if group is not None else None

    def _cascade_over(self) -> None:
        self._cascading = False


def _rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _fingerprint(labels: Mapping[str, str]) -> str:
    """16 hex characters from the label set, as Alertmanager's are."""
    text = "\xff".join(f"{name}\xfe{value}" for name, value in sorted(labels.items()))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _runbook(kind: GroupKind) -> str:
    return f"https://runbooks.example.net/{kind.service}/{kind.alertname}"


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


# -- sending --

CATCH_UP_LIMIT = 2.0  # seconds behind schedule (the server was away) past which the schedule moves on
MAX_BACKOFF = 5.0
MAX_ATTEMPTS = 5  # answers of 429 or 5xx to one post before it counts as failed


class AlertStream:
    """Plays a `Scenario` against a running server over HTTP.

    `speed` divides every gap (a test runs minutes of scenario in seconds). A 4xx is logged and counted
    as failed, never retried (as monitoring does); a 429 or 5xx is retried after Retry-After, up to
    MAX_ATTEMPTS answers; a connection error (the server starting or restarting) is retried with
    backoff until `stop`. Counters: `sent` posts answered (once each, whatever the retries),
    `accepted` answered 2xx, `failed` answered otherwise, `retries` attempts made again.

    The scenario does not learn what the server refused: after a refused trigger it still sends the
    alert's follow-ups, which the server answers 2xx and drops, as it does for any unknown key.
    """

    def __init__(
        self,
        base_url: str,
        keys: DemoKeys,
        *,
        rng_seed: int | None = None,
        speed: float = 1.0,
        max_open: int = MAX_OPEN,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.base_url = base_url.rstrip("/")
        self.scenario = Scenario(keys.services, random.Random(rng_seed), clock=clock, max_open=max_open)
        self.speed = speed
        self._client = client
        self.sent = 0
        self.accepted = 0
        self.failed = 0
        self.retries = 0
        self._unreachable = False

    async def run(self, stop: asyncio.Event) -> None:
        """Post until `stop` is set; a post under way is finished first."""
        client = self._client or httpx.AsyncClient(
            base_url=self.base_url, timeout=10.0, headers={"User-Agent": "responder-console-demo"}
        )
        try:
            loop = asyncio.get_running_loop()
            start = loop.time()
            for tick in self.scenario.ticks():
                due = start + tick.at / self.speed
                behind = loop.time() - due
                if behind > CATCH_UP_LIMIT:  # no burst of everything missed while the server was away
                    start += behind
                elif await _pause(stop, -behind):
                    return
                if stop.is_set() or not await self._deliver(client, tick.post, stop):
                    return
        finally:
            if self._client is None:
                await client.aclose()

    async def _deliver(self, client: httpx.AsyncClient, post: Post, stop: asyncio.Event) -> bool:
        """Post until answered; False when stopped while waiting to retry."""
        url = self.base_url + post.path
        backoff = 0.25
        answers = 0
        while True:
            try:
                response = await client.post(url, json=post.body, headers=post.headers)
            except httpx.TransportError as exc:
                self.retries += 1
                if not self._unreachable:
                    log.info("demo: the server at %s is not reachable (%s); retrying", self.base_url, exc)
                    self._unreachable = True
                if await _pause(stop, backoff):
                    return False
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            if self._unreachable:
                log.info("demo: the server at %s answers again", self.base_url)
                self._unreachable = False
            answers += 1
            status = response.status_code
            if (status == 429 or status >= 500) and answers < MAX_ATTEMPTS:
                self.retries += 1
                wait = _retry_after(response, backoff)
                log.info("demo: %s answered %d; retrying in %.1f s", post.what, status, wait)
                if await _pause(stop, wait):
                    return False
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            self.sent += 1
            if response.is_success:
                self.accepted += 1
                log.debug("demo: %s", post.what)
            else:
                self.failed += 1
                log.warning("demo: %s was refused: %d %s", post.what, status, response.text[:500])
            return True


async def run_demo(
    base_url: str, keys: DemoKeys, stop: asyncio.Event, *, rng_seed: int | None = None, speed: float = 1.0
) -> AlertStream:
    """Send the demo's alert stream to the server at `base_url` until `stop`; returns the stream (its
    counters). The database must have been seeded (`seed`) first."""
    stream = AlertStream(base_url, keys, rng_seed=rng_seed, speed=speed)
    log.info("demo: sending sample alerts to %s", base_url)
    await stream.run(stop)
    log.info(
        "demo stopped: %d posts answered, %d accepted, %d refused, %d retries",
        stream.sent,
        stream.accepted,
        stream.failed,
        stream.retries,
    )
    return stream


def _retry_after(response: httpx.Response, default: float) -> float:
    try:
        return min(max(float(response.headers.get("Retry-After", "")), 0.0), 30.0)
    except ValueError:
        return default


async def _pause(stop: asyncio.Event, seconds: float) -> bool:
    """Wait `seconds`, or less when `stop` is set; True when stopped."""
    if seconds <= 0:
        return stop.is_set()
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True
