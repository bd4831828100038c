# shellcheck shell=bash
# shellcheck disable=SC2034 # the trellis_* globals are read by the scripts that source this file
#
# Private PostgreSQL and Redis servers for Trellis development and tests.
# Sourced by scripts/dev and scripts/test; every function is idempotent.
#
#   trellis_ensure_packages                  apt-get install what is missing
#   trellis_pg_bindir                        print the newest /usr/lib/postgresql/*/bin
#   trellis_pg_start  HOME PORT PORT_VAR     start (or reuse) the cluster in HOME/pg
#   trellis_pg_setup_db DB [--recreate]      roles trellis_owner / trellis_app + database DB
#   trellis_pg_stop                          stop the cluster started by trellis_pg_start
#   trellis_redis_start HOME PORT PORT_VAR   start (or reuse) redis-server with its files in HOME/redis
#   trellis_redis_stop                       shut that Redis down
#
# After trellis_pg_start these globals describe the cluster:
#   trellis_pg_bin trellis_pg_root trellis_pg_data trellis_pg_sockdir trellis_pg_port
#   trellis_pg_superuser trellis_pg_started (1 when this shell started it, 0 when it reused one)
# After trellis_redis_start:
#   trellis_redis_dir trellis_redis_port trellis_redis_pidfile trellis_redis_started (1 or 0)

TRELLIS_OWNER_ROLE=trellis_owner
TRELLIS_APP_ROLE=trellis_app
TRELLIS_BACKUP_ROLE=trellis_backup
TRELLIS_APT_PACKAGES=(postgresql redis-server libhiredis-dev curl)

trellis_log() { printf '==> %s\n' "$*" >&2; }
trellis_note() { printf '    %s\n' "$*" >&2; }
trellis_die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

trellis_is_root() { [ "$(id -u)" -eq 0 ]; }

