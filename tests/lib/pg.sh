# A throwaway PostgreSQL cluster for integration tests (source it).
#   pg_start   initdb + pg_ctl in a temp dir as the postgres user (the server refuses root),
#              socket and data in that dir, listening on 127.0.0.1 on a free port only, password
#              authentication (scram) for one role; creates database "wrenn".  Sets PGURL
#              (postgres://wrenn:PW@127.0.0.1:PORT/wrenn), PGDIR, PGPORT.  Returns 1 when
#              PostgreSQL is not installed (the caller skips, or fails under CI).
#   pg_restart restarts the server (fast shutdown: open connections are cut).
#   pg_stop    stops the cluster and removes the dir (idempotent; call it from the EXIT trap).
PGDIR= PGURL= PGPORT=
pg_bin() {
	local d
	for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && { echo "$d"; return 0; }; done
	command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
	return 1
}

pg_start() {
	local bin pw user=postgres
	bin=$(pg_bin) || return 1
	id "$user" >/dev/null 2>&1 || return 1
	PGDIR=$(mktemp -d /tmp/wrenn-pg.XXXXXX)
	chmod 0755 "$PGDIR"
	mkdir "$PGDIR/data" "$PGDIR/sock"
	pw=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
	printf '%s\n' "$pw" >"$PGDIR/pw"
	chown -R "$user" "$PGDIR"
	chmod 0700 "$PGDIR/data"
	chmod 0600 "$PGDIR/pw"
	PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	runuser -u "$user" -- "$bin/initdb" -D "$PGDIR/data" -U wrenn --pwfile="$PGDIR/pw" \
		-A scram-sha-256 -E UTF8 --no-locale >"$PGDIR/initdb.log" 2>&1 || {
		echo "# initdb failed: $(tail -3 "$PGDIR/initdb.log")"
		return 2
	}
	runuser -u "$user" -- "$bin/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 30 \
		-o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $PGDIR/sock -c fsync=off" start \
		>/dev/null 2>&1 || {
		echo "# pg_ctl start failed: $(tail -3 "$PGDIR/server.log")"
		return 2
	}
	PGPASSWORD=$pw "$bin/psql" -h 127.0.0.1 -p "$PGPORT" -U wrenn -d postgres -qAt \
		-c 'CREATE DATABASE wrenn' >/dev/null || return 2
	PGURL="postgres://wrenn:$pw@127.0.0.1:$PGPORT/wrenn"
	return 0
}

pg_restart() {
	local bin
	bin=$(pg_bin) || return 1
	runuser -u postgres -- "$bin/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 30 -m fast \
		-o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $PGDIR/sock -c fsync=off" restart \
		>/dev/null 2>&1
}

pg_stop() {
	[ -n "$PGDIR" ] && [ -d "$PGDIR" ] || return 0
	local bin
	bin=$(pg_bin) || true
	if [ -n "$bin" ] && [ -f "$PGDIR/data/postmaster.pid" ]; then
		runuser -u postgres -- "$bin/pg_ctl" -D "$PGDIR/data" -m immediate -w stop >/dev/null 2>&1
	fi
	rm -rf "$PGDIR"
	PGDIR=
}
