#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on loopback for the platform-backend leg.
# Usage: source .ci/postgres.sh; pg_start (sets NEXUS_PG_URL); ...; pg_stop
# Installs the distribution's server when none is on the machine.

pg_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

pg_start() {
    local bin
    bin=$(pg_bin)
    if [ -z "$bin" ]; then
        echo "PostgreSQL not found; installing it from the distribution's packages"
        if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }; then
            return 1
        fi
        bin=$(pg_bin)
        [ -n "$bin" ] || return 1
    fi
    PG_DIR=$(mktemp -d)
    local as=()
    if [ "$(id -u)" = 0 ]; then
        chown postgres "$PG_DIR"
        as=(runuser -u postgres --)
    fi
    PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
    "${as[@]}" "$bin/initdb" -D "$PG_DIR/data" -A trust -U nexus >"$PG_DIR/initdb.log" 2>&1 || return 1
    "${as[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
        -o "-h 127.0.0.1 -p $PG_PORT -k $PG_DIR" start >/dev/null || { cat "$PG_DIR/server.log"; return 1; }
    PG_AS=("${as[@]}")
    PG_CTL="$bin/pg_ctl"
    "$bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U nexus nexus_test || return 1
    export NEXUS_PG_URL="postgresql+asyncpg://nexus@127.0.0.1:$PG_PORT/nexus_test"
    echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT"
}

pg_stop() {
    if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ]; then
        "${PG_AS[@]}" "$PG_CTL" -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1 || true
        rm -rf "$PG_DIR"
    fi
}
