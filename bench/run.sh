#!/usr/bin/env bash
# `make bench`: benchmarks on a throwaway PostgreSQL 15 (pg_virtualenv; fsync off,
# the same for every method).  Prints ratios measured side by side in one run.
# KANT_BENCH=ingest, slo, collect, checks, quality or diff runs one of them.  pg_stat_statements
# counts what the foreign server of the diff benchmark sends (bench/diff.py).
# KANT_BENCH=handoff (bench/handoff.py) is not part of "all": it runs on the
# real clock, a simulated night of KANT_BENCH_NIGHT_MINUTES (default 40) and
# then up to an hour more, as long as the README's schedules take to trigger.
# pg_cron runs its jobs in background workers there (as make demo does).
set -euo pipefail
cd "$(dirname "$0")/.."
. test/harness/pgopts.sh
bench_opts=()
if [ "${KANT_BENCH:-all}" = handoff ]; then
	bench_opts=(-o "cron.use_background_workers=on" -o "max_worker_processes=16")
fi
exec pg_virtualenv -v 15 "${kant_pg_opts[@]}" "${bench_opts[@]}" \
	-o "shared_buffers=1GB" -o "max_wal_size=8GB" -o "checkpoint_timeout=30min" \
	-o "autovacuum=off" -o "shared_preload_libraries=pg_cron,pg_stat_statements" \
	bash -c 'case "${KANT_BENCH:-all}" in
		ingest) /usr/bin/python3 bench/ingest.py ;;
		slo) /usr/bin/python3 bench/slo.py ;;
		collect) /usr/bin/python3 bench/collect.py ;;
		checks) /usr/bin/python3 bench/checks.py ;;
		quality) /usr/bin/python3 bench/quality.py ;;
		diff) /usr/bin/python3 bench/diff.py ;;
		handoff) /usr/bin/python3 bench/handoff.py ;;
		*) /usr/bin/python3 bench/ingest.py && echo && /usr/bin/python3 bench/slo.py &&
			echo && /usr/bin/python3 bench/collect.py && echo && /usr/bin/python3 bench/checks.py &&
			echo && /usr/bin/python3 bench/quality.py && echo && /usr/bin/python3 bench/diff.py ;;
	esac'
