#!/usr/bin/env bash
# `make test`: every suite against a throwaway PostgreSQL 15 cluster with pg_cron
# preloaded (pg_virtualenv works as root, as CI runs it).  Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/harness/pgopts.sh
# KANT_FAKETIME moves the clock of the clients too (the server's: suites.sh)
faketime=()
if [ -n "${KANT_FAKETIME:-}" ]; then
	faketime=(faketime -f "$KANT_FAKETIME")
fi
# pg_cron runs its jobs in background workers, as in the demo: the throwaway
# cluster asks a password over TCP, which pg_cron's own connection would not
# have (test/scripts/hot_collection.py waits for pg_cron to run kant-gates)
exec "${faketime[@]}" pg_virtualenv -v 15 "${kant_pg_opts[@]}" \
	-o "shared_preload_libraries=pg_cron" \
	-o "cron.database_name=postgres" \
	-o "cron.use_background_workers=on" -o "max_worker_processes=16" \
	-o "max_locks_per_transaction=256" \
	test/harness/suites.sh "$@"
