"""Load the running Python baseline with wrk, as Trellis's `request-path` scenario loads
Trellis (same defaults: 64 connections, 2 threads, 2 s warm-up, 2 rounds of 10 s per route,
order reversed every other round), and print per route: requests/s, p50/p99, and the CPU
microseconds per request spent by the uvicorn processes (master and workers), the local
Postgres (postmaster and its children) and the local Redis, read from /proc.

    .build-pybase/venv/bin/python Benchmarks/python-baseline/load.py --config FIXTURE.json \
        [--url http://127.0.0.1:8090] [--seconds 10] [--rounds 2] [--only hello,get,list]

FIXTURE.json is what run.sh served (it names the token and the agent to read). Run it on
the same machine as the server so /proc has the processes; CPU not found is left out.
wrk's own CPU is not counted, as in request-path.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import urllib.parse
import urllib.request

TICKS = os.sysconf("SC_CLK_TCK")


def stat(pid: int) -> tuple[int, int] | None:
    """(ppid, utime + stime in ticks) of a live process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[1]), int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def tree_ticks(root: int) -> int:
    """CPU ticks of root and all its descendants alive now."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            s = stat(int(entry))
            if s:
                parents[int(entry)], ticks[int(entry)] = s
    members, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in members:
                members.add(pid)
                frontier.append(pid)
    return sum(ticks.get(pid, 0) for pid in members)


def listening_pids(port: int) -> list[int]:
    out = subprocess.run(["ss", "-Hltnp", f"( sport = :{port} )"], capture_output=True, text=True).stdout
    return sorted({int(p) for p in re.findall(r"pid=(\d+)", out)})


def uvicorn_master(port: int) -> int | None:
    pids = listening_pids(port)
    if not pids:
        return None
    # With several workers every worker holds the socket; the master is their parent.
    parents = {stat(pid)[0] for pid in pids if stat(pid)}
    if len(parents) == 1:
        parent = parents.pop()
        if parent > 1 and "uvicorn" in open(f"/proc/{parent}/cmdline", "rb").read().decode(errors="replace"):
            return parent
    return pids[0]


def postmaster(database_url: str | None) -> int | None:
    if not database_url or not shutil.which("psql"):
        return None
    out = subprocess.run(["psql", "-X", "-At", database_url, "-c", "SELECT pg_backend_pid()"],
                         capture_output=True, text=True)
    s = stat(int(out.stdout.strip())) if out.returncode == 0 and out.stdout.strip().isdigit() else None
    return s[0] if s else None


def redis_pid(redis_url: str | None) -> int | None:
    if not redis_url or not shutil.which("redis-cli"):
        return None
    out = subprocess.run(["redis-cli", "-u", redis_url, "info", "server"], capture_output=True, text=True).stdout
    match = re.search(r"process_id:(\d+)", out)
    return int(match.group(1)) if match and stat(int(match.group(1))) else None


def millis(text: str) -> float:
    value = float(re.match(r"[\d.]+", text).group())
    return value / 1000 if text.endswith("us") else value * 1000 if text.endswith("s") and not text.endswith("ms") else value


def wrk(url: str, token: str | None, seconds: int, connections: int, threads: int) -> dict:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
              "requests": int(re.search(r"(\d+) requests in", out).group(1)),
              "p50": millis(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
              "p99": millis(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
              "failures": 0}
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    result["failures"] = (int(bad.group(1)) if bad else 0) + (sum(map(int, errors.groups())) if errors else 0)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="the fixture JSON run.sh served (token, agent_id)")
    parser.add_argument("--url", default="http://127.0.0.1:8090")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default="hello,get,list")
    args = parser.parse_args()
    fixture = json.load(open(args.config))
    token = fixture.get("token") or next(iter(fixture.get("tokens", {})), None)
    agent = fixture.get("agent_id")
    routes = {"hello": ("/hello", None), "get": (f"/v1/agents/{agent}", token), "list": ("/v1/agents?limit=20", token)}
    chosen = [name for name in args.only.split(",") if name]
    unknown = [name for name in chosen if name not in routes]
    if unknown or (("get" in chosen) and not agent) or not token:
        sys.exit(f"error: unknown route(s) {unknown}" if unknown else "error: the config names no token or agent_id")

    port = urllib.parse.urlsplit(args.url).port or 80
    processes = {"server": uvicorn_master(port),
                 "postgres": postmaster(os.environ.get("DATABASE_URL") or fixture.get("database_url")),
                 "redis": redis_pid(os.environ.get("REDIS_URL") or fixture.get("redis_url"))}
    print("Python baseline load: " + ", ".join(f"{k} pid {v}" if v else f"{k} not found (not counted)"
                                               for k, v in processes.items()))
    for name in chosen:
        path, auth = routes[name]
        request = urllib.request.Request(args.url + path, headers={"Authorization": f"Bearer {auth}"} if auth else {})
        with urllib.request.urlopen(request) as response:
            body = response.read()
            print(f"check {name:6} HTTP {response.status}, {len(body)} bytes")
    print(f"wrk: {args.connections} connections, {args.threads} threads, {args.rounds} rounds of {args.seconds} s per route")
    for name in chosen:
        if args.warmup > 0:
            path, auth = routes[name]
            result = wrk(args.url + path, auth, args.warmup, args.connections, args.threads)
            print(f"warm-up {name:6} {result['rps']:9.0f} req/s")

    samples: dict[str, list[dict]] = {name: [] for name in chosen}
    for round_number in range(1, args.rounds + 1):
        for name in (chosen if round_number % 2 == 1 else list(reversed(chosen))):
            path, auth = routes[name]
            before = {k: tree_ticks(pid) for k, pid in processes.items() if pid}
            result = wrk(args.url + path, auth, args.seconds, args.connections, args.threads)
            for k, ticks in before.items():
                used = tree_ticks(processes[k]) - ticks
                result[k] = used / TICKS * 1e6 / max(result["requests"], 1)
            samples[name].append(result)
            cpu = "  ".join(f"{k} {result[k]:7.1f} µs/req" for k in before)
            print(f"round {round_number} {name:6} {result['rps']:9.0f} req/s  p50 {result['p50']:7.2f} ms  "
                  f"p99 {result['p99']:7.2f} ms  {cpu}" + (f"  FAILURES {result['failures']}" if result["failures"] else ""))

    print(f"\nresults (median of {args.rounds} rounds of {args.seconds} s)")
    for name in chosen:
        rounds = samples[name]
        med = {key: statistics.median(r[key] for r in rounds) for key in rounds[0] if key in
               ("rps", "p50", "p99", "server", "postgres", "redis")}
        cpu = "  ".join(f"{k} {med[k]:7.1f} µs/req" for k in ("server", "postgres", "redis") if k in med)
        print(f"  {name:6} {med['rps']:9.0f} req/s  p50 {med['p50']:7.2f} ms  p99 {med['p99']:7.2f} ms  {cpu}")
    if any(r["failures"] for rounds in samples.values() for r in rounds):
        sys.exit("some requests failed (non-2xx or socket errors); the numbers are void")


if __name__ == "__main__":
    main()
