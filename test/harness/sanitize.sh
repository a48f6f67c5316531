#!/usr/bin/env bash
# `make sanitize`: kant.so built with ASan and UBSan, and the whole suite
# (test/harness/suites.sh) against a PostgreSQL 15 that loads it.
#
# The build happens in a scratch copy of the tree (its objects must never
# reach a normal build) and installs into KANT_DESTDIR, default
# /tmp/kant-asan, never into the server's directories: a kant.so that needs
# libasan would break every server that loads it without the preload.
#
# The server is started by hand, as valgrind.sh does, because pg_ctlcluster
# (pg_virtualenv) does not pass LD_PRELOAD through: the postmaster gets gcc's
# libasan preloaded (the postgres binary is not instrumented), and backends
# inherit it by fork.  test/harness/asan_first.c comes next: ASan must start
# before libgpg-error's constructor calls bindtextdomain, or postgres hangs
# at start; and gcc's UBSan runtime (preloaded last) would read its options
# from /proc/self/environ, which postgres overwrites with its process title,
# so the shim keeps them.  ASan options for PostgreSQL: detect_leaks=0
# (memory is freed by context reset, and the postmaster never frees its own),
# detect_stack_use_after_return=0 (fake stacks confuse max_stack_depth), a
# small quarantine (many backends).  JIT is off (no instrumented bitcode).
# Reports go to the server's stderr, postmaster.log in the work directory
# (gcc's UBSan ignores log_path), and are cut out of it into reports/.
#
# Debian's server is not built with USE_VALGRIND-style palloc hooks, so ASan
# sees palloc'd blocks, not chunks: an overrun inside a memory context block
# is invisible; reads and writes past malloc'd blocks, use after free of a
# block, stack and global overflows, and every UBSan check are seen.
#
# Arguments, if any, are a command to run instead of the suite (a probe).
# Fails when any report has a frame in kant's code; reports that do not are
# listed separately.  The suite's own "N passed, N failed" is shown too:
# tests that measure memory or time may fail under ASan without a report.
set -euo pipefail
cd "$(dirname "$0")/../.."
bindir=$(pg_config --bindir)
libasan=$(gcc -print-file-name=libasan.so)
libubsan=$(gcc -print-file-name=libubsan.so)
[ -e "$libasan" ] && [ -e "$libubsan" ] ||
	{ echo "sanitize: gcc's libasan or libubsan is missing (apt-get install gcc)"; exit 1; }
export KANT_DESTDIR=${KANT_DESTDIR:-/tmp/kant-asan}
mkdir -p "$KANT_DESTDIR"

work=$(mktemp -d /tmp/kant-sanitize.XXXXXX)
chmod 755 "$work"
echo "sanitize: work directory $work"

