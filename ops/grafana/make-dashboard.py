#!/usr/bin/env python3
"""Writes ops/grafana/trellis.json, the Trellis dashboard: one panel per question an on-call
engineer asks, on the series of GET /metrics, grouped as the alerts in ops/prometheus/alerts.yml
are. Edit the panels here and run `python3 ops/grafana/make-dashboard.py`; the JSON is committed
so it can be imported as is (Dashboards -> Import; pick the Prometheus data source).
`--check` (scripts/test) fails when the committed JSON is not what this script makes."""
import json
import os
import sys

R = "$__rate_interval"
rows = [
    ("Requests", [
        ("Requests per second by route", "timeseries", "reqps",
         [(f'sum by (http_route) (rate(http_server_request_duration_seconds_count{{job="$job"}}[{R}]))', "{{http_route}}")]),
        ("5xx ratio (alert: over 1% for 5 min)", "timeseries", "percentunit",
         [(f'sum(rate(http_server_request_duration_seconds_count{{job="$job", http_response_status_class="5xx"}}[{R}])) / sum(rate(http_server_request_duration_seconds_count{{job="$job"}}[{R}]))', "5xx")]),
        ("p99 latency by route (alert: over 1 s for 10 min)", "timeseries", "s",
         [(f'histogram_quantile(0.99, sum by (http_route, le) (rate(http_server_request_duration_seconds_bucket{{job="$job", http_route!~"/v1/events|/v1/realtime"}}[{R}])))', "{{http_route}}")]),
        ("Problems by code", "timeseries", "reqps",
         [(f'sum by (code) (rate(trellis_problems_total{{job="$job"}}[{R}]))', "{{code}}")]),
        ("Refused credentials by reason", "timeseries", "reqps",
         [(f'sum by (reason) (rate(trellis_auth_failures_total{{job="$job"}}[{R}]))', "{{reason}}")]),
    ]),
    ("Postgres pool", [
        ("Connections leased / pool size (alert: over 90% for 5 min)", "timeseries", "percentunit",
         [('max by (instance) (db_client_connection_count{job="$job", db_client_connection_state="used"} / ignoring (db_client_connection_state) db_client_connection_max{job="$job"})', "{{instance}}")]),
        ("Waiting for a connection", "timeseries", "short",
         [('sum by (instance) (db_client_connection_pending_requests{job="$job"})', "{{instance}}")]),
        ("Lease wait p99 (alert: over 250 ms for 5 min)", "timeseries", "s",
         [(f'histogram_quantile(0.99, sum by (instance, le) (rate(db_client_connection_wait_time_seconds_bucket{{job="$job"}}[{R}])))', "{{instance}}")]),
    ]),
    ("Redis", [
        ("Decisions made without Redis (alert: any for 2 min)", "timeseries", "ops",
         [(f'sum by (instance) (rate(trellis_rate_limit_decisions_total{{job="$job", outcome="fallback"}}[{R}]))', "rate limits {{instance}}"),
          (f'sum by (instance) (rate(trellis_cache_reads_total{{job="$job", outcome="bypass"}}[{R}]))', "cache bypass {{instance}}")]),
        ("Cache reads by outcome", "timeseries", "ops",
         [(f'sum by (outcome) (rate(trellis_cache_reads_total{{job="$job"}}[{R}]))', "{{outcome}}")]),
        ("Redis command p99", "timeseries", "s",
         [(f'histogram_quantile(0.99, sum by (le) (rate(db_client_operation_duration_seconds_bucket{{job="$job", db_system_name="redis"}}[{R}])))', "p99")]),
        ("Redis failures and reconnects", "timeseries", "ops",
         [(f'sum(rate(trellis_redis_command_failures_total{{job="$job"}}[{R}]))', "failed commands"),
          (f'sum(rate(trellis_redis_reconnects_total{{job="$job"}}[{R}]))', "reconnects")]),
        ("Rate-limit refusals", "timeseries", "ops",
         [(f'sum(rate(trellis_rate_limit_decisions_total{{job="$job", outcome="refused"}}[{R}]))', "429s")]),
    ]),
    ("Jobs", [
        ("Jobs by queue and state", "timeseries", "short",
         [('max by (queue, state) (trellis_jobs{job="$job"})', "{{queue}} {{state}}")]),
        ("Oldest runnable job's wait (alert: over 5 min for 10 min)", "timeseries", "s",
         [('max by (queue) (trellis_jobs_oldest_available_age_seconds{job="$job"})', "{{queue}}")]),
        ("Attempts by outcome", "timeseries", "ops",
         [(f'sum by (outcome) (rate(trellis_job_attempts_total{{job="$job"}}[{R}]))', "{{outcome}}")]),
        ("Dead jobs in the last hour by type", "stat", "short",
         [('sum by (type) (increase(trellis_job_attempts_total{job="$job", outcome="dead"}[1h]))', "{{type}}")]),
        ("Run time p95 by type", "timeseries", "s",
         [(f'histogram_quantile(0.95, sum by (type, le) (rate(trellis_job_run_duration_seconds_bucket{{job="$job"}}[{R}])))', "{{type}}")]),
    ]),
    ("Webhooks and realtime", [
        ("Webhook circuits", "timeseries", "short",
         [('max by (state) (trellis_webhook_circuits{job="$job"})', "{{state}}")]),
        ("Event outbox: oldest waiting event", "timeseries", "s",
         [('max(trellis_event_outbox_oldest_age_seconds{job="$job"})', "age")]),
        ("Open event streams", "timeseries", "short",
         [('sum by (instance) (trellis_event_streams_open{job="$job"})', "{{instance}}")]),
    ]),
    ("Audit", [
        ("Broken audit chains (alert: any)", "stat", "short",
         [('max(trellis_audit_chains_broken{job="$job"})', "broken")]),
        ("Since the last audit verification", "stat", "s",
         [('time() - max(trellis_audit_chain_verified_timestamp_seconds{job="$job"} > 0)', "age")]),
        ("Audit verifications by outcome", "timeseries", "short",
         [('sum by (outcome) (increase(trellis_audit_verifications_total{job="$job"}[1h]))', "{{outcome}}")]),
    ]),
]

