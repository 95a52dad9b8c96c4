"""The bodies the intake benchmark sends, shared by the Python load generator and mirrored in pd_mix.lua.

PagerDuty Events v2: mostly triggers with new dedup keys (each opens an alert and an incident), some
repeats of open keys, some resolves and acknowledges. Alertmanager webhook v4: whole groups of N
alerts, each group with its own groupKey and its alerts with their own fingerprints; the same group
can be built again, byte for byte, to re-post it as Alertmanager does at every repeat_interval.
"""

from __future__ import annotations

import hashlib
import random
from collections import deque
from typing import Any, Protocol

import orjson

SEVERITIES = ("critical", "error", "warning", "info")

# Shares of PagerDuty actions in percent (the rest are triggers with a new dedup key).
REPEAT_PCT = 12
RESOLVE_PCT = 6
ACK_PCT = 2
# A key is reused only this many requests after its trigger, so the trigger has been stored by then.
KEY_DELAY = 512
OPEN_KEYS_MAX = 4096


def http_post(port: int, target: str, body: bytes) -> bytes:
    """One HTTP/1.1 keep-alive POST with a JSON body, as bytes on the wire."""
    head = (
        f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def pd_trigger(routing_key: str, dedup_key: str, n: int) -> bytes:
    """A trigger shaped like Alertmanager's PagerDuty notifier sends (about 560 bytes)."""
    host = n % 500
    return (
        f'{{"routing_key":"{routing_key}","event_action":"trigger","dedup_key":"{dedup_key}",'
        f'"payload":{{"summary":"High request latency on api-{host} (p99 above 500 ms)",'
        f'"source":"api-{host}.prod.example.net","severity":"{SEVERITIES[n % 4]}","component":"api",'
        f'"group":"prod-eu","class":"latency","custom_details":{{"p99_ms":{500 + n % 700},'
        f'"threshold_ms":500,"region":"eu-west-1"}}}},'
        f'"links":[{{"href":"https://grafana.example.net/d/api?var-host=api-{host}","text":"Dashboard"}}],'
        f'"client":"Prometheus Alertmanager","client_url":"http://alertmanager.example.net:9093"}}'
    ).encode()


def pd_follow_up(routing_key: str, action: str, dedup_key: str) -> bytes:
    """A minimal acknowledge or resolve."""
    return (f'{{"routing_key":"{routing_key}","event_action":"{action}","dedup_key":"{dedup_key}"}}').encode()


class Workload(Protocol):
    def next(self) -> tuple[bytes, int]:
        """The next request (full HTTP bytes) and how many alert events it carries."""
        ...


class PagerDutyMix:
    """Triggers with new keys (~80%), repeats (12%), resolves (6%), acknowledges (2%)."""

    def __init__(self, port: int, routing_key: str, prefix: str, seed: int) -> None:
        self._port = port
        self._key = routing_key
        self._prefix = prefix
        self._random = random.Random(seed)
        self._counter = 0
        self._fresh: deque[str] = deque()
        self._open: list[str] = []

    def body(self) -> bytes:
        """The next event's JSON body."""
        self._counter += 1
        n = self._counter
        while len(self._fresh) > KEY_DELAY:
            key = self._fresh.popleft()
            if len(self._open) < OPEN_KEYS_MAX:
                self._open.append(key)
            else:
                self._open[self._random.randrange(OPEN_KEYS_MAX)] = key
        roll = self._random.randrange(100)
        if self._open and roll < REPEAT_PCT:
            return pd_trigger(self._key, self._random.choice(self._open), self._random.randrange(1 << 20))
        if self._open and roll < REPEAT_PCT + RESOLVE_PCT:
            i = self._random.randrange(len(self._open))
            key = self._open[i]
            self._open[i] = self._open[-1]
            self._open.pop()
            return pd_follow_up(self._key, "resolve", key)
        if self._open and roll < REPEAT_PCT + RESOLVE_PCT + ACK_PCT:
            return pd_follow_up(self._key, "acknowledge", self._random.choice(self._open))
        key = f"{self._prefix}-{n}"
        self._fresh.append(key)
        return pd_trigger(self._key, key, n)

    def next(self) -> tuple[bytes, int]:
        return http_post(self._port, "/v2/enqueue", self.body()), 1


def am_fingerprint(run: str, group: int, alert: int) -> str:
    return hashlib.blake2b(f"{run}/{group}/{alert}".encode(), digest_size=8).hexdigest()


def am_message(run: str, group: int, size: int, starts_at: str) -> dict[str, Any]:
    """An Alertmanager v4 webhook body: one group of `size` firing alerts (about 600 bytes each)."""
    name = f"NodeDiskPressure{group % 50}"
    cluster = f"k8s-{run}-{group}"
    alerts = []
    for j in range(size):
        labels = {
            "alertname": name,
            "cluster": cluster,
            "instance": f"node-{group}-{j}.prod.example.net:9100",
            "job": "node-exporter",
            "namespace": "monitoring",
            "severity": "critical" if j % 5 == 0 else "warning",
            "device": f"/dev/nvme{j % 4}n1",
        }
        alerts.append(
            {
                "status": "firing",
                "labels": labels,
                "annotations": {
                    "summary": f"Disk {80 + j % 20}% full on node-{group}-{j}",
                    "description": "The filesystem is filling up; at this rate it is full within 4 hours.",
                    "runbook_url": "https://runbooks.example.net/node/NodeDiskPressure",
                },
                "startsAt": starts_at,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example.net:9090/graph?g0.expr=node_filesystem_avail",
                "fingerprint": am_fingerprint(run, group, j),
            }
        )
    return {
        "version": "4",
        "groupKey": f'{{}}/{{severity=~"critical|warning"}}:{{alertname="{name}", cluster="{cluster}"}}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "responder-console",
        "groupLabels": {"alertname": name, "cluster": cluster},
        "commonLabels": {"alertname": name, "cluster": cluster, "job": "node-exporter"},
        "commonAnnotations": {"runbook_url": "https://runbooks.example.net/node/NodeDiskPressure"},
        "externalURL": "http://alertmanager.example.net:9093",
        "alerts": alerts,
    }


class AlertmanagerGroups:
    """Group after group: new groups (`first`, `first + 1`, …) or, with `cycle`, re-posts of 0…cycle-1."""

    def __init__(
        self, port: int, key: str, run: str, size: int, starts_at: str, *, first: int = 0, cycle: int = 0
    ) -> None:
        self._port = port
        self._target = f"/integrations/alertmanager?key={key}"
        self._run = run
        self._size = size
        self._starts_at = starts_at
        self._next = first
        self._cycle = cycle
        self.groups_sent = 0

    def next(self) -> tuple[bytes, int]:
        group = self._next % self._cycle if self._cycle else self._next
        self._next += 1
        self.groups_sent += 1
        body = orjson.dumps(am_message(self._run, group, self._size, self._starts_at))
        return http_post(self._port, self._target, body), self._size