# 1. build and install from a scratch copy
# -fno-wrapv: PostgreSQL builds with -fwrapv, under which UBSan does not
# look at signed overflow (attempt + 1 of issue 11)
san="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -fno-wrapv"
build=$work/build
mkdir -p "$build"
cp -r Makefile kant.control src sql "$build"/
rm -f "$build"/src/*.o "$build"/src/*.bc "$build"/*.so
make -C "$build" -j2 with_llvm=no COPT="$san" >"$work/build.log" 2>&1 ||
	{ tail -30 "$work/build.log"; exit 1; }
make -C "$build" install with_llvm=no COPT="$san" DESTDIR="$(cd "$KANT_DESTDIR" && pwd)" \
	>>"$work/build.log" 2>&1 || { tail -30 "$work/build.log"; exit 1; }
echo "sanitize: kant.so with $san installed into $KANT_DESTDIR"

# 2. a server that preloads libasan
gcc -Wall -Wextra -Werror -O2 -shared -fPIC -o "$work/asan_first.so" test/harness/asan_first.c -ldl
run=()
reports=$work/reports
mkdir -p "$reports"
if [ "$(id -u)" -eq 0 ]; then chown postgres "$work" "$reports"; run=(runuser -u postgres --); fi
. test/harness/pgopts.sh
pg_opts=()
for o in "${kant_pg_opts[@]}"; do [ "$o" = -o ] && pg_opts+=(-c) || pg_opts+=("$o"); done
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${run[@]}" "$bindir/initdb" -D "$work/data" -U postgres --auth=trust --no-sync >/dev/null
asan_opts="detect_leaks=0:detect_stack_use_after_return=0:quarantine_size_mb=16:halt_on_error=1"
ubsan_opts="print_stacktrace=1:halt_on_error=1"
"${run[@]}" env "${kant_server_env[@]}" LD_PRELOAD="$libasan:$work/asan_first.so:$libubsan" \
	ASAN_OPTIONS="$asan_opts" UBSAN_OPTIONS="$ubsan_opts" \
	"$bindir/postgres" -D "$work/data" -p "$port" -k "$work" -c listen_addresses=localhost \
	-c fsync=off -c jit=off -c shared_preload_libraries=pg_cron -c cron.database_name=postgres -c cron.use_background_workers=on -c max_worker_processes=16 \
	-c max_locks_per_transaction=256 "${pg_opts[@]}" >"$work/postmaster.log" 2>&1 &
pm=$!
stop() {	# the postmaster we started, and only it
	"${run[@]}" "$bindir/pg_ctl" -D "$work/data" stop -m "$1" >/dev/null 2>&1 ||
		kill $(pgrep -P "$pm") "$pm" 2>/dev/null || true
}
trap 'stop immediate' EXIT
for i in $(seq 1 60); do
	"$bindir/pg_isready" -h localhost -p "$port" -U postgres -q && break
	sleep 1
done
"$bindir/pg_isready" -h localhost -p "$port" -U postgres -q ||
	{ echo "sanitize: the server did not start"; cat "$work/postmaster.log"; exit 1; }

# 3. the whole suite, as pg_virtualenv would run it (TCP on localhost: JDBC
# needs it), or the command given (test/harness/sanitize.sh psql -f probe.sql)
[ $# -gt 0 ] || set -- test/harness/suites.sh
rc=0
KANT_OWN_SERVER=1 KANT_SERVER_LOG=$work/postmaster.log PGHOST=localhost PGPORT=$port PGUSER=postgres PGDATABASE=postgres KANT_TIME_FACTOR=3 \
	"$@" 2>&1 | tee "$work/suite.log" || rc=$?
stop fast
trap - EXIT
rm -rf "$work/data"	# gigabytes after the suite; the logs stay

# 4. the verdict: each report cut out of the server's log; ours when a frame
# is in kant.so or the report names one of kant's sources (src/x.c:line)
awk -v out="$reports/report" '
	/runtime error:|==[0-9]+==ERROR: [A-Za-z]+Sanitizer/ { n++; f = sprintf("%s.%03d", out, n); on = 1 }
	/^20[0-9][0-9]-[0-9][0-9]-[0-9][0-9] / { on = 0 }
	on { print > f }' "$work/postmaster.log"
kant_frame="kant\.so|(^|[ /])src/[a-z_]+\.c:"
ours=0
theirs=0
for f in "$reports"/*; do
	[ -e "$f" ] || continue
	if grep -qE "$kant_frame" "$f"; then
		ours=$((ours + 1))
		echo "== sanitizer report with a kant frame: $f"
		head -40 "$f"
	else
		theirs=$((theirs + 1))
	fi
done
echo
echo "sanitize: $1: $(grep -E '^[0-9]+ passed, [0-9]+ failed' "$work/suite.log" | tail -1) (exit $rc)"
echo "sanitize: backends that died: $(grep -cE 'process \(PID [0-9]+\) (was terminated by signal|exited with exit code [1-9])' "$work/postmaster.log" || true)"
echo "sanitize: reports with a kant frame: $ours"
echo "sanitize: reports without one (server, libraries): $theirs"
for f in "$reports"/*; do
	[ -e "$f" ] || continue
	grep -qE "$kant_frame" "$f" && continue
	echo "  $f: $(grep -m1 -E 'ERROR: AddressSanitizer|runtime error' "$f")"
done
echo "sanitize: reports and logs are in $work"
[ "$ours" -eq 0 ]
