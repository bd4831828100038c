"""The Python baseline of issue 8: the same three reads as Trellis, written the way a
speed-conscious FastAPI team writes them.

Stack: FastAPI on uvicorn (uvloop + httptools, several worker processes), asyncpg for
Postgres, redis-py's asyncio client (hiredis parser) for Redis, orjson for JSON.

Routes
  GET /hello              {"status":"ok"}, no I/O.
  GET /v1/agents/{id}     the agent, cache-aside through Redis: key agent:{workspace}:{id},
                          TTL PYBASE_CACHE_TTL seconds (60). A hit returns the cached bytes
                          without touching Postgres; a miss reads Postgres, then sets the key.
  GET /v1/agents          a keyset page (limit 1-100, default 20; cursor), newest first
                          (created_at DESC, id DESC), from Postgres every time.

Authentication: `Authorization: Bearer <token>`, looked up in a dict loaded at start
(token -> workspace id). Cheaper than Trellis's API-key check (no hashing, no scopes).

Row-level security: the app connects as the server role (trellis_app), whose reads of
`agents` are filtered by the FORCEd policy `workspace_id = current_setting('trellis.workspace_id')`.
Each request runs its query in a transaction that first does
`SELECT set_config('trellis.workspace_id', $1, true)` (transaction-local), as a careful app
does: BEGIN, set_config, SELECT, COMMIT.

Configuration (environment; run.sh sets it from its arguments or a JSON file):
  DATABASE_URL          the server role's URL (required)
  REDIS_URL             redis://host:port (required unless PYBASE_CACHE_TTL=0)
  PYBASE_TOKENS         JSON object {"<token>": "<workspace uuid>", ...} (required)
  PYBASE_CURSOR_KEY     hex key that signs list cursors; every worker must share it (required)
  PYBASE_PG_POOL_SIZE   Postgres connections per worker process (8)
  PYBASE_CACHE_TTL      seconds an agent stays in Redis; 0 turns the cache off (60)
  PYBASE_PG_PLAN_CACHE_MODE  optional plan_cache_mode for the connections (Postgres's default when unset)
  PYBASE_PG_RESET       on (default): asyncpg's pool resets every connection it takes back with
                        one more round trip (pg_advisory_unlock_all, CLOSE ALL, UNLISTEN *,
                        RESET ALL); off: skip it (safe here: the only setting is transaction-local)
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import hashlib
import hmac
import os
import uuid

import asyncpg
import orjson
import redis.asyncio as redis_asyncio
from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer


# --- JSON -----------------------------------------------------------------------------

def dumps(content) -> bytes:
    # asyncpg returns its own uuid.UUID subclass, which orjson does not take natively: str() it.
    # OPT_UTC_Z writes UTC timestamps with "Z", as Trellis does.
    return orjson.dumps(content, default=str, option=orjson.OPT_UTC_Z)


class ORJSONResponse(JSONResponse):
    """fastapi.responses.ORJSONResponse, rendering with the options above.

    FastAPI 0.165 marks its own ORJSONResponse deprecated (every instantiation warns); this
    is the same five lines without the warning. Handlers return it directly, which skips
    FastAPI's jsonable_encoder pass, as the FastAPI docs advise for speed."""

    media_type = "application/json"

    def render(self, content) -> bytes:
        return dumps(content)


def problem(status: int, title: str, detail: str) -> Response:
    body = dumps({"type": "about:blank", "title": title, "status": status, "detail": detail})
    return Response(body, status_code=status, media_type="application/problem+json")


# --- Configuration ----------------------------------------------------------------------

def _required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise RuntimeError(f"{name} is not set (see Benchmarks/python-baseline/run.sh)")
    return value


DATABASE_URL = _required("DATABASE_URL")
CACHE_TTL = int(os.environ.get("PYBASE_CACHE_TTL", "60"))
REDIS_URL = os.environ.get("REDIS_URL", "") if CACHE_TTL > 0 else ""
if CACHE_TTL > 0 and not REDIS_URL:
    raise RuntimeError("REDIS_URL is not set (or set PYBASE_CACHE_TTL=0 to run without the cache)")
POOL_SIZE = int(os.environ.get("PYBASE_PG_POOL_SIZE", "8"))
PLAN_CACHE_MODE = os.environ.get("PYBASE_PG_PLAN_CACHE_MODE", "")
POOL_RESET = os.environ.get("PYBASE_PG_RESET", "on")
if POOL_RESET not in ("on", "off"):
    raise RuntimeError("PYBASE_PG_RESET must be on or off")
CURSOR_KEY = bytes.fromhex(_required("PYBASE_CURSOR_KEY"))

# token -> (workspace id as text for set_config and cache keys, as UUID for the queries)
TOKENS: dict[str, tuple[str, uuid.UUID]] = {}
for _token, _workspace in orjson.loads(_required("PYBASE_TOKENS")).items():
    _id = uuid.UUID(_workspace)
    TOKENS[_token] = (str(_id), _id)
if not TOKENS:
    raise RuntimeError("PYBASE_TOKENS holds no token")


# --- SQL --------------------------------------------------------------------------------

# Trellis's column order, which is also the order of its JSON keys.
COLUMNS = (
    "id, workspace_id, created_at, updated_at, version, name, role, system_prompt, model, "
    "temperature, is_active, swarm_id, tags, config, owner_email"
)
SET_WORKSPACE = "SELECT set_config('trellis.workspace_id', $1, true)"
GET_AGENT = f"SELECT {COLUMNS} FROM agents WHERE workspace_id = $1 AND id = $2"
MAX_PAGE = 100


