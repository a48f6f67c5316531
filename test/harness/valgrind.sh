#!/usr/bin/env bash
# `make valgrind`: the pg_regress suites, the collection, Slack, gate and recovery tests (libcurl in the
# backend) against a PostgreSQL 15 whose every
# backend runs under valgrind memcheck.  Fails if any valgrind error has a kant
# frame; lists the server's own (known: uninitialised WAL padding) separately.
# Debian's server is not built with USE_VALGRIND, so palloc chunk bounds are
# invisible to memcheck: this catches invalid reads/writes outside palloc'd
# blocks and uninitialised values that reach syscalls or branches.  JIT is off:
# loading LLVM under memcheck only shows glibc dlopen false positives.
# KANT_VALGRIND_SCRIPTS="test/scripts/x.py ..." runs only those scripts (and
# no pg_regress suite): a quick check of one part.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)"; exit 1; }
bindir=$(pg_config --bindir)
work=$(mktemp -d /tmp/kant-valgrind.XXXXXX)
chmod 755 "$work"
run=()
if [ "$(id -u)" -eq 0 ]; then chown postgres "$work"; run=(runuser -u postgres --); fi
. test/harness/pgopts.sh
vg_opts=()
for o in "${kant_pg_opts[@]}"; do [ "$o" = -o ] && vg_opts+=(-c) || vg_opts+=("$o"); done
port=5432	# only a unix socket in $work: no clash with other servers
"${run[@]}" "$bindir/initdb" -D "$work/data" -U postgres --no-sync >/dev/null
"${run[@]}" bash -c "cd $work && env ${kant_server_env[*]@Q} valgrind --quiet --trace-children=yes --log-file=$work/vg.%p.log \
	--leak-check=no --error-limit=no --num-callers=40 \
	$bindir/postgres -D $work/data -p $port -k $work -c listen_addresses= \
	-c autovacuum=off -c fsync=off -c jit=off \
	-c shared_preload_libraries=pg_cron -c cron.database_name=postgres -c cron.use_background_workers=on -c max_worker_processes=16 ${vg_opts[*]@Q} \
	>$work/postmaster.log 2>&1 &"
for i in $(seq 1 60); do
	"$bindir/pg_isready" -h "$work" -p "$port" -q && break
	sleep 2
done
"$bindir/pg_isready" -h "$work" -p "$port" -q || { cat "$work/postmaster.log"; exit 1; }
trap '"${run[@]}" "$bindir/pg_ctl" -D "$work/data" stop -m immediate >/dev/null 2>&1 || true' EXIT
pg_regress=$(dirname "$(pg_config --pgxs)")/../../src/test/regress/pg_regress
scripts="test/scripts/http_layer.py test/scripts/glue_collector.py test/scripts/airflow_collector.py
	test/scripts/collector_replies.py test/scripts/credentials.py test/scripts/slack_delivery.py
	test/scripts/gates.py test/scripts/recovery.py test/scripts/airflow_recovery.py test/scripts/glue_data_quality.py
	test/scripts/quality_tools.py test/scripts/measure_timeout.py"
if [ -z "${KANT_VALGRIND_SCRIPTS:-}" ]; then
	tests=$(ls test/sql/*.sql | xargs -n1 basename | sed 's/\.sql$//')
	PGHOST=$work PGPORT=$port PGUSER=postgres "$pg_regress" --inputdir=test --outputdir=. \
		--load-extension=kant --dbname=kant_regress $tests
else
	scripts=$KANT_VALGRIND_SCRIPTS
fi
# the collection tests (libcurl in the backend), with time limits stretched
for f in $scripts; do
	PGHOST=$work PGPORT=$port PGUSER=postgres KANT_TIME_FACTOR=20 KANT_SERVER_LOG=$work/postmaster.log \
		/usr/bin/python3 "$f" || true
done
"${run[@]}" "$bindir/pg_ctl" -D "$work/data" stop -m fast >/dev/null
sleep 2
ours=$(awk '/^==[0-9]+== [A-Z]/{e=$0} /kant\.so/{if (e) {print e; e=""}}' "$work"/vg.*.log | wc -l)
echo "valgrind errors with a kant frame: $ours"
echo "valgrind errors in the server itself (not kant):"
grep -h "^==[0-9]*== [A-Z][a-z]" "$work"/vg.*.log | sed 's/^==[0-9]*== //' | sort | uniq -c || true
[ "$ours" -eq 0 ]