panels = []
next_id = 1
y = 0
for title, items in rows:
    panels.append({"id": next_id, "type": "row", "title": title, "collapsed": False,
                   "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
    next_id += 1
    y += 1
    for i, (ptitle, kind, unit, targets) in enumerate(items):
        panel = {
            "id": next_id, "type": kind, "title": ptitle,
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "gridPos": {"h": 8, "w": 8, "x": (i % 3) * 8, "y": y + (i // 3) * 8},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {},
            "targets": [{"refId": chr(65 + k), "expr": expr, "legendFormat": legend,
                         "datasource": {"type": "prometheus", "uid": "${datasource}"}}
                        for k, (expr, legend) in enumerate(targets)],
        }
        if kind == "stat":
            panel["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}, "colorMode": "value"}
        panels.append(panel)
        next_id += 1
    y += ((len(items) + 2) // 3) * 8

dashboard = {
    "title": "Trellis",
    "uid": "trellis-overview",
    "description": "Requests, Postgres pool, Redis, jobs, webhooks, realtime and audit of every Trellis instance (ops/prometheus/alerts.yml has the alerts on the same series).",
    "tags": ["trellis"],
    "timezone": "utc",
    "schemaVersion": 39,
    "version": 1,
    "editable": True,
    "refresh": "30s",
    "time": {"from": "now-6h", "to": "now"},
    "templating": {"list": [
        {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"},
        {"name": "job", "type": "query", "label": "Job", "datasource": {"type": "prometheus", "uid": "${datasource}"},
         "query": "label_values(http_server_request_duration_seconds_count, job)", "refresh": 2,
         "current": {"text": "trellis", "value": "trellis"}},
    ]},
    "annotations": {"list": []},
    "panels": panels,
}

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "trellis.json")
text = json.dumps(dashboard, indent=2) + "\n"
if "--check" in sys.argv[1:]:
    # scripts/test: the committed dashboard is what this script makes.
    with open(path) as f:
        if f.read() != text:
            sys.exit(f"{path} is stale: run python3 ops/grafana/make-dashboard.py and commit it")
    print(f"{path} is up to date")
else:
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote {path}: {sum(1 for p in panels if p['type'] != 'row')} panels")