def list_sql(limit: int, after_cursor: bool) -> str:
    # The limit is written into the statement (limit + 1 rows: the extra one says whether a
    # next page exists), as Trellis does; asyncpg prepares and caches each shape per connection.
    keyset = " AND (created_at, id) < ($2, $3)" if after_cursor else ""
    return (f"SELECT {COLUMNS} FROM agents WHERE workspace_id = $1{keyset} "
            f"ORDER BY created_at DESC, id DESC LIMIT {limit + 1}")


LIST_SQL = {(limit, after): list_sql(limit, after) for limit in range(1, MAX_PAGE + 1) for after in (False, True)}


# --- Cursors: base64url(JSON).base64url(HMAC-SHA256(JSON)), like Trellis's -------------

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_cursor(created_at: datetime.datetime, agent_id) -> str:
    payload = dumps({"v": created_at, "i": agent_id})
    return _b64(payload) + "." + _b64(hmac.new(CURSOR_KEY, payload, hashlib.sha256).digest())


def decode_cursor(text: str) -> tuple[datetime.datetime, uuid.UUID] | None:
    try:
        payload_text, tag_text = text.split(".")
        payload, tag = _unb64(payload_text), _unb64(tag_text)
        if not hmac.compare_digest(tag, hmac.new(CURSOR_KEY, payload, hashlib.sha256).digest()):
            return None
        fields = orjson.loads(payload)
        return datetime.datetime.fromisoformat(fields["v"].replace("Z", "+00:00")), uuid.UUID(fields["i"])
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error, orjson.JSONDecodeError):
        return None


# --- Application ------------------------------------------------------------------------

async def _init_connection(connection: asyncpg.Connection) -> None:
    # config is jsonb: decoded into Python objects (and written back out by orjson).
    await connection.set_type_codec("jsonb", schema="pg_catalog", encoder=lambda v: orjson.dumps(v).decode(),
                                    decoder=orjson.loads, format="text")


async def _no_reset(_connection: asyncpg.Connection) -> None:
    # Replaces Connection.reset()'s query; the pool still rolls back a transaction left open.
    return None


class State:
    pool: asyncpg.Pool
    redis: redis_asyncio.Redis | None = None


state = State()


@contextlib.asynccontextmanager
async def lifespan(_app: FastAPI):
    settings = {"application_name": "trellis-python-baseline"}
    if PLAN_CACHE_MODE:
        settings["plan_cache_mode"] = PLAN_CACHE_MODE
    state.pool = await asyncpg.create_pool(
        DATABASE_URL, min_size=POOL_SIZE, max_size=POOL_SIZE, init=_init_connection, server_settings=settings,
        reset=_no_reset if POOL_RESET == "off" else None)
    if REDIS_URL:
        state.redis = redis_asyncio.Redis.from_url(REDIS_URL)
        await state.redis.ping()
    try:
        yield
    finally:
        if state.redis is not None:
            await state.redis.aclose()
        await state.pool.close()


app = FastAPI(title="Trellis Python baseline", lifespan=lifespan, default_response_class=ORJSONResponse,
              docs_url=None, redoc_url=None, openapi_url=None)

bearer = HTTPBearer(auto_error=False)


async def workspace_of(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> tuple[str, uuid.UUID]:
    workspace = TOKENS.get(credentials.credentials) if credentials is not None else None
    if workspace is None:
        raise HTTPException(status_code=401, detail="Missing or unknown bearer token",
                            headers={"WWW-Authenticate": "Bearer"})
    return workspace


@app.get("/hello")
async def hello():
    return ORJSONResponse({"status": "ok"})


@app.get("/v1/agents/{agent_id}")
async def get_agent(agent_id: uuid.UUID, workspace: tuple[str, uuid.UUID] = Depends(workspace_of)):
    workspace_text, workspace_id = workspace
    cache = state.redis
    key = f"agent:{workspace_text}:{agent_id}"
    if cache is not None:
        cached = await cache.get(key)
        if cached is not None:
            return Response(cached, media_type="application/json")
    async with state.pool.acquire() as connection:
        async with connection.transaction():
            await connection.execute(SET_WORKSPACE, workspace_text)
            row = await connection.fetchrow(GET_AGENT, workspace_id, agent_id)
    if row is None:
        return problem(404, "Not Found", f"No agent with id {agent_id}")
    body = dumps(dict(row))
    if cache is not None:
        await cache.set(key, body, ex=CACHE_TTL)
    return Response(body, media_type="application/json")


@app.get("/v1/agents")
async def list_agents(limit: int = Query(20, ge=1, le=MAX_PAGE), cursor: str | None = None,
                      workspace: tuple[str, uuid.UUID] = Depends(workspace_of)):
    workspace_text, workspace_id = workspace
    args: tuple = (workspace_id,)
    if cursor is not None:
        after = decode_cursor(cursor)
        if after is None:
            return problem(400, "Bad Request", "cursor is not a cursor from this API")
        args += after
    async with state.pool.acquire() as connection:
        async with connection.transaction():
            await connection.execute(SET_WORKSPACE, workspace_text)
            rows = await connection.fetch(LIST_SQL[(limit, cursor is not None)], *args)
    has_more = len(rows) > limit
    data = [dict(row) for row in rows[:limit]]
    next_cursor = encode_cursor(data[-1]["created_at"], data[-1]["id"]) if has_more else None
    return ORJSONResponse({"data": data, "next_cursor": next_cursor, "has_more": has_more})
