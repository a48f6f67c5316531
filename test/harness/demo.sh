#!/usr/bin/env bash
# `make demo`: a throwaway PostgreSQL 15 with pg_cron and kant, a simulated month
# of HEGEL (Glue) and SOCRATES (Composer) ingested through kant, and what kant shows.
# KANT_DEMO_SHELL=1 make demo   leaves you in psql at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec pg_virtualenv -v 15 \
	-o "shared_preload_libraries=pg_cron" -o "cron.database_name=postgres" \
	bash -c '
		set -euo pipefail
		psql -q -c "CREATE EXTENSION pg_cron" >/dev/null
		echo "== PostgreSQL $(psql -Atc "SHOW server_version"), pg_cron $(psql -Atc "SELECT extversion FROM pg_extension WHERE extname = '\''pg_cron'\''"), kant $(psql -Atc "SELECT default_version FROM pg_available_extensions WHERE name = '\''kant'\''")"
		echo
		/usr/bin/python3 examples/demo/load.py
		echo
		psql -X -q -f examples/demo/summary.sql
		echo
		psql -X -q -f examples/demo/slo.sql
		if [ -n "${KANT_DEMO_SHELL:-}" ]; then psql -X; fi
	'
