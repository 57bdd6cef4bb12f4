#!/bin/sh
# stack.sh — the private local PostgreSQL cluster of ubpipe: start|stop|status|env|psql [DB].
#
#   sh scripts/stack.sh start            init (first time), start, create databases and source schema
#   sh scripts/stack.sh stop             stop (fast shutdown)
#   sh scripts/stack.sh crash            stop as a crash would (immediate: no checkpoint; for tests)
#   sh scripts/stack.sh status           exit 0 when running, 3 when not
#   sh scripts/stack.sh env              export UBPIPE_CONN_SOURCE=… / UBPIPE_CONN_WAREHOUSE=… lines
#   sh scripts/stack.sh psql [DB] [ARGS] psql on DB (ubpipe_source, ubpipe_warehouse, source, warehouse)
#
# State: $UBPIPE_HOME, else $PWD/.ubpipe.  The cluster's data directory is STATE/pg and is also its
# unix socket directory (mode 0700); listen_addresses is empty, so there is no TCP at all and 5432 only
# names the socket file.  Role ubpipe, trust authentication (only the owner can reach the socket).
# No system service, no fixed TCP port, nothing outside STATE is touched.  When run as root the server
# runs as the `postgres` system user (or a system user `ubpipe`, created if needed), since initdb and
# postgres refuse to run as root.  UBPIPE_PG_BINDIR overrides the binaries' directory.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=${UBPIPE_HOME:-$PWD/.ubpipe}
case $STATE in
/*) ;;
*) STATE=$PWD/$STATE ;;
esac
STATE=${STATE%/}
PGD=$STATE/pg
PORT=5432
SOCK=$PGD/.s.PGSQL.$PORT
DATABASES="ubpipe_source ubpipe_warehouse"

die() {
	printf "stack: %s\n" "$*" >&2
	exit 1
}

# ---- where things are ------------------------------------------------------

# BIN: the directory of initdb/pg_ctl/postgres/psql.  An existing cluster needs its own major version.
find_bindir() {
	if [ -n "${UBPIPE_PG_BINDIR:-}" ]; then
		BIN=$UBPIPE_PG_BINDIR
		[ -x "$BIN/pg_ctl" ] || die "no pg_ctl in UBPIPE_PG_BINDIR '$BIN'"
		return 0
	fi
	if [ -f "$PGD/PG_VERSION" ]; then
		v=$(cat "$PGD/PG_VERSION")
		BIN=/usr/lib/postgresql/$v/bin
		[ -x "$BIN/pg_ctl" ] && return 0
		die "the cluster in '$PGD' is PostgreSQL $v but '$BIN/pg_ctl' is missing (install postgresql-$v)"
	fi
	BIN=
	best=0
	for d in /usr/lib/postgresql/*/bin; do
		if [ ! -x "$d/initdb" ] || [ ! -x "$d/pg_ctl" ] || [ ! -x "$d/postgres" ]; then
			continue
		fi
		v=${d#/usr/lib/postgresql/}
		v=${v%/bin}
		case $v in
		*[!0-9]*) continue ;;
		esac
		if [ "$v" -gt "$best" ]; then
			best=$v
			BIN=$d
		fi
	done
	if [ -z "$BIN" ]; then
		if [ "$(id -u)" = 0 ]; then
			die "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin; install them: apt-get install -y postgresql"
		fi
		die "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin; install them: sudo apt-get install -y postgresql"
	fi
}

# RUNAS: the user that owns and runs the cluster ("" = the current user).
pick_user() {
	RUNAS=
	[ "$(id -u)" = 0 ] || return 0
	if [ -d "$PGD" ]; then
		RUNAS=$(stat -c %U "$PGD")
		[ "$RUNAS" != root ] || die "'$PGD' is owned by root; PostgreSQL cannot run as root (remove it or chown it to postgres)"
		return 0
	fi
	if id postgres >/dev/null 2>&1; then
		RUNAS=postgres
	else
		if ! id ubpipe >/dev/null 2>&1; then
			useradd -r -M -d /nonexistent -s /usr/sbin/nologin ubpipe ||
				die "cannot create the system user 'ubpipe' to run PostgreSQL"
		fi
		RUNAS=ubpipe
	fi
}

# as CMD...: run CMD as the cluster's user, from /, with our lock descriptors closed (the postmaster
# must not inherit them, or it would hold the locks for its whole life).
as() {
	if [ -n "$RUNAS" ]; then
		(cd / && exec runuser -u "$RUNAS" -- "$@") 8>&- 9>&-
	else
		(cd / && exec "$@") 8>&- 9>&-
	fi
}

