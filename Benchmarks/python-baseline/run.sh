#!/usr/bin/env bash
#
# Benchmarks/python-baseline/run.sh — serve the Python baseline (FastAPI + uvicorn + asyncpg + Redis).
#
#   run.sh [--config FILE] [--seed N] [--port PORT] [--workers N]
#
# Runs, in the foreground (Ctrl-C stops it):
#   uvicorn app:app --workers 2 --host 127.0.0.1 --port $PORT --no-access-log --log-level warning
#           --loop uvloop --http httptools
# Access logs are off, as usual in production FastAPI deployments (Trellis's server does log
# every request). Run setup.sh first.
#
# What to serve comes from the environment, or from a JSON file (--config FILE, or
# PYBASE_CONFIG) such as a Trellis benchmark or seed.py writes; the environment wins:
#   {"database_url": "...", "redis_url": "...", "workspace_id": "<uuid>", "token": "<bearer>",
#    "tokens": {"<bearer>": "<workspace uuid>", ...}}    (token+workspace_id, tokens, or both)
#
# Options:
#   --config FILE   the JSON file above
#   --seed N        first make a fixture with seed.py: migrate DATABASE_OWNER_URL's database with
#                   Trellis's migrations, create a workspace with N agents and a token, and write
#                   it to FILE (--config) or $PYBASE_HOME/fixture.json, then serve it
#   --port PORT     (default $PORT, else 8090)
#   --workers N     uvicorn worker processes (default $PYBASE_WORKERS, else 2)
#
# Environment:
#   DATABASE_URL          the server role (trellis_app), e.g. postgres://trellis_app:trellis_app@127.0.0.1:54420/bench
#   DATABASE_OWNER_URL    the owner role; only --seed uses it
#   REDIS_URL             e.g. redis://127.0.0.1:63799
#   WORKSPACE, TOKEN      one bearer token and its workspace id
#   TOKENS                a JSON object {"<token>": "<workspace id>", ...}, added to the above
#   PYBASE_PG_POOL_SIZE   Postgres connections per worker (default 8: 2 workers = 16, Trellis's pool on 2 cores)
#   PYBASE_CACHE_TTL      seconds an agent stays in Redis (default 60; 0 = no cache, every get reads Postgres)
#   PYBASE_PG_PLAN_CACHE_MODE  e.g. force_generic_plan, as Trellis sets (default: Postgres's own, auto)
#   PYBASE_PG_RESET       on (default, asyncpg's pool: one reset round trip per release) or off
#   PYBASE_CURSOR_KEY     hex key signing list cursors (default: a random one per start)
#   PYBASE_HOME           the setup's folder (default <repo>/.build-pybase)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)
home=${PYBASE_HOME:-$repo/.build-pybase}
venv="$home/venv"
config=${PYBASE_CONFIG:-}
seed=""
port=${PORT:-8090}
workers=${PYBASE_WORKERS:-2}

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case "$1" in
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        --config) config=${2:?--config needs a file}; shift 2 ;;
        --seed) seed=${2:?--seed needs a number of agents}; shift 2 ;;
        --port) port=${2:?--port needs a number}; shift 2 ;;
        --workers) workers=${2:?--workers needs a number}; shift 2 ;;
        *) die "unexpected argument '$1' (see run.sh --help)" ;;
    esac
done

[ -x "$venv/bin/uvicorn" ] || die "no venv at $venv; run Benchmarks/python-baseline/setup.sh first"

if [ -n "$seed" ]; then
    [ -n "${DATABASE_OWNER_URL:-}" ] || die "--seed needs DATABASE_OWNER_URL (the owner role, to migrate and insert)"
    config=${config:-$home/fixture.json}
    "$venv/bin/python" "$here/seed.py" --owner-url "$DATABASE_OWNER_URL" --agents "$seed" --out "$config" \
        ${TOKEN:+--token "$TOKEN"}
fi
if [ -n "$config" ]; then
    [ -f "$config" ] || die "no config file $config"
fi

# The file, overlaid with the environment, as the variables app.py reads.
settings=$(PYBASE_CONFIG_FILE="$config" "$venv/bin/python" - <<'PY'
import json, os, shlex, sys, uuid

file = {}
if os.environ.get("PYBASE_CONFIG_FILE"):
    with open(os.environ["PYBASE_CONFIG_FILE"], encoding="utf-8") as f:
        file = json.load(f)

def setting(env, key):
    return os.environ.get(env) or file.get(key) or ""

tokens = dict(file.get("tokens") or {})
if file.get("token") and file.get("workspace_id"):
    tokens[file["token"]] = file["workspace_id"]
tokens.update(json.loads(os.environ.get("TOKENS") or "{}"))
if os.environ.get("TOKEN") and os.environ.get("WORKSPACE"):
    tokens[os.environ["TOKEN"]] = os.environ["WORKSPACE"]
for token, workspace in tokens.items():
    try:
        uuid.UUID(workspace)
    except ValueError:
        sys.exit(f"error: token {token[:8]}… names workspace '{workspace}', which is not a UUID")
out = {"DATABASE_URL": setting("DATABASE_URL", "database_url"),
       "REDIS_URL": setting("REDIS_URL", "redis_url"),
       "PYBASE_TOKENS": json.dumps(tokens) if tokens else ""}
missing = [k for k, v in out.items() if not v and not (k == "REDIS_URL" and os.environ.get("PYBASE_CACHE_TTL") == "0")]
if missing:
    sys.exit("error: missing " + ", ".join({"PYBASE_TOKENS": "TOKEN+WORKSPACE (or TOKENS, or a config file)"}.get(m, m) for m in missing)
             + " (see run.sh --help)")
for key, value in out.items():
    print(f"export {key}={shlex.quote(value)}")
print(f"# {len(tokens)} token(s), workspace(s) {', '.join(sorted(set(tokens.values())))}")
PY
)
eval "$settings"
if [ -z "${PYBASE_CURSOR_KEY:-}" ]; then
    PYBASE_CURSOR_KEY=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
fi
export PYBASE_CURSOR_KEY

printf '==> Python baseline on http://127.0.0.1:%s (%s workers, %s Postgres connections each, cache TTL %s s, pool reset %s)\n' \
    "$port" "$workers" "${PYBASE_PG_POOL_SIZE:-8}" "${PYBASE_CACHE_TTL:-60}" "${PYBASE_PG_RESET:-on}" >&2
printf '    %s\n' "$(grep '^#' <<<"$settings" | sed 's/^# //')" >&2
cd "$here"
exec "$venv/bin/uvicorn" app:app --app-dir "$here" --workers "$workers" --host 127.0.0.1 --port "$port" \
    --no-access-log --log-level warning --loop uvloop --http httptools
