#!/usr/bin/env bash
# `make demo`: a throwaway PostgreSQL 15 with pg_cron and kant.  Fakes of HEGEL
# (AWS Glue) and SOCRATES (Composer's Airflow REST API) serve a simulated month
# on loopback; kant's collectors, run by pg_cron, read it; then what kant shows,
# and the alerts it would have sent that month, received by a fake Slack.
# KANT_DEMO_SHELL=1 make demo   leaves you in psql at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/harness/pgopts.sh
# the simulated month ends last night (business dates in Asia/Tokyo): its last
# business date is yesterday there, its runs what the APIs would say now
export demo_last=$(TZ=Asia/Tokyo date -d yesterday +%F)
export demo_start=$(date -d "$demo_last - 29 days" +%F)
export demo_night=$(date -d "$demo_start + 21 days" +%F)
exec pg_virtualenv -v 15 "${kant_pg_opts[@]}" \
	-o "shared_preload_libraries=pg_cron" -o "cron.database_name=postgres" \
	-o "cron.use_background_workers=on" -o "max_worker_processes=16" \
	bash -c '
		set -euo pipefail
		urls=$(mktemp -u)
		/usr/bin/python3 test/fakes/serve.py "$urls" "$demo_start" &
		fakes=$!
		trap "kill $fakes 2>/dev/null || true" EXIT
		for i in $(seq 1 50); do [ -s "$urls" ] && break; sleep 0.2; done
		read -r glue_url airflow_url slack_url aws_url key_file < "$urls"
		# the key belongs to the server'"'"'s user, mode 0600 (kant'"'"'s rule for secret files)
		chown "$(stat -c %u "$(psql -Atc "SHOW data_directory")")" "$key_file" 2>/dev/null || true
		psql -q -c "CREATE EXTENSION pg_cron" >/dev/null
		echo "== PostgreSQL $(psql -Atc "SHOW server_version"), pg_cron $(psql -Atc "SELECT extversion FROM pg_extension WHERE extname = '\''pg_cron'\''"), kant $(psql -Atc "SELECT default_version FROM pg_available_extensions WHERE name = '\''kant'\''")"
		echo "== fake Glue (HEGEL) at $glue_url, fake Airflow (SOCRATES) at $airflow_url"
		echo "== fake AWS (IMDSv2, STS) at $aws_url; SOCRATES'"'"'s Google service-account key in $key_file"
		echo
		psql -X -q -v glue_url="$glue_url" -v airflow_url="$airflow_url" -v aws_url="$aws_url" \
			-v key_dir="$(dirname "$key_file")" -v key_file="$(basename "$key_file")" -f examples/demo/collect.sql
		echo
		echo "== waiting for pg_cron to run the collectors (at the next minute)..."
		for i in $(seq 1 150); do
			done=$(psql -Atc "SELECT count(*) FROM kant.collector_health WHERE last_success_at IS NOT NULL")
			[ "$done" -ge 2 ] && break
			sleep 1
		done
		psql -X -q -f examples/demo/health.sql
		echo
		psql -X -q -f examples/demo/summary.sql
		echo
		psql -X -q -v start="$demo_start" -v last="$demo_last" -f examples/demo/slo.sql
		echo
		echo "== fake Slack incoming webhook at ${slack_url%/*}/..."
		psql -X -q -v slack_url="$slack_url" -v start="$demo_start" -v last="$demo_last" -v night="$demo_night" -f examples/demo/alerts.sql
		echo "== the fake Slack says: $(/usr/bin/python3 -c "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())" "${slack_url%%/services/*}/received")"
		echo
		psql -X -q -v start="$demo_start" -v last="$demo_last" -f examples/demo/quality.sql
		echo
		psql -X -q -v glue_url="$glue_url" -v airflow_url="$airflow_url" -f examples/demo/tonight.sql
		if [ -n "${KANT_DEMO_SHELL:-}" ]; then psql -X; fi
	'
