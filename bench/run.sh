#!/usr/bin/env bash
# `make bench`: benchmarks on a throwaway PostgreSQL 15 (pg_virtualenv; fsync off,
# the same for every method).  Prints ratios measured side by side in one run.
# KANT_BENCH=ingest, slo, collect, checks, quality or diff runs one of them.  pg_stat_statements
# counts what the foreign server of the diff benchmark sends (bench/diff.py).
set -euo pipefail
cd "$(dirname "$0")/.."
. test/harness/pgopts.sh
exec pg_virtualenv -v 15 "${kant_pg_opts[@]}" \
	-o "shared_buffers=1GB" -o "max_wal_size=8GB" -o "checkpoint_timeout=30min" \
	-o "autovacuum=off" -o "shared_preload_libraries=pg_cron,pg_stat_statements" \
	bash -c 'case "${KANT_BENCH:-all}" in
		ingest) /usr/bin/python3 bench/ingest.py ;;
		slo) /usr/bin/python3 bench/slo.py ;;
		collect) /usr/bin/python3 bench/collect.py ;;
		checks) /usr/bin/python3 bench/checks.py ;;
		quality) /usr/bin/python3 bench/quality.py ;;
		diff) /usr/bin/python3 bench/diff.py ;;
		*) /usr/bin/python3 bench/ingest.py && echo && /usr/bin/python3 bench/slo.py &&
			echo && /usr/bin/python3 bench/collect.py && echo && /usr/bin/python3 bench/checks.py &&
			echo && /usr/bin/python3 bench/quality.py && echo && /usr/bin/python3 bench/diff.py ;;
	esac'
