#!/usr/bin/env bash
#
# Benchmarks/python-baseline/setup.sh — make the Python baseline's virtual environment.
#
# Creates <repo>/.build-pybase/venv (git-ignored) with the pinned stack of requirements.txt:
# FastAPI, uvicorn[standard] (uvloop, httptools), asyncpg, redis[hiredis], orjson. Only PyPI
# is needed. Running it again reuses the venv and reinstalls nothing that is already there.
#
# Environment:
#   PYTHON        the interpreter to build the venv from (default: python3; 3.10 or newer)
#   PYBASE_HOME   where the venv lives (default: <repo>/.build-pybase)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)
home=${PYBASE_HOME:-$repo/.build-pybase}
python=${PYTHON:-python3}
venv="$home/venv"

case "${1:-}" in
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
        exit 0
        ;;
esac

command -v "$python" >/dev/null 2>&1 || { echo "error: $python not found (set PYTHON)" >&2; exit 1; }
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
    { echo "error: $python is $("$python" -V 2>&1); the baseline needs Python 3.10 or newer" >&2; exit 1; }

mkdir -p "$home"
if [ ! -x "$venv/bin/python" ]; then
    echo "==> creating $venv ($("$python" -V 2>&1))" >&2
    "$python" -m venv "$venv"
fi
echo "==> installing the pinned stack (requirements.txt)" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"

# What the baseline relies on: uvloop and httptools for uvicorn, hiredis for redis-py.
"$venv/bin/python" - <<'PY'
import importlib.metadata as md, sys
import uvloop, httptools  # noqa: F401  (uvicorn picks them up)
from redis.utils import HIREDIS_AVAILABLE
print("    Python " + sys.version.split()[0])
for name in ("fastapi", "starlette", "pydantic", "uvicorn", "uvloop", "httptools", "asyncpg", "redis", "hiredis", "orjson"):
    print(f"    {name:10} {md.version(name)}")
if not HIREDIS_AVAILABLE:
    sys.exit("error: hiredis did not install; redis-py would fall back to its pure-Python parser")
PY
echo "==> ready: $venv" >&2