# Absolute path of a directory that may not exist yet.
trellis_abspath() {
    case "$1" in
        /*) printf '%s\n' "$1" ;;
        *) printf '%s/%s\n' "$(pwd -P)" "$1" ;;
    esac
}

# ---------------------------------------------------------------------------
# Packages

_trellis_pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

trellis_ensure_packages() {
    local missing=() pkg
    if ! command -v dpkg-query >/dev/null 2>&1; then
        # Not a Debian-like system: only check that the programs are there.
        command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
        [ -n "$(trellis_pg_bindir 2>/dev/null)" ] || missing+=(postgresql)
        if [ ${#missing[@]} -gt 0 ]; then
            trellis_die "missing ${missing[*]} (and the hiredis headers); install them with your package manager"
        fi
        return 0
    fi
    for pkg in "${TRELLIS_APT_PACKAGES[@]}"; do
        _trellis_pkg_installed "$pkg" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return 0
    fi
    local sudo=()
    if ! trellis_is_root; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            trellis_die "missing packages: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]}"
        fi
    fi
    trellis_log "installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    local apt_opts=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update -qq </dev/null; then
        trellis_die "apt-get update failed; cannot install ${missing[*]}"
    fi
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install -y -qq \
        --no-install-recommends "${missing[@]}" </dev/null; then
        trellis_die "apt-get install ${missing[*]} failed"
    fi
}

# ---------------------------------------------------------------------------
# Ports

# True when something listens on TCP PORT (any address).
trellis_port_busy() {
    local port=$1
    if command -v ss >/dev/null 2>&1; then
        ss -Hltn "( sport = :$port )" 2>/dev/null | grep -q .
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
    fi
}

# trellis_require_free_port PORT VAR WHAT
trellis_require_free_port() {
    local port=$1 var=$2 what=$3
    case "$port" in
        '' | *[!0-9]*) trellis_die "$var must be a port number, got '$port'" ;;
    esac
    if [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
        trellis_die "$var must be between 1 and 65535, got $port"
    fi
    if trellis_port_busy "$port"; then
        trellis_die "port $port (for $what) is already in use by another process; set $var to a free port"
    fi
}

# ---------------------------------------------------------------------------
# PostgreSQL

# Newest PostgreSQL server bin directory.
trellis_pg_bindir() {
    local dirs=() d
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ] && dirs+=("$d")
    done
    if [ ${#dirs[@]} -gt 0 ]; then
        printf '%s\n' "${dirs[@]}" | sort -V | tail -n 1
        return 0
    fi
    if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/pg_ctl" ]; then
        pg_config --bindir
        return 0
    fi
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v pg_ctl)"
        return 0
    fi
    return 1
}

# Run a command as the user that owns the cluster.
_trellis_as_pg() {
    if trellis_is_root; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

_trellis_short_hash() {
    printf '%s' "$1" | cksum | cut -d' ' -f1
}

# Make sure ROOT exists, belongs to the server's user and is reachable by it.
# Prints the directory to use (a fallback under /var/tmp when the parents of
# ROOT are not traversable by the postgres user, e.g. a checkout under /root).
_trellis_pg_prepare_root() {
    local root=$1
    if [ -L "$root" ]; then
        root=$(readlink -f "$root")
        mkdir -p "$root"
    else
        mkdir -p "$root"
    fi
    if ! trellis_is_root; then
        chmod 700 "$root"
        printf '%s\n' "$root"
        return 0
    fi
    getent passwd postgres >/dev/null 2>&1 ||
        trellis_die "user 'postgres' does not exist; is the postgresql package installed?"
    chown postgres:postgres "$root"
    chmod 700 "$root"
    if runuser -u postgres -- test -w "$root" -a -x "$root"; then
        printf '%s\n' "$root"
        return 0
    fi
    # A parent directory is not traversable by postgres: keep the cluster in
    # /var/tmp and leave a symlink behind so later runs find it.
    local alt
    alt="/var/tmp/trellis-pg-$(_trellis_short_hash "$1")"
    mkdir -p "$alt"
    chown postgres:postgres "$alt"
    chmod 700 "$alt"
    if ! rmdir "$1" 2>/dev/null; then
        trellis_die "the postgres user cannot reach $1 (a parent directory is not traversable) and it is not empty; make its parents traversable (chmod o+x) or set the home directory elsewhere"
    fi
    ln -s "$alt" "$1"
    trellis_note "postgres cannot traverse the parents of $1; the cluster lives in $alt (symlinked)"
    printf '%s\n' "$alt"
}

# Port the running cluster listens on (4th line of postmaster.pid).
_trellis_pg_running_port() {
    sed -n 4p "$trellis_pg_data/postmaster.pid" 2>/dev/null
}

_trellis_pg_is_running() {
    [ -f "$trellis_pg_data/postmaster.pid" ] &&
        _trellis_as_pg "$trellis_pg_bin/pg_ctl" -D "$trellis_pg_data" status >/dev/null 2>&1
}

# trellis_pg_start HOME PORT PORT_VAR
trellis_pg_start() {
    local home port var
    home=$(trellis_abspath "$1")
    port=$2
    var=${3:-PGPORT}

    trellis_pg_bin=$(trellis_pg_bindir) ||
        trellis_die "no PostgreSQL server found under /usr/lib/postgresql; install the postgresql package"
    if trellis_is_root; then
        trellis_pg_superuser=postgres
    else
        trellis_pg_superuser=$(id -un)
    fi
    mkdir -p "$home"
    trellis_pg_root=$(_trellis_pg_prepare_root "$home/pg")
    trellis_pg_data="$trellis_pg_root/data"
    trellis_pg_port=$port
    trellis_pg_started=0

    # Unix socket: inside the cluster directory unless the path gets too long.
    trellis_pg_sockdir="$trellis_pg_root/run"
    if [ $((${#trellis_pg_sockdir} + 20)) -ge 100 ]; then
        trellis_pg_sockdir="/tmp/trellis-pgsock-$(_trellis_short_hash "$trellis_pg_root")"
        mkdir -p "$trellis_pg_sockdir"
    else
        mkdir -p "$trellis_pg_sockdir"
    fi
    if trellis_is_root; then
        chown postgres:postgres "$trellis_pg_sockdir"
    fi
    chmod 700 "$trellis_pg_sockdir"

    if [ ! -f "$trellis_pg_data/PG_VERSION" ]; then
        trellis_log "initializing PostgreSQL cluster in $trellis_pg_data"
        if ! _trellis_as_pg "$trellis_pg_bin/initdb" -D "$trellis_pg_data" --no-sync -A trust -E UTF8 \
            --locale=C.UTF-8 -U "$trellis_pg_superuser" >"$home/initdb.log" 2>&1; then
            cat "$home/initdb.log" >&2
            trellis_die "initdb failed (log above, also in $home/initdb.log)"
        fi
    fi

    # One role, trellis_scram, must log in with SCRAM-SHA-256 (every other is trusted on
    # loopback): the pipelined client's tests prove its login against a real server.
    local hba="$trellis_pg_data/pg_hba.conf"
    if ! grep -q trellis_scram "$hba"; then
        sed -i '1i host all trellis_scram 127.0.0.1/32 scram-sha-256' "$hba"
        if _trellis_pg_is_running; then
            _trellis_as_pg "$trellis_pg_bin/pg_ctl" -D "$trellis_pg_data" reload >/dev/null || true
        fi
    fi

    # TLS, when TRELLIS_PG_TLS=on (scripts/test sets it): a self-signed certificate for
    # localhost, made once beside the cluster, and ssl=on. Clients with the default
    # sslmode=prefer then speak TLS; trellis_pg_ca_file names the certificate, which is its
    # own CA, for sslrootcert.
    local tls_options=""
    trellis_pg_ca_file=""
    if [ "${TRELLIS_PG_TLS:-off}" = on ]; then
        local cert="$trellis_pg_root/server.crt" key="$trellis_pg_root/server.key"
        if [ ! -f "$cert" ] || [ ! -f "$key" ]; then
            command -v openssl >/dev/null 2>&1 || trellis_die "TRELLIS_PG_TLS=on needs openssl (apt-get install openssl)"
            if ! openssl req -new -x509 -days 3650 -nodes -newkey rsa:2048 -subj "/CN=localhost" \
                -addext "subjectAltName=DNS:localhost" -keyout "$key" -out "$cert" >"$home/openssl.log" 2>&1; then
                cat "$home/openssl.log" >&2
                trellis_die "could not make the PostgreSQL TLS certificate (log above)"
            fi
            chmod 600 "$key"
            if trellis_is_root; then chown postgres:postgres "$cert" "$key"; fi
        fi
        tls_options="-c ssl=on -c ssl_cert_file=$cert -c ssl_key_file=$key"
        trellis_pg_ca_file=$cert
    fi

    if _trellis_pg_is_running; then
        local running_port
        running_port=$(_trellis_pg_running_port)
        local running_ssl=on
        if [ -n "$tls_options" ]; then running_ssl=$(trellis_psql postgres -Atc "SHOW ssl" 2>/dev/null || echo off); fi
        if [ "$running_port" = "$port" ] && [ "$running_ssl" = on ]; then
            trellis_log "PostgreSQL already running on 127.0.0.1:$port ($trellis_pg_data); reusing it"
            return 0
        fi
        trellis_log "PostgreSQL in $trellis_pg_data runs on port $running_port (ssl $running_ssl), restarting it on $port"
        _trellis_as_pg "$trellis_pg_bin/pg_ctl" -D "$trellis_pg_data" -m fast -w stop >/dev/null
    fi

    trellis_require_free_port "$port" "$var" "PostgreSQL"
    trellis_log "starting PostgreSQL on 127.0.0.1:$port"
    local log="$trellis_pg_root/postgres.log"
    # pg_stat_statements (from the postgresql package's contrib) when present: the request-path
    # benchmark reads it to show that a steady load re-plans nothing.
    local preload=""
    if [ -f "$trellis_pg_bin/../lib/pg_stat_statements.so" ]; then
        preload="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track_planning=on"
    fi
    if ! _trellis_as_pg "$trellis_pg_bin/pg_ctl" -D "$trellis_pg_data" -l "$log" -w -t 60 \
        -o "-p $port -k '$trellis_pg_sockdir' -c listen_addresses=127.0.0.1 -c max_connections=300 $preload $tls_options" start >/dev/null; then
        tail -n 30 "$log" >&2 || true
        trellis_die "PostgreSQL did not start on port $port (log above, full log in $log)"
    fi
    trellis_pg_started=1
}

# psql as the cluster's superuser: trellis_psql DB [psql args...]
trellis_psql() {
    local db=$1
    shift
    PGOPTIONS='-c client_min_messages=warning' "$trellis_pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$trellis_pg_port" \
        -U "$trellis_pg_superuser" -d "$db" "$@"
}

# trellis_pg_setup_db DB [--recreate]
# Roles: trellis_owner (owns the schema; migrations), trellis_app (the server; no BYPASSRLS),
# trellis_backup (`trellis backup`: reads everything, BYPASSRLS, writes nothing).
trellis_pg_setup_db() {
    local db=$1 recreate=${2:-}
    case "$db" in
        '' | *[!a-z0-9_]*) trellis_die "database name must match [a-z0-9_]+, got '$db'" ;;
    esac
    trellis_log "preparing roles $TRELLIS_OWNER_ROLE / $TRELLIS_APP_ROLE / $TRELLIS_BACKUP_ROLE and database $db"
    trellis_psql postgres <<'SQL' >/dev/null || trellis_die "could not create the roles"
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'trellis_owner') THEN
        CREATE ROLE trellis_owner LOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'trellis_app') THEN
        CREATE ROLE trellis_app LOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'trellis_backup') THEN
        CREATE ROLE trellis_backup LOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'trellis_scram') THEN
        CREATE ROLE trellis_scram LOGIN;
    END IF;
END
$$;
SET password_encryption = 'scram-sha-256';
ALTER ROLE trellis_scram WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION PASSWORD 'trellis_scram';
ALTER ROLE trellis_owner WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD 'trellis_owner';
ALTER ROLE trellis_app WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION PASSWORD 'trellis_app';
ALTER ROLE trellis_backup WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE BYPASSRLS NOREPLICATION PASSWORD 'trellis_backup';
GRANT pg_read_all_data TO trellis_backup;
SQL
    if [ "$recreate" = "--recreate" ]; then
        trellis_psql postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null ||
            trellis_die "could not drop database $db"
    fi
    trellis_psql postgres -v db="$db" <<'SQL' >/dev/null || trellis_die "could not create database $db"
SELECT format('CREATE DATABASE %I OWNER trellis_owner', :'db')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SELECT format('ALTER DATABASE %I OWNER TO trellis_owner', :'db') \gexec
SQL
    trellis_psql "$db" <<'SQL' >/dev/null || trellis_die "could not set the privileges in database $db"
ALTER SCHEMA public OWNER TO trellis_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO trellis_app;
ALTER DEFAULT PRIVILEGES FOR ROLE trellis_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO trellis_app;
ALTER DEFAULT PRIVILEGES FOR ROLE trellis_owner IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO trellis_app;
SQL
}

trellis_pg_stop() {
    if [ -z "${trellis_pg_data:-}" ] || [ ! -f "$trellis_pg_data/postmaster.pid" ]; then
        return 0
    fi
    trellis_log "stopping PostgreSQL (port $trellis_pg_port)"
    _trellis_as_pg "$trellis_pg_bin/pg_ctl" -D "$trellis_pg_data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
        trellis_note "pg_ctl stop failed; see $trellis_pg_root/postgres.log"
}

# ---------------------------------------------------------------------------
# Redis

_trellis_redis_pid_alive() {
    local pid
    [ -f "$trellis_redis_pidfile" ] || return 1
    pid=$(cat "$trellis_redis_pidfile" 2>/dev/null)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
        grep -q redis "/proc/$pid/comm" 2>/dev/null
}

_trellis_redis_ping() {
    [ "$(redis-cli -h 127.0.0.1 -p "$trellis_redis_port" ping 2>/dev/null)" = "PONG" ]
}

# True when the Redis answering on our port is the one whose pid is in our pidfile.
_trellis_redis_is_ours() {
    local pid answer
    pid=$(cat "$trellis_redis_pidfile" 2>/dev/null) || return 1
    answer=$(redis-cli -h 127.0.0.1 -p "$trellis_redis_port" info server 2>/dev/null |
        tr -d '\r' | sed -n 's/^process_id://p')
    [ -n "$pid" ] && [ "$answer" = "$pid" ]
}

# trellis_redis_start HOME PORT PORT_VAR
trellis_redis_start() {
    local home port var
    home=$(trellis_abspath "$1")
    port=$2
    var=${3:-REDIS_PORT}
    command -v redis-server >/dev/null 2>&1 || trellis_die "redis-server not found; install the redis-server package"
    trellis_redis_dir="$home/redis"
    trellis_redis_port=$port
    trellis_redis_pidfile="$trellis_redis_dir/redis.pid"
    trellis_redis_started=0
    mkdir -p "$trellis_redis_dir"

    if _trellis_redis_pid_alive; then
        if _trellis_redis_is_ours; then
            trellis_log "Redis already running on 127.0.0.1:$port ($trellis_redis_dir); reusing it"
            return 0
        fi
        trellis_log "Redis from $trellis_redis_dir runs on another port, restarting it on $port"
        kill "$(cat "$trellis_redis_pidfile")" 2>/dev/null || true
        for _ in $(seq 1 50); do
            _trellis_redis_pid_alive || break
            sleep 0.1
        done
    fi

    trellis_require_free_port "$port" "$var" "Redis"
    trellis_log "starting Redis on 127.0.0.1:$port"
    rm -f "$trellis_redis_pidfile"
    if ! redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
        --dir "$trellis_redis_dir" --pidfile "$trellis_redis_pidfile" \
        --logfile "$trellis_redis_dir/redis.log" </dev/null >/dev/null; then
        tail -n 20 "$trellis_redis_dir/redis.log" >&2 2>/dev/null || true
        trellis_die "redis-server did not start on port $port"
    fi
    for _ in $(seq 1 100); do
        if _trellis_redis_ping; then
            trellis_redis_started=1
            return 0
        fi
        sleep 0.1
    done
    tail -n 20 "$trellis_redis_dir/redis.log" >&2 2>/dev/null || true
    trellis_die "Redis on port $port did not answer PING within 10 s (log in $trellis_redis_dir/redis.log)"
}

trellis_redis_stop() {
    if [ -z "${trellis_redis_pidfile:-}" ] || ! _trellis_redis_pid_alive; then
        return 0
    fi
    trellis_log "stopping Redis (port $trellis_redis_port)"
    local pid
    pid=$(cat "$trellis_redis_pidfile")
    if _trellis_redis_is_ours; then
        redis-cli -h 127.0.0.1 -p "$trellis_redis_port" shutdown nosave >/dev/null 2>&1 || true
    else
        kill "$pid" 2>/dev/null || true
    fi
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
}
