"""A fixture for the Python baseline when no Trellis benchmark made one: migrates the
database with Trellis's migrations (recording them in trellis_migrations exactly as
`trellis migrate` does, so Trellis can use the same database afterwards), creates a
workspace holding N typical agents and a bearer token for it, and writes the JSON file
run.sh reads.

    python seed.py --owner-url postgres://trellis_owner:...@127.0.0.1:5432/db --agents 1000 \
        --out fixture.json [--database-url URL] [--redis-url URL] [--token TOKEN]

The agents follow Benchmarks/TrellisBenchmarks/AgentBodies.swift (name, role, a 200-600
character system prompt with quotes, newlines and non-ASCII, model, temperature, is_active,
0-8 tags, a small config object, sometimes owner_email; no swarm_id), generated from
Python's random with a fixed seed: the same kind of rows, not the same bytes. As in the
Swift fixture they are inserted as the owner role in tenant transactions of 200 (so rows of
one batch share created_at and the id breaks the tie), and the first agent is the one the
get route reads. Nothing is written to the audit log (the Swift fixture creates through
Trellis's service, which audits).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import secrets
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import orjson

REPO = Path(__file__).resolve().parents[2]
ADVISORY_LOCK_KEY = 0x0074_7265_6C6C_6973  # Trellis's Migrator: "trellis" in ASCII
LEDGER = "trellis_migrations"

# --- migrations, as Sources/TrellisRuntime/Migrations/Migrator.swift applies them ---------


def migration_files(folder: Path) -> list[tuple[str, str, str, str]]:
    """(version, name, up SQL, checksum) of every NNNN_name.sql, by version."""
    files = []
    for path in folder.glob("*.sql"):
        stem = path.name[:-4]
        version, _, name = stem.partition("_")
        if not version.isdigit() or not name:
            continue
        contents = path.read_text(encoding="utf-8")
        up: list[str] = []
        section = "preamble"
        for line in contents.split("\n"):
            marker = line.strip().lower()
            if marker == "-- migrate:up":
                section = "up"
            elif marker == "-- migrate:down":
                section = "down"
            elif section == "up":
                up.append(line)
        up_sql = "\n".join(up)
        if up_sql.lstrip().lower().startswith("-- migrate:no-transaction") or \
                contents.lstrip().lower().startswith("-- migrate:no-transaction"):
            sys.exit(f"{path.name} must run outside a transaction; apply it with `trellis migrate`")
        files.append((version, name, up_sql, hashlib.sha256(contents.encode("utf-8")).hexdigest()))
    return sorted(files, key=lambda f: int(f[0]))


async def migrate(owner: asyncpg.Connection, folder: Path) -> int:
    await owner.execute(f"SELECT pg_advisory_lock({ADVISORY_LOCK_KEY})")
    try:
        await owner.execute(f"""CREATE TABLE IF NOT EXISTS {LEDGER} (
            version text PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now())""")
        applied = {row["version"].lstrip("0") or "0": row["checksum"]
                   for row in await owner.fetch(f"SELECT version, checksum FROM {LEDGER}")}
        count = 0
        for version, name, up_sql, checksum in migration_files(folder):
            key = version.lstrip("0") or "0"
            if key in applied:
                if applied[key] != checksum:
                    sys.exit(f"{version}_{name}.sql changed after it was applied (checksum differs)")
                continue
            async with owner.transaction():
                await owner.execute(up_sql)  # no arguments: the simple protocol, many statements at once
                await owner.execute(f"INSERT INTO {LEDGER} (version, name, checksum) VALUES ($1, $2, $3)",
                                    version, name, checksum)
            count += 1
        return count
    finally:
        await owner.execute(f"SELECT pg_advisory_unlock({ADVISORY_LOCK_KEY})")
        await owner.execute("RESET ALL")


# --- agents, after AgentBodies.swift ---------------------------------------------------------

WORDS = ["research", "assistant", "summarize", "the", "documents", "carefully", "and", "cite", "sources", "when",
         "possible", "answer", "in", "plain", "English", "avoid", "speculation", "use", "tools", "only", "if",
         "needed", "planner", "reviewer", "coder", "writes", "tests", "before", "code", "keeps", "replies", "short",
         "friendly", "précis", "naïve", "café", "data", "report", "analyst", "support", "triage", "tickets"]
TAGS = ["research", "support", "internal", "beta", "eu-west", "customer-facing", "long-context", "tools", "rag",
        "summaries", "code-review", "on-call", "experimental", "v2", "gpt-fallback", "low-latency"]
ROLES = ["Researcher", "Planner", "Code reviewer", "Support triage", "Summarizer", "Data analyst", "Writer"]
MODELS = ["claude", "gpt", "gemini"]
TOOL_NAMES = ["web_search", "code_interpreter", "retrieval", "calculator", "sql", "http_get"]


def words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(count))


def system_prompt(rng: random.Random) -> str:
    target = rng.randint(200, 600)
    text = "You are a " + words(rng, 2) + "."
    while len(text) < target:
        sentence = words(rng, rng.randint(5, 14))
        kind = rng.randrange(10)
        if kind == 0:
            text += "\n\n- " + sentence
        elif kind == 1:
            text += ' Say "' + sentence + '" when unsure.'
        elif kind == 2:
            text += " " + sentence.title() + " — then stop 🙂."
        else:
            text += " " + sentence[:1].upper() + sentence[1:] + "."
    return text[:target]


def config(rng: random.Random) -> dict:
    out: dict = {"max_tokens": rng.choice([256, 512, 1024, 2048, 4096])}
    if rng.random() < 0.5:
        out["top_p"] = rng.randint(50, 100) / 100
    tools = TOOL_NAMES[:]
    rng.shuffle(tools)
    out["tools"] = tools[:rng.randint(0, 3)]
    if rng.random() < 0.5:
        out["memory"] = {"kind": rng.choice(["window", "summary"]), "size": rng.randint(5, 50)}
    if rng.randrange(4) == 0:
        out["stop"] = ["\n\nHuman:", "</answer>"]
    out["verbose"] = rng.random() < 0.5
    return out


def agent(rng: random.Random) -> tuple:
    name = words(rng, rng.randint(1, 5))[:200]
    role = rng.choice(ROLES) if rng.randrange(5) > 0 else None
    prompt = system_prompt(rng)
    model = rng.choice(MODELS)
    temperature = rng.randint(0, 200) / 100
    is_active = rng.randrange(5) > 0
    tags = TAGS[:]
    rng.shuffle(tags)
    tags = tags[:rng.randint(0, 8)]
    cfg = config(rng)
    email = None
    if rng.randrange(4) == 0:
        email = "".join(c for c in rng.choice(WORDS) if c.isascii()).lower() + f"{rng.randint(1, 999)}@example.com"
    return (name, role, prompt, model, temperature, is_active, tags, orjson.dumps(cfg).decode(), email)


_last_v7 = [0, 0]


def uuid7() -> uuid.UUID:
    """A UUIDv7 (Python 3.11 has no uuid.uuid7): 48-bit milliseconds, 12-bit counter, random."""
    millis = time.time_ns() // 1_000_000
    if millis <= _last_v7[0]:
        millis, counter = _last_v7[0], _last_v7[1] + 1
    else:
        counter = 0
    _last_v7[:] = [millis, counter]
    value = (millis << 80) | (0x7 << 76) | ((counter & 0xFFF) << 64) | (0b10 << 62) | secrets.randbits(62)
    return uuid.UUID(int=value)


async def seed(args) -> dict:
    owner = await asyncpg.connect(args.owner_url)
    try:
        applied = await migrate(owner, Path(args.migrations))
        print(f"migrations: {applied} applied now", file=sys.stderr)
        workspace = uuid7()
        await owner.execute("INSERT INTO workspaces (id, name) VALUES ($1, $2)", workspace, args.name)
        rng = random.Random(args.seed)
        first = None
        for start in range(0, args.agents, 200):
            rows = []
            for _ in range(start, min(start + 200, args.agents)):
                agent_id = uuid7()
                first = first or agent_id
                rows.append((agent_id, workspace) + agent(rng))
            async with owner.transaction():
                await owner.execute("SELECT set_config('trellis.workspace_id', $1, true)", str(workspace))
                await owner.executemany(
                    "INSERT INTO agents (id, workspace_id, name, role, system_prompt, model, temperature, is_active, "
                    "tags, config, owner_email) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11)", rows)
    finally:
        await owner.close()
    token = args.token or "pyb_" + secrets.token_urlsafe(24)
    fixture = {"workspace_id": str(workspace), "token": token, "agent_id": str(first), "agents": args.agents}
    if args.database_url:
        fixture["database_url"] = args.database_url
    if args.redis_url:
        fixture["redis_url"] = args.redis_url
    return fixture


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--owner-url", default=os.environ.get("DATABASE_OWNER_URL"), help="owner role (DATABASE_OWNER_URL)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"), help="written into the file")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"), help="written into the file")
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--name", default="python baseline benchmark")
    parser.add_argument("--token", help="the bearer token (default: a random pyb_… token)")
    parser.add_argument("--migrations", default=str(REPO / "migrations"))
    parser.add_argument("--out", required=True, help="the fixture JSON to write")
    args = parser.parse_args()
    if not args.owner_url:
        parser.error("--owner-url (or DATABASE_OWNER_URL) is required")
    if args.agents < 1:
        parser.error("--agents must be at least 1")
    fixture = asyncio.run(seed(args))
    Path(args.out).write_bytes(orjson.dumps(fixture, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"fixture: workspace {fixture['workspace_id']} with {args.agents} agents, first agent "
          f"{fixture['agent_id']}, written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