# conninfo DB: libpq conninfo for DB; values quoted only when they need it.
conninfo() {
	h=$PGD
	case $h in
	*[\ \'\\]*) h="'$(printf '%s' "$h" | sed "s/[\\\\']/\\\\&/g")'" ;;
	esac
	printf 'host=%s user=ubpipe dbname=%s' "$h" "$1"
}

# shell-quote one word
shq() {
	printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

check_socket_path() {
	n=${#SOCK}
	[ "$n" -le 107 ] ||
		die "socket path '$SOCK' is $n bytes, more than the 107 a unix socket allows; set UBPIPE_HOME to a shorter directory"
}

# the cluster's user must be able to reach STATE
check_reach() {
	[ -n "$RUNAS" ] || return 0
	# shellcheck disable=SC2016 # $1 is expanded by the inner shell
	if ! (cd / && runuser -u "$RUNAS" -- sh -c 'cd "$1"' sh "$STATE") 2>/dev/null; then
		die "user '$RUNAS' (which runs PostgreSQL) cannot reach '$STATE': a directory on the path is not searchable by others (chmod o+x it) or set UBPIPE_HOME elsewhere, e.g. /var/tmp/ubpipe"
	fi
}

is_running() {
	[ -f "$PGD/PG_VERSION" ] && as "$BIN/pg_ctl" -D "$PGD" status >/dev/null 2>&1
}

lock() {
	if [ ! -d "$STATE" ]; then
		mkdir -p "$STATE"
		chmod go+x "$STATE"             # the cluster's user must pass through it
	fi
	if command -v flock >/dev/null 2>&1; then
		exec 9>"$STATE/.stack.lock"
		flock -w 300 9 || die "another stack.sh has held '$STATE/.stack.lock' for 5 minutes"
	fi
}

# ---- the settings of a private batch cluster --------------------------------

write_conf() {
	q=$(printf '%s' "$PGD" | sed "s/'/''/g")
	cat >"$PGD/ubpipe.conf.tmp" <<EOF
# ubpipe.conf — written by scripts/stack.sh on every start; edits are lost.
listen_addresses = ''
port = $PORT
unix_socket_directories = '$q'
unix_socket_permissions = 0700
wal_level = minimal
max_wal_senders = 0
shared_buffers = 256MB
fsync = on
synchronous_commit = off
# (ubpipe's own sessions set synchronous_commit = on: a task journals success only for a durable commit)
logging_collector = on
log_directory = 'log'
log_filename = 'postgresql-%Y-%m-%d.log'
log_file_mode = 0600
EOF
	[ -z "$RUNAS" ] || chown "$RUNAS:" "$PGD/ubpipe.conf.tmp"
	mv "$PGD/ubpipe.conf.tmp" "$PGD/ubpipe.conf"
}

init_cluster() {
	tmp=$STATE/pg.init
	rm -rf "$tmp"                       # left by an init that was killed (we hold the lock)
	mkdir -m 700 "$tmp"
	[ -z "$RUNAS" ] || chown "$RUNAS:" "$tmp"
	if ! as "$BIN/initdb" -D "$tmp" -U ubpipe --auth=trust -E UTF8 --locale=C \
		>"$STATE/initdb.log" 2>&1; then
		tail -n 5 "$STATE/initdb.log" >&2
		die "initdb failed in '$tmp' (log: $STATE/initdb.log)"
	fi
	printf "\n# ubpipe: settings for a private batch cluster\ninclude_if_exists = 'ubpipe.conf'\n" \
		>>"$tmp/postgresql.conf"
	mv "$tmp" "$PGD"
	as mkdir -m 700 -p "$PGD/log"
}

admin_psql() { # DB ARGS...
	db=$1
	shift
	PGOPTIONS='-c client_min_messages=warning' "$BIN/psql" -X -q -v ON_ERROR_STOP=1 \
		-d "$(conninfo "$db") port=$PORT" "$@"
}

# ---- verbs -------------------------------------------------------------------

do_start() {
	t0=$(date +%s%N)
	check_socket_path
	lock
	find_bindir
	pick_user
	check_reach
	what="already running"
	if [ ! -f "$PGD/PG_VERSION" ]; then
		[ ! -e "$PGD" ] || [ -z "$(ls -A "$PGD")" ] ||
			die "'$PGD' exists but holds no cluster (no PG_VERSION); move it away"
		rmdir "$PGD" 2>/dev/null || true
		init_cluster
		what="initialised and started"
	fi
	if ! is_running; then
		[ "$what" != "already running" ] || what="started"
		write_conf
		as mkdir -m 700 -p "$PGD/log"
		if ! as "$BIN/pg_ctl" -D "$PGD" -w -t 120 -l "$PGD/log/startup.log" start >/dev/null 2>&1; then
			tail -n 5 "$PGD/log/startup.log" >&2 2>/dev/null || true
			die "PostgreSQL did not start (logs in $PGD/log)"
		fi
	fi
	[ -S "$SOCK" ] || die "PostgreSQL runs but its socket '$SOCK' is missing (logs in $PGD/log)"
	for db in $DATABASES; do
		have=$(admin_psql postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'") ||
			die "cannot query the cluster at '$PGD'"
		[ "$have" = 1 ] || admin_psql postgres -c "CREATE DATABASE $db" ||
			die "cannot create database '$db'"
	done
	admin_psql ubpipe_source -f "$ROOT/sql/source/retail.sql" ||
		die "cannot create the source schema from '$ROOT/sql/source/retail.sql'"
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
	printf '%s\n' "stack: PostgreSQL $(cat "$PGD/PG_VERSION") $what in $((ms / 1000)).$(printf '%03d' $((ms % 1000)))s (socket dir $PGD, databases $(echo "$DATABASES" | sed 's/ /, /'))"
}

do_stop() {
	lock
	if [ ! -f "$PGD/PG_VERSION" ]; then
		printf '%s\n' "stack: no cluster in '$PGD'"
		return 0
	fi
	find_bindir
	pick_user
	if ! is_running; then
		printf '%s\n' "stack: not running ($PGD)"
		return 0
	fi
	as "$BIN/pg_ctl" -D "$PGD" -m fast -w -t 120 stop >/dev/null 2>&1 ||
		die "PostgreSQL did not stop (logs in $PGD/log)"
	printf '%s\n' "stack: stopped ($PGD)"
}

# as a power cut would, short of the disk: pg_ctl -m immediate (no checkpoint, recovery on start)
do_crash() {
	lock
	[ -f "$PGD/PG_VERSION" ] || die "no cluster in '$PGD'"
	find_bindir
	pick_user
	is_running || die "not running ($PGD)"
	as "$BIN/pg_ctl" -D "$PGD" -m immediate -w -t 120 stop >/dev/null 2>&1 ||
		die "PostgreSQL did not stop (logs in $PGD/log)"
	printf '%s\n' "stack: stopped immediately ($PGD)"
}

do_status() {
	if [ ! -f "$PGD/PG_VERSION" ]; then
		printf '%s\n' "stack: not initialised ($PGD)"
		return 3
	fi
	find_bindir
	pick_user
	if is_running; then
		printf '%s\n' "stack: running, PostgreSQL $(cat "$PGD/PG_VERSION"), pid $(head -n 1 "$PGD/postmaster.pid"), socket dir $PGD"
		return 0
	fi
	printf '%s\n' "stack: not running ($PGD)"
	return 3
}

do_env() {
	printf "%s\n" "export UBPIPE_CONN_SOURCE=$(shq "$(conninfo ubpipe_source)")"
	printf "%s\n" "export UBPIPE_CONN_WAREHOUSE=$(shq "$(conninfo ubpipe_warehouse)")"
}

do_psql() {
	db=ubpipe_source
	if [ $# -gt 0 ]; then
		case $1 in
		-*) ;;
		source) db=ubpipe_source; shift ;;
		warehouse) db=ubpipe_warehouse; shift ;;
		*) db=$1; shift ;;
		esac
	fi
	find_bindir
	[ -S "$SOCK" ] || die "not running (no socket '$SOCK'); run: sh scripts/stack.sh start"
	exec "$BIN/psql" -d "$(conninfo "$db") port=$PORT" "$@"
}

cmd=${1:-}
[ $# -eq 0 ] || shift
case $cmd in
start) do_start ;;
stop) do_stop ;;
crash) do_crash ;;
status) do_status ;;
env) do_env ;;
psql) do_psql "$@" ;;
*)
	echo "usage: sh scripts/stack.sh start|stop|crash|status|env|psql [DB] [PSQL-ARGS]" >&2
	exit 2
	;;
esac
